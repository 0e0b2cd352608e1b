"""App config for accounts."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_save


class AccountsConfig(AppConfig):
    name = "app.accounts"
    label = "accounts"

    def ready(self) -> None:
        from app.accounts.models import User

        post_save.connect(_user_saved, sender=User, dispatch_uid="accounts.usercache")


def _user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """Any write of a user row through the ORM drops its cached copy, not only the services'
    (which also say so themselves). Django writes some on its own: login upgrades a weak
    password hash (check_password's setter saves ``password``), and the session's auth hash
    is made from it; a stale cached row then signed that user out at their next request."""
    from app.accounts.usercache import FIELDS, user_changed

    if update_fields is not None and not set(update_fields) & set(FIELDS):
        return  # last_login, on every login: not in the cached row
    user_changed(instance.pk)
