"""/healthz and /readyz, including the degraded path against servers that are not there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.db.utils import load_backend
from django.test import Client, override_settings

from app.lab import views

BROKEN = "lab_broken"


def test_it_answers_healthz_without_touching_the_database(client: Client) -> None:
    # No django_db mark: pytest-django raises on any database access, so a 200 proves none.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert 'desc="0 queries"' in response["Server-Timing"]


@pytest.mark.django_db
def test_it_reports_both_components_ready(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {"postgres", "redis"}
    for component in body["components"].values():
        assert component["status"] == "ok"
        assert isinstance(component["latency_ms"], float | int)
        assert component["latency_ms"] >= 0


@pytest.fixture
def broken_database(tmp_path: Path) -> Iterator[str]:
    """A database alias whose server socket directory holds no server: connecting really fails."""
    config: dict[str, Any] = {
        **settings.DATABASES["default"],
        "HOST": str(tmp_path / "no-postgres-here"),
        "PORT": "5432",
        # No pool: a pool retries until its timeout, a bare connect fails at once.
        "OPTIONS": {"connect_timeout": 2},
    }
    configured = connections.configure_settings(
        {"default": dict(settings.DATABASES["default"]), BROKEN: config}
    )[BROKEN]
    # Registered as a connection but not in settings: Django's test case treats such a
    # connection as created on the fly and lets it try to connect.
    connections[BROKEN] = load_backend(configured["ENGINE"]).DatabaseWrapper(configured, BROKEN)
    try:
        yield BROKEN
    finally:
        connections[BROKEN].close()
        del connections[BROKEN]


@pytest.fixture
def broken_cache(tmp_path: Path) -> Iterator[str]:
    """A cache alias pointing at a Redis unix socket that does not exist."""
    caches = {
        **settings.CACHES,
        BROKEN: {**settings.CACHES["default"], "LOCATION": f"unix://{tmp_path}/no-redis.sock"},
    }
    with override_settings(CACHES=caches):
        yield BROKEN


@pytest.mark.django_db
def test_it_is_degraded_when_redis_is_down(
    client: Client, broken_cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "READY_CACHE", broken_cache)
    response = client.get("/readyz")
    # Still ready: every path serves from PostgreSQL without Redis (docs/reliability.md).
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "down"
    assert body["components"]["redis"]["error"] == "ConnectionError"
    assert body["components"]["postgres"]["status"] == "ok"


@pytest.mark.django_db
def test_it_is_degraded_when_postgres_is_down(
    client: Client, broken_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "READY_DATABASE", broken_database)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"]["postgres"]["status"] == "down"
    assert body["components"]["postgres"]["error"] == "OperationalError"
    assert body["components"]["redis"]["status"] == "ok"


@pytest.mark.django_db
def test_it_reports_both_components_down(
    client: Client, broken_database: str, broken_cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "READY_DATABASE", broken_database)
    monkeypatch.setattr(views, "READY_CACHE", broken_cache)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body == {
        "status": "unavailable",
        "components": {
            "postgres": {
                "status": "down",
                "error": "OperationalError",
                "latency_ms": body["components"]["postgres"]["latency_ms"],
            },
            "redis": {
                "status": "down",
                "error": "ConnectionError",
                "latency_ms": body["components"]["redis"]["latency_ms"],
            },
        },
    }


def test_it_still_answers_healthz_when_both_are_down(
    client: Client, broken_database: str, broken_cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "READY_DATABASE", broken_database)
    monkeypatch.setattr(views, "READY_CACHE", broken_cache)
    assert client.get("/healthz").status_code == 200
