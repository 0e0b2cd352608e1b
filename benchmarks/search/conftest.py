"""Search benchmarks run against an already seeded database, never a fresh test database."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_db_setup():
    """Use DATABASE_URL as is (seeded, documents rebuilt): no test_* database."""
