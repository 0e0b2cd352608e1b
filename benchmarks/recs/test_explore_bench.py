"""GET /api/explore (als, popular) against the cached home feed, warm, in one run.

Run with ``make bench-recs`` (docs/experiments/recs.md). Needs a seeded, trained database in
DATABASE_URL (``python -m seed --scale small --seed 42``, ``manage.py recs_train``),
REDIS_URL and REDIS_KEY_PREFIX. Writes the medians to benchmarks/results/recs-explore.json.
"""

from __future__ import annotations

import json
import platform
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from app.accounts.models import User
from app.recs import serving

ROOT = Path(__file__).resolve().parents[2]
RESULTS: dict[str, Any] = {}
ROUNDS = 200
_APP = re.compile(r"app;dur=([0-9.]+)")
_QUERIES = re.compile(r'db;dur=[0-9.]+;desc="(\d+) queries"')

pytestmark = pytest.mark.usefixtures("seeded")

CASES = {
    "feed=cached": ("/api/feed", "feed=cached", 0),
    "feed=cached + 1 in 5 recommended": ("/api/feed", "feed=cached", 5),
    "explore=als": ("/api/explore", "explore=als", 0),
    "explore=popular": ("/api/explore", "explore=popular", 0),
}


@pytest.fixture(scope="module")
def client(django_db_blocker) -> Client:
    with django_db_blocker.unblock():
        version = serving.live_get()
        if version is None:
            pytest.skip("no live model: run `manage.py recs_train` first")
        viewer = next(
            user
            for user in User.objects.filter(following_count__gte=20).order_by("id")[:200]
            if serving.user_list(version=version, user_id=user.pk)
        )
        client = Client()
        client.force_login(viewer)
        RESULTS["viewer"] = viewer.username
        return client


def test_server_time_interleaved(benchmark, client):
    """One round = one request of every case, so load on the shared box hits all alike."""
    app_ms: dict[str, list[float]] = {case: [] for case in CASES}
    queries: dict[str, list[int]] = {case: [] for case in CASES}

    def one(case: str) -> None:
        path, header, every = CASES[case]
        with override_settings(FEED_RECOMMENDED_EVERY=every):
            response = client.get(path, HTTP_X_LAB_STRATEGY=header)
        assert response.status_code == 200
        timing = response["Server-Timing"]
        app_ms[case].append(float(_APP.search(timing).group(1)))  # type: ignore[union-attr]
        queries[case].append(int(_QUERIES.search(timing).group(1)))  # type: ignore[union-attr]

    for _ in range(5):  # warm: sessions, timelines, fragments, popular
        for case in CASES:
            one(case)
    for case in CASES:
        app_ms[case].clear()
        queries[case].clear()

    def round_of_all() -> None:
        for case in CASES:
            one(case)

    benchmark.pedantic(round_of_all, rounds=ROUNDS, iterations=1)
    for case in CASES:
        RESULTS[case] = {
            "server_ms_median": round(statistics.median(app_ms[case]), 2),
            "queries": statistics.mode(queries[case]),
        }


def test_write_results():
    base = RESULTS["feed=cached"]["server_ms_median"]
    for case in CASES:
        RESULTS[case]["ratio_to_cached_feed"] = round(RESULTS[case]["server_ms_median"] / base, 2)
    RESULTS["machine"] = {"cpus": 2, "python": platform.python_version(), "node": platform.node()}
    out = ROOT / "benchmarks" / "results" / "recs-explore.json"
    out.write_text(json.dumps(RESULTS, indent=1))
    print(json.dumps(RESULTS, indent=1))
