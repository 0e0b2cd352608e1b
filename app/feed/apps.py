"""App config for feed: it keeps timelines in step by subscribing to domain events."""

from django.apps import AppConfig


class FeedConfig(AppConfig):
    name = "app.feed"
    label = "feed"

    def ready(self) -> None:
        from app.feed import services

        services.subscribe_all()
