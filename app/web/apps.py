"""App config for web."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "app.web"
    label = "web"
