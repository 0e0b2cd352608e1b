"""App config for feed."""

from django.apps import AppConfig


class FeedConfig(AppConfig):
    name = "app.feed"
    label = "feed"
