"""Loaded with ``-p ops.pytest_plugin`` before Django: test mode, and servers up."""

from __future__ import annotations

import os
import tempfile

os.environ["LAB_TESTING"] = "1"
os.environ.setdefault("DEBUG", "1")
# Keys of a test run are prefixed apart from `make run`'s, and from other concurrent runs.
os.environ.setdefault("REDIS_KEY_PREFIX", f"test{os.environ.get('LAB_TEST_DB_SUFFIX', '')}")
# The lab's history (loadtests/history.py) is committed: runs made by tests, here or in the
# servers and runners they start, must not land in it.
os.environ.setdefault("LAB_HISTORY_DIR", tempfile.mkdtemp(prefix="lab-history-"))


def pytest_configure() -> None:
    from ops import services

    if services.embedded_enabled() and not services.is_running():
        services.start(quiet=True)
