"""The shared core as a Django app: it owns the outbox table of deferred effects."""

from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "app.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from app.core import degrade, outbox

        # A process that saw Redis fail replays what writes deferred before it uses a cache.
        degrade.breaker.on_recover(outbox.recover)
