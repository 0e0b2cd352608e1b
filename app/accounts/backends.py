"""Authentication backend whose per-request user load is served from Redis."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from app.accounts.models import User
from app.accounts.usercache import user_get


class CachedModelBackend(ModelBackend):
    """Django's ModelBackend (passwords, permissions, is_active), with ``get_user`` reading
    the row from the user cache: a warm request authenticates with 0 SQL queries."""

    def get_user(self, user_id: Any) -> User | None:
        user = user_get(int(user_id))
        return user if user is not None and self.user_can_authenticate(user) else None
