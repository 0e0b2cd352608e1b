"""App config for notifications: it subscribes to the other apps' domain events."""

from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "app.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from app.notifications import services

        services.subscribe_all()
