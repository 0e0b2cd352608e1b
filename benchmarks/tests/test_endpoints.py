"""make bench-endpoints: share of hello per round, medians, CPU per request, wrk's absence."""

from __future__ import annotations

import shutil

import pytest

from benchmarks import drive, endpoints


def run(rps: float, *, requests: int = 100, errors: int = 0) -> drive.WrkRun:
    return drive.WrkRun(
        requests=requests, seconds=1.0, rps=rps, p50_ms=1.0, p99_ms=2.0,
        status_errors=errors, socket_errors=0, statuses={},
    )  # fmt: skip


def test_it_takes_the_share_of_hello_per_round_then_the_median() -> None:
    hello = endpoints.EndpointRuns(label="hello", path="/lab/hello")
    hello.rounds = [run(1000), run(800), run(1200)]
    feed = endpoints.EndpointRuns(label="feed", path="/api/feed?limit=20")
    # A noisy second round slows both alike: its share (0.125) is no outlier in the ratio.
    feed.rounds = [run(100), run(100), run(60)]
    summary = endpoints.summarise(runs={"hello": hello, "feed": feed})
    assert summary["feed"]["share_of_hello_rounds"] == [0.1, 0.125, 0.05]
    assert summary["feed"]["share_of_hello"] == 0.1
    assert summary["feed"]["rps_median"] == 100
    assert summary["hello"]["share_of_hello"] == 1.0


def test_it_divides_all_rounds_cpu_by_all_rounds_requests_and_counts_errors() -> None:
    feed = endpoints.EndpointRuns(label="feed", path="/api/feed")
    feed.rounds = [run(100, requests=300), run(100, requests=100, errors=2)]
    feed.cpu_seconds = [
        {"app": 1.2, "postgres": 0.4, "redis": 0.0},
        {"app": 0.8, "postgres": 0.0, "redis": 0.4},
    ]
    feed.warmup_statuses = {"200": 50, "500": 1}
    assert feed.cpu_per_request() == {"app": 5.0, "postgres": 1.0, "redis": 1.0, "total": 7.0}
    assert feed.errors == 3


def test_it_pairs_rounds_and_skips_a_round_without_a_baseline() -> None:
    assert drive.ratios_per_round(values=[50, 30, 10], baseline=[100, 0, 20]) == [0.5, 0.5]
    assert drive.median([3.0, 1.0, 2.0, 10.0]) == 2.5
    with pytest.raises(ValueError):
        drive.ratios_per_round(values=[1.0], baseline=[1.0, 2.0])


def test_it_quotes_anything_into_a_lua_string() -> None:
    script = drive.wrk_script(headers={"X-Lab-Strategy": 'feed="x"\\'}, count_statuses=False)
    assert 'wrk.headers["X-Lab-Strategy"] = "feed=\\034x\\034\\092"' in script


def test_it_exits_2_and_says_how_to_install_wrk_when_it_is_absent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert endpoints.main(["--only", "me"]) == 2
    assert "apt-get install -y wrk" in capsys.readouterr().err
