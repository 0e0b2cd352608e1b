"""A fake Locust run directory, shaped like Locust 2.47's CSV output, for the summary tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

PCT = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
STATS = [
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time",
    "Average Response Time", "Min Response Time", "Max Response Time", "Average Content Size",
    "Requests/s", "Failures/s", *PCT,
]  # fmt: skip
HISTORY = [
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *PCT,
    "Total Request Count", "Total Failure Count", "Total Median Response Time",
    "Total Average Response Time", "Total Min Response Time", "Total Max Response Time",
    "Total Average Content Size",
]  # fmt: skip


def stats_row(kind: str, name: str, count: int, fails: int, rps: float, p50: int, p95: int,
              p99: int, top: float) -> list[Any]:  # fmt: skip
    pct = [p50, p50, p50, p95, p95, p95, p99, p99, top, top, top]
    return [kind, name, count, fails, p50, p50 * 1.1, 1, top, 900, rps, 0, *pct]


def history_row(t: int, users: int, rps: float, fail_s: float, p95: float | str) -> list[Any]:
    half = p95 if isinstance(p95, str) else p95 / 2
    pct = [half] * 5 + [p95] * 6
    return [t, users, "", "Aggregated", rps, fail_s, *pct, 0, 0, 0, 0, 0, 0, 0]


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def make_run(
    root: Path,
    *,
    feed_queries: int = 3,
    failures: int = 0,
    steps: list[tuple[int, float, float, float]] | None = None,
) -> Path:
    """Two endpoints over a 60-point timeline; ``steps`` is (users, rps, p95, fail/s) per 10 s."""
    root.mkdir(parents=True, exist_ok=True)
    write_csv(
        root / "locust_stats.csv",
        STATS,
        [
            stats_row("GET", "/api/feed", 1000, failures, 50.0, 20, 80, 120, 300.5),
            stats_row("GET", "/api/search/suggest", 3000, 0, 150.0, 5, 15, 30, 90.0),
            stats_row("", "Aggregated", 4000, failures, 200.0, 8, 60, 110, 300.5),
        ],
    )
    write_csv(
        root / "locust_failures.csv",
        ["Method", "Name", "Error", "Occurrences"],
        [["GET", "/api/feed", "HTTP 500", failures]] if failures else [],
    )
    steps = steps or [(50, 200.0, 60.0, 0.0)] * 6
    rows = [history_row(1_700_000_000, 0, 0, 0, "N/A")]
    for index, (users, rps, p95, fail_s) in enumerate(steps):
        rows += [
            history_row(1_700_000_001 + index * 10 + i, users, rps, fail_s, p95) for i in range(10)
        ]
    write_csv(root / "locust_stats_history.csv", HISTORY, rows)
    raw = root / "raw"
    raw.mkdir()
    header = f'app;dur=9, db;dur=2;desc="{feed_queries} queries", cache;desc="3 hit 1 miss"'
    from loadtests.servertiming import TimingAggregator

    agg = TimingAggregator()
    for index in range(10):
        # cpu;dur 4.0 on nine requests and 13.0 on one: median 4, mean 4.9
        cpu = 13.0 if index == 0 else 4.0
        agg.add(key="GET /api/feed", header=f"{header}, cpu;dur={cpu}")
    agg.add(
        key="GET /api/search/suggest",
        header='app;dur=1, db;dur=0.5;desc="1 queries", cache;desc="0 hit 0 miss"',
    )
    (raw / "server-timing.101.json").write_text(
        json.dumps({"endpoints": agg.dump(), "cpu_warnings": []})
    )
    return root


DESCRIPTION = {
    "scenario": "feed",
    "shape": "steady",
    "users": 50,
    "spawn_rate": 10,
    "duration_s": 60,
    "scale": "tiny",
    "seed": 42,
    "commit": "abc1234",
    "cores": 2,
    "strategy": "feed=cached",
    "server": {"setup": "split", "http_workers": 2, "why": "fastest"},
}


@pytest.fixture
def description() -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(DESCRIPTION))
    return copied
