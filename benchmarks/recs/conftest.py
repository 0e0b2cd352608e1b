"""Recs benchmarks run against an already seeded database, never a fresh test database."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_db_setup():
    """Use DATABASE_URL as is (seeded `small`): pytest-django would otherwise create test_*."""


@pytest.fixture
def seeded(django_db_blocker):
    with django_db_blocker.unblock():
        yield
