"""App config for recs."""

from django.apps import AppConfig


class RecsConfig(AppConfig):
    name = "app.recs"
    label = "recs"
