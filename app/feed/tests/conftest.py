"""Feed test fixtures: on-commit effects run on demand, uploads in a per-test folder (the
feed's test data is in app/testing/data.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the on-commit effects (fan-out, invalidation) of the writes in the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads made by these tests land in a per-test folder, never in var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
