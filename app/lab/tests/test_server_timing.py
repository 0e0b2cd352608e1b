"""Server-Timing and the X-Lab-Strategy switch."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings

from app.lab import strategies

pytestmark = pytest.mark.django_db


def test_it_reports_app_db_and_cache_on_every_response(client: Client) -> None:
    response = client.get("/lab/hello")
    header = response["Server-Timing"]
    assert re.fullmatch(
        r"app;dur=\d+\.\d, cpu;dur=\d+\.\d\d, "
        r'db;dur=\d+\.\d;desc="0 queries", cache;desc="0 hit 0 miss"',
        header,
    ), header


def test_it_counts_queries_exactly(client: Client) -> None:
    response = client.get("/api/users/nobody")  # the username lookup, and nothing else
    assert response.status_code == 404
    assert 'desc="1 queries"' in response["Server-Timing"]


def test_it_rejects_an_unknown_strategy_with_400(client: Client) -> None:
    response = client.get("/lab/hello", HTTP_X_LAB_STRATEGY="feed=turbo")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_strategy"
    assert "turbo" in response.json()["error"]["message"]


def test_it_rejects_an_unknown_path_with_400(client: Client) -> None:
    response = client.get("/lab/hello", HTTP_X_LAB_STRATEGY="nosuch=naive")
    assert response.status_code == 400


@override_settings(LAB_EXPERIMENTS=False)
def test_it_ignores_the_header_when_experiments_are_off(client: Client) -> None:
    response = client.get("/lab/hello", HTTP_X_LAB_STRATEGY="feed=turbo")
    assert response.status_code == 200


def test_it_parses_several_strategies() -> None:
    assert strategies.parse_header("feed=naive, search=indexed") == {
        "feed": "naive",
        "search": "indexed",
    }


def test_choose_defaults_to_the_best_strategy() -> None:
    assert strategies.choose("feed") == "cached"
    assert strategies.choose("search") == "indexed"
