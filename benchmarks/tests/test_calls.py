"""benchmarks.calls: exact queries, a call count that repeats, and the comparison of two trees."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from app.accounts.models import User
from app.testing import data
from benchmarks import calls


@pytest.fixture
def reader(db: None) -> User:
    """A user who follows two authors of three posts each."""
    return data.reader_of_two()


def served_queries(user: User, strategy: str) -> int:
    """The request's SQL count as the Server-Timing middleware counted it (another counter
    than the one benchmarks.calls reads)."""
    client = Client()
    client.force_login(user)
    client.get("/api/feed", HTTP_X_LAB_STRATEGY=strategy)
    timing = client.get("/api/feed", HTTP_X_LAB_STRATEGY=strategy)["Server-Timing"]
    found = re.search(r'desc="(\d+) queries"', timing)
    assert found is not None, timing
    return int(found.group(1))


def test_the_same_code_on_the_same_data_makes_the_same_calls_within_a_refresh(reader: User) -> None:
    runs = [
        calls.measure(
            path="/api/feed", strategy="feed=naive", user=reader, requests=3, warmup=2, profile=None
        )
        for _ in range(2)
    ]
    # The same work each time, to within a few calls: a periodic refresh in the process (a
    # cache's recheck) can land in one run and not the other. A clean-clone CI run saw 6 calls
    # of 15,000 per request.
    assert runs[0]["calls"] > 1000
    assert runs[1]["calls"] == pytest.approx(runs[0]["calls"], rel=0.001)
    assert runs[0]["queries"] == served_queries(reader, "feed=naive")
    optimized = calls.measure(
        path="/api/feed", strategy="feed=optimized", user=reader, requests=3, warmup=2, profile=None
    )
    # The N+1 strategy does more work per request, and the count shows it.
    assert optimized["queries"] == served_queries(reader, "feed=optimized")
    assert optimized["queries"] < runs[0]["queries"]
    assert optimized["calls"] < runs[0]["calls"]


def test_it_writes_a_profile_whose_functions_line_up_across_checkouts(
    reader: User, tmp_path: Path
) -> None:
    profile = tmp_path / "feed.prof"
    calls.measure(
        path="/api/feed", strategy="feed=naive", user=reader, requests=2, warmup=1, profile=profile
    )
    counts = calls.call_counts(profile)
    assert any(name.startswith("app/feed/") for name in counts)
    assert not any(" at 0x" in name or "/tmp/" in name for name in counts)


def test_it_names_functions_without_the_checkout_they_came_from() -> None:
    name = calls._function(("/tmp/wt_before/app/core/replicas.py", 55, "is_read"))
    assert name == calls._function(("/work/main/app/core/replicas.py", 57, "is_read"))
    assert name == "app/core/replicas.py:is_read"
    assert calls._function(("~", 0, "<built-in method __new__ of type object at 0x7f3d>")) == (
        "~:<built-in method __new__ of type object>"
    )


def test_it_compares_two_runs_and_lists_what_moved_per_request() -> None:
    before = {"queries": 140, "calls": 1000.0, "cpu_ms": 50.0, "requests": 10}
    after = {"queries": 140, "calls": 1010.0, "cpu_ms": 55.0, "requests": 10}
    table = calls.compare(before, after)
    assert re.search(r"calls\s+1,000\.0\s+1,010\.0\s+\+1\.0%", table)
    assert re.search(r"queries\s+140\.0\s+140\.0\s+\+0\.0%", table)
    listing = calls.moved({"a": 100, "b": 50}, {"a": 100, "b": 20, "c": 10}, requests=10)
    assert listing.splitlines() == ["     -3.0  b", "     +1.0  c"]


def test_it_exits_2_with_a_reason_on_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        calls.main(["--path", "api/feed"])
    assert exited.value.code == 2
    assert "--path must start with /" in capsys.readouterr().err
    broken = tmp_path / "a.json"
    broken.write_text(json.dumps({"queries": 1}))
    assert calls.main(["--compare", str(broken), str(broken)]) == 2
    assert "benchmarks.calls:" in capsys.readouterr().err


@pytest.mark.django_db
def test_it_says_when_the_user_does_not_exist() -> None:
    with pytest.raises(calls.CallsError, match="no user named 'nobody'"):
        calls._user("nobody")


def test_a_probe_set_gives_each_probes_queries_and_calls_untimed(reader: User) -> None:
    found = calls.measure_probes(
        {
            "feed.naive": {"path": "/api/feed", "strategy": "feed=naive", "user": "reader"},
            "feed.optimized": {"path": "/api/feed", "strategy": "feed=optimized", "user": "reader"},
        },
        requests=2,
        warmup=1,
    )
    assert set(found) == {"feed.naive", "feed.optimized"}
    assert found["feed.naive"]["queries"] == served_queries(reader, "feed=naive")
    assert found["feed.optimized"]["queries"] == served_queries(reader, "feed=optimized")
    assert found["feed.optimized"]["calls"] < found["feed.naive"]["calls"]
    assert set(found["feed.naive"]) == {"queries", "calls"}


@pytest.mark.parametrize(
    "probes",
    [[], {"feed": "/api/feed"}, {"feed": {"path": "api/feed"}}, {"feed": {"strategy": "x"}}],
)
def test_a_malformed_probe_set_is_refused_with_its_shape(probes: object) -> None:
    with pytest.raises(calls.CallsError, match="--probes wants"):
        calls.measure_probes(probes, requests=1, warmup=0)  # type: ignore[arg-type]


def test_a_probe_run_that_fails_says_why(tmp_path: Path) -> None:
    """In a fresh process: its error reaches the caller as a CallsError, not a traceback."""
    with pytest.raises(calls.CallsError, match="--probes wants"):
        calls.probes_run({"feed": {"path": "no-slash"}}, requests=1, warmup=0)
