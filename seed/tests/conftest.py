"""Fixtures for the seeder tests: a tiny seed into the test database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from seed.runner import SeedResult, seed_run

Seeder = Callable[..., SeedResult]


@pytest.fixture
def seeder(transactional_db: None, tmp_path: Path) -> Seeder:
    """Run the real seeder at tiny into the test database, manifest under tmp_path."""

    def run(**kwargs: Any) -> SeedResult:
        kwargs.setdefault("scale", "tiny")
        kwargs.setdefault("seed", 42)
        kwargs.setdefault("manifest_path", tmp_path / "seed-manifest.json")
        return seed_run(progress=False, echo=lambda _: None, **kwargs)

    return run


def sql(query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return list(cursor.fetchall()) if cursor.description else []
