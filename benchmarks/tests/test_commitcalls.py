"""make bench-calls: calls.py run inside a checkout, the rows, the report and bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from app.lab.testing import database_url_for_tests
from app.testing import data
from benchmarks import commitcalls, drive, trees


@pytest.fixture
def reader(transactional_db: None) -> Iterator[str]:
    """A committed reader of two authors' posts, which another process can see."""
    yield data.reader_of_two("call").username
    conn = get_redis_connection("default")
    keys = list(conn.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000))
    if keys:
        conn.delete(*keys)


def test_it_measures_a_probe_inside_a_checkout_in_another_process(
    reader: str, tmp_path: Path
) -> None:
    tree = trees.Tree(
        label="after",
        revision=trees.revision_resolve("HEAD"),
        path=drive.ROOT,
        database_url=database_url_for_tests(),
        redis_url=settings.REDIS_URL,
        redis_prefix=settings.REDIS_KEY_PREFIX,
    )
    figures = [
        commitcalls.probe_run(
            tree,
            probe="feed.naive",
            path="/api/feed?limit=20",
            strategy="feed=naive",
            user=reader,
            requests=3,
            out=tmp_path,
        )
        for _ in range(2)
    ]
    assert figures[0]["user"] == reader and figures[0]["strategy"] == "feed=naive"
    # The naive feed: the page's posts one by one, so more than one query per post.
    assert figures[0]["queries"] > 6
    assert figures[1]["calls"] == pytest.approx(figures[0]["calls"], rel=0.001)
    assert any(name.startswith("app/feed/") for name in figures[0]["functions"])


def side(calls: float, functions: dict[str, int], *, queries: int = 10) -> dict[str, Any]:
    return {
        "path": "/api/feed?limit=20",
        "strategy": "feed=naive",
        "queries": queries,
        "calls": calls,
        "cpu_ms": 5.0,
        "functions": functions,
    }


def test_a_row_lists_the_functions_only_when_the_calls_moved() -> None:
    still = commitcalls.row_of(
        "feed.naive", {"before": side(1000, {"f": 10}), "after": side(1001, {"f": 20})}, requests=10
    )
    assert still["calls_change"] == pytest.approx(0.001)
    assert still["moved"] == []
    moved = commitcalls.row_of(
        "feed.naive",
        {"before": side(1000, {"f": 10, "g": 5}), "after": side(1100, {"f": 110, "g": 5})},
        requests=10,
    )
    assert moved["calls_change"] == pytest.approx(0.1)
    assert moved["moved"] == [[10.0, "f"]]


def document(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "command": "make bench-calls BEFORE=abc AFTER=HEAD",
        "date": "2026-11-30T12:00:00+00:00",
        "machine": {"cpu": "AMD EPYC", "nproc": 2},
        "revisions": {"before": {"sha": "a" * 40}, "after": {"sha": "b" * 40}},
        "requests": 10,
        "persona": "callreader",
        "probes": rows,
    }


def test_the_report_marks_a_changed_query_count_and_names_what_moved(tmp_path: Path) -> None:
    rows = [
        commitcalls.row_of(
            "feed.naive",
            {"before": side(1000, {"f": 10}), "after": side(1100, {"f": 1010}, queries=11)},
            requests=10,
        )
    ]
    json_path, md_path = commitcalls.write(
        document(rows), results=tmp_path / "results", reports=tmp_path / "reports"
    )
    assert json_path.name == "calls-aaaaaaa-bbbbbbb.json"
    assert json.loads(json_path.read_text())["probes"][0]["queries"] == {
        "before": 10,
        "after": 11,
    }
    text = md_path.read_text()
    assert "| feed.naive | 10 | 11 **changed** | 1,000 | 1,100 | +10.0% | 5.00 | 5.00 |" in text
    assert "- +100.0 `f`" in text
    assert "AMD EPYC, 2 cores" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--before"),
        (["--before", "HEAD", "--only", "nosuch"], "unknown probe(s) nosuch"),
        (["--before", "HEAD", "--requests", "0"], "--requests must be at least 1"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        commitcalls.arguments(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unknown_revision_exits_2_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert commitcalls.main(["--before", "no-such-revision-here"]) == 2
    assert "unknown revision 'no-such-revision-here'" in capsys.readouterr().err
