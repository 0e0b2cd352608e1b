"""Keyset pagination's filter: the rows strictly past a (sort key, id) cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q


def keyset_past(
    cursor: Sequence[Any] | None,
    *,
    field: str = "created_at",
    id_field: str = "id",
    descending: bool = True,
) -> Q:
    """Rows after ``cursor`` = (value, id) in ``ORDER BY field, id_field`` (both descending, or
    both ascending): ``field < value OR (field = value AND id_field < id)``, ``>`` ascending.
    No cursor (the first page) filters nothing.
    """
    if cursor is None:
        return Q()
    value, row_id = cursor
    op = "lt" if descending else "gt"
    return Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"{id_field}__{op}": row_id})
