"""Reads about users and the follow graph."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from app.accounts.models import Follow, User


def user_can_view_content(*, viewer: User | AnonymousUser, owner: User) -> bool:
    """May ``viewer`` see ``owner``'s posts, followers and following? (one query at most)"""
    if not owner.is_private:
        return True
    if not viewer.is_authenticated:
        return False
    if viewer.pk == owner.pk:
        return True
    return Follow.objects.filter(follower_id=viewer.pk, followee_id=owner.pk).exists()
