"""App config for search: its windows follow the other apps' writes through domain events."""

from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "app.search"
    label = "search"

    def ready(self) -> None:
        from app.search import subscribers

        subscribers.subscribe_all()
