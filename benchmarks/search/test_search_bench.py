"""Search: naive vs indexed vs cached for each kind, type=all and the typeahead, in one run.

Run as ``make bench-search`` against a seeded database (see docs/experiments/search.md).
Every request goes through the whole Django stack with a bearer token, so the numbers are
server time as ``Server-Timing`` reports it (``app;dur``), authentication included, and the
SQL count is the header's. The query list is drawn from the seeded data itself: usernames
(exact, prefix, misspelt), hashtags with and without ``#``, Korean and English caption
words and place names. ``cached`` is measured warm (one pass over the list first): it
answers the hot-query case it exists for. Results: benchmarks/results/search-<scale>.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from app.accounts.models import User
from app.conftest import login_client

STRATEGIES = ("naive", "indexed", "cached")
SCENARIOS = ("suggest", "all", "users", "posts", "hashtags", "places")
ROUNDS = {"naive": int(os.environ.get("BENCH_NAIVE_ROUNDS", "12")), "indexed": 60, "cached": 60}
RESULTS: dict[str, dict[str, Any]] = {}
OUT = Path(__file__).resolve().parents[1] / "results"


def _rows(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def workload(django_db_blocker) -> dict[str, Any]:
    """Deterministic queries from the seeded data, and a logged-in client."""
    with django_db_blocker.unblock():
        users = _rows("SELECT username FROM accounts_user ORDER BY id LIMIT 2000")[::200]
        tags = _rows("SELECT name FROM posts_hashtag ORDER BY post_count DESC, id LIMIT 60")[::6]
        places = _rows("SELECT name FROM posts_place ORDER BY id LIMIT 500")[::50]
        viewer = User.objects.order_by("id").first()
        assert viewer is not None, "seed the database first (see docs/experiments/search.md)"
        client = login_client(viewer)
    typos = [name[:2] + name[3] + name[2] + name[4:] for name in users if len(name) > 4]
    words = ["서울", "맛집", "여행", "바다", "ramen", "brunch", "sunset", "coffee", "오늘"]
    full = [*users[:4], *typos[:4], *(f"#{tag}" for tag in tags[:4]), *words, *places[:4]]
    prefixes = sorted({text[:n] for text in users + tags for n in (1, 2, 3, 4)})
    return {
        "client": client,
        "suggest": prefixes[:: max(1, len(prefixes) // 40)],
        "all": full,
        "users": [*users, *typos],
        "posts": [*words, *tags],
        "hashtags": [*tags, *(tag[:3] for tag in tags)],
        "places": [*places, *(place.split()[0] for place in places)],
    }


def _request(client: Any, scenario: str, q: str, strategy: str) -> tuple[float, int]:
    path = "/api/search/suggest" if scenario == "suggest" else "/api/search"
    params = {"q": q} if scenario in ("suggest", "all") else {"q": q, "type": scenario}
    response = client.get_json(path, params, HTTP_X_LAB_STRATEGY=f"search={strategy}")
    assert response.status_code == 200, response.content
    timing = response["Server-Timing"]
    app_ms = float(timing.split("app;dur=")[1].split(",")[0])
    queries = int(timing.split('desc="')[1].split(" queries")[0])
    return app_ms, queries


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_search(benchmark, workload, django_db_blocker, strategy, scenario):
    client, queries = workload["client"], workload[scenario]
    server_ms: list[float] = []
    counts: list[int] = []
    state = {"i": 0}

    def one() -> None:
        q = queries[state["i"] % len(queries)]
        state["i"] += 1
        app_ms, count = _request(client, scenario, q, strategy)
        server_ms.append(app_ms)
        counts.append(count)

    with django_db_blocker.unblock():
        cache.delete_pattern("search:*")  # type: ignore[attr-defined]
        if strategy == "cached":
            for _ in queries:
                one()
            server_ms.clear()
            counts.clear()
        rounds = min(ROUNDS[strategy], len(queries)) if strategy == "naive" else ROUNDS[strategy]
        benchmark.pedantic(one, rounds=rounds, iterations=1, warmup_rounds=1)
    ordered = sorted(server_ms)
    result = {
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max_queries": max(counts),
        "rounds": len(ordered),
    }
    benchmark.extra_info.update(result)
    RESULTS.setdefault(scenario, {})[strategy] = result


def test_write_report(workload):
    """Ratios from this run, and the raw numbers with the machine they ran on."""
    scale = os.environ.get("BENCH_SCALE", "small")
    for by in RESULTS.values():
        base = by.get("naive", {}).get("median_ms")
        for result in by.values():
            result["speedup_vs_naive"] = round(base / result["median_ms"], 1) if base else None
    report = {
        "scale": scale,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "results": RESULTS,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"search-{scale}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "| scenario | strategy | median ms | p95 ms | SQL | vs naive |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, by in RESULTS.items():
        for strategy, r in by.items():
            lines.append(
                f"| {scenario} | {strategy} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | "
                f"{r['max_queries']} | {r['speedup_vs_naive']}x |"
            )
    print("\n" + "\n".join(lines))
