"""``manage.py search_reindex``: recompute every Post.search_document after a bulk load."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from app.search.services import search_documents_rebuild


class Command(BaseCommand):
    help = "Recompute Post.search_document for every post (after a seed or a bulk load)."

    def handle(self, *args: Any, **options: Any) -> None:
        touched = search_documents_rebuild()
        self.stdout.write(f"rebuilt {touched} post search documents")
