"""Writes for search: history entries (record, delete one, clear) and the document rebuild."""

from __future__ import annotations

from django.db import connection, transaction

from app.accounts.models import User
from app.lab.api import bad_request, not_found
from app.search.models import SearchQuery
from app.search.normalize import search_text_parse


def _same_entry(entry: SearchQuery) -> dict[str, str | int]:
    """History shows each (kind, target type, query) once: the key a write replaces."""
    return {
        "user_id": entry.user_id,
        "kind": entry.kind,
        "target_type": entry.target_type,
        "query": entry.query,
    }


def history_record(
    *,
    user: User,
    query: str,
    kind: str = SearchQuery.Kind.QUERY,
    target_type: str | None = None,
    target_id: int | None = None,
) -> SearchQuery:
    """Store a committed search or a result click; an older identical entry is replaced, so
    history stays deduplicated and newest first without work on the read path."""
    text = search_text_parse(query).text
    if kind == SearchQuery.Kind.CLICK and (target_type is None or target_id is None):
        raise bad_request("invalid_history", "a click needs target_type and target_id")
    if kind == SearchQuery.Kind.QUERY and (target_type is not None or target_id is not None):
        raise bad_request("invalid_history", "a query entry has no target")
    entry = SearchQuery(
        user=user, query=text, kind=kind, target_type=target_type or "", target_id=target_id
    )
    with transaction.atomic():
        SearchQuery.objects.filter(**_same_entry(entry)).delete()
        entry.save()
    return entry


def history_delete(*, user: User, entry_id: int) -> None:
    """Remove one entry of ``user`` (and any hidden duplicates of it); 404 if not theirs."""
    entry = SearchQuery.objects.filter(pk=entry_id, user_id=user.pk).first()
    if entry is None:
        raise not_found("history entry")
    SearchQuery.objects.filter(**_same_entry(entry)).delete()


def history_clear(*, user: User) -> int:
    """Remove all of ``user``'s history; returns how many rows went."""
    deleted, _ = SearchQuery.objects.filter(user_id=user.pk).delete()
    return deleted


def search_documents_rebuild() -> int:
    """Recompute every Post.search_document; for after a bulk load that ran with
    ``SET LOCAL instalab.search_sync = 'off'`` or loaded tags before their names."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_documents_rebuild()")
        row = cursor.fetchone()
    return int(row[0]) if row else 0
