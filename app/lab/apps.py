"""App config for lab."""

from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "app.lab"
    label = "lab"
