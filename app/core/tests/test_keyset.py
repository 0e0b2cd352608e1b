"""The keyset filter pages through rows with tied sort keys, each row exactly once, both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Q

from app.core.keyset import keyset_past
from app.core.models import DeferredEffect

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def rows() -> list[DeferredEffect]:
    """Seven rows over three instants: ties that only the id can order."""
    made = [DeferredEffect.objects.create(effect="test", kwargs={}) for _ in range(7)]
    for index, row in enumerate(made):
        row.created_at = START + timedelta(minutes=index // 3)
        DeferredEffect.objects.filter(pk=row.pk).update(created_at=row.created_at)
    return made


def _walk(*, descending: bool, size: int) -> list[int]:
    order = ("-created_at", "-id") if descending else ("created_at", "id")
    seen: list[int] = []
    cursor = None
    while True:
        batch = list(
            DeferredEffect.objects.filter(keyset_past(cursor, descending=descending)).order_by(
                *order
            )[:size]
        )
        seen += [row.pk for row in batch]
        if len(batch) < size:
            return seen
        cursor = (batch[-1].created_at, batch[-1].pk)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_it_pages_newest_first_through_ties(rows: list[DeferredEffect], size: int) -> None:
    expected = [row.pk for row in sorted(rows, key=lambda r: (r.created_at, r.pk), reverse=True)]
    assert _walk(descending=True, size=size) == expected


@pytest.mark.parametrize("size", [1, 2, 3])
def test_it_pages_oldest_first_through_ties(rows: list[DeferredEffect], size: int) -> None:
    expected = [row.pk for row in sorted(rows, key=lambda r: (r.created_at, r.pk))]
    assert _walk(descending=False, size=size) == expected


def test_it_is_the_two_branch_filter_the_pages_always_used() -> None:
    """The same Q, so every page's SQL is unchanged: named fields, both directions."""
    assert keyset_past((START, 5)) == Q(created_at__lt=START) | Q(created_at=START, id__lt=5)
    assert keyset_past((3, 5), field="like_count", descending=False) == Q(like_count__gt=3) | Q(
        like_count=3, id__gt=5
    )
    assert keyset_past((START, 5), field="room__last_message_at", id_field="room_id") == Q(
        room__last_message_at__lt=START
    ) | Q(room__last_message_at=START, room_id__lt=5)
    assert keyset_past(None) == Q()
