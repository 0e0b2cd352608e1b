"""The connection gate: after PostgreSQL refused a connection, the next ones fail at once
(no pool wait) until one probe at a time finds it back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError, connections
from django.db.utils import load_backend

from app.core.postgres import base

ALIAS = "gate_test"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A second alias on our backend: pointed at the real server, or at a socket directory
    that holds no server (connecting really fails)."""
    real = dict(settings.DATABASES["default"])
    # No pool: a bare connect, so a refusal is immediate (the pool would retry in the back).
    options = {key: value for key, value in real["OPTIONS"].items() if key != "pool"}
    config: dict[str, Any] = {**real, "OPTIONS": options}
    configured = connections.configure_settings({"default": real, ALIAS: config})[ALIAS]
    connections[ALIAS] = load_backend(configured["ENGINE"]).DatabaseWrapper(configured, ALIAS)
    gate = base.gate_for(ALIAS)
    gate.reset()
    previous = gate.open_for
    gate.open_for = 0.2
    try:
        yield {"config": configured, "broken": str(tmp_path / "no-postgres-here")}
    finally:
        gate.open_for = previous
        gate.reset()
        connections[ALIAS].close()
        del connections[ALIAS]


def ping() -> None:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")


@pytest.mark.django_db
def test_it_fails_fast_while_postgres_is_down_and_lets_one_probe_through(
    database: dict[str, Any],
) -> None:
    options = connections[ALIAS].settings_dict["OPTIONS"]
    real_host = database["config"]["HOST"], options.get("host")
    connections[ALIAS].settings_dict["HOST"] = database["broken"]
    options.pop("host", None)
    with pytest.raises(OperationalError) as refused:
        ping()
    assert "unavailable" not in str(refused.value)  # a real connection attempt
    connections[ALIAS].close()

    with pytest.raises(OperationalError, match="unavailable; retry shortly"):
        ping()  # the gate: no attempt at all
    connections[ALIAS].close()

    connections[ALIAS].settings_dict["HOST"] = real_host[0]  # the server is back
    if real_host[1] is not None:
        options["host"] = real_host[1]
    time.sleep(0.25)
    ping()  # the probe gets through and opens the gate
    connections[ALIAS].close()
    assert base.gate_for(ALIAS).shut_until == 0.0
    ping()
