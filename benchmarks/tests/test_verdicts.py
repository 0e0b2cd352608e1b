"""perf-check's verdicts: the tolerance rule, each kind's direction, the advisory CPU, the
fixed band of call counts, the confirming reruns, and the table."""

from __future__ import annotations

import pytest

from benchmarks import verdicts
from benchmarks.drive import DriveError
from benchmarks.perfcheck import probes_behind
from benchmarks.verdicts import Verdict


def test_the_tolerance_is_twice_the_widest_deviation_within_floor_and_cap():
    assert verdicts.tolerance_of([1.0, 1.0, 1.0]) == verdicts.TOLERANCE_FLOOR
    assert verdicts.tolerance_of([0.9, 1.0, 1.1]) == pytest.approx(0.2)
    assert verdicts.tolerance_of([0.5, 1.0, 1.5]) == verdicts.TOLERANCE_CAP


def test_a_baseline_takes_medians_and_refuses_query_counts_that_differ_between_runs():
    runs = [{"share:feed": 0.5, "queries:feed": 3}, {"share:feed": 0.6, "queries:feed": 3}]
    runs.append({"share:feed": 0.55, "queries:feed": 3})
    figures = verdicts.baseline_of(runs)
    assert figures["share:feed"]["value"] == 0.55
    assert figures["queries:feed"] == {"value": 3, "tolerance": 0, "runs": [3, 3, 3]}
    with pytest.raises(DriveError, match="queries:feed differed"):
        verdicts.baseline_of([{"queries:feed": 3}, {"queries:feed": 4}])


def test_call_counts_get_a_fixed_band_whatever_their_runs_spread():
    figures = verdicts.baseline_of([{"calls:feed": 1000.0}, {"calls:feed": 1000.5}])
    assert figures["calls:feed"]["tolerance"] == verdicts.CALLS_TOLERANCE
    assert figures["calls:feed"]["value"] == 1000.25


@pytest.mark.parametrize(
    ("figure", "now", "status"),
    [
        ("share:feed", 0.79, "regressed"),  # throughput share fell 21 % against 10 %
        ("share:feed", 0.95, "ok"),
        ("share:feed", 1.2, "improved"),
        ("cpu:feed", 1.2, "slower"),  # absolute CPU rose 20 %: shown, never failed
        ("cpu:feed", 0.8, "improved"),
        ("queries:feed", 4, "changed"),  # exact: any change fails, fewer queries too
        ("queries:feed", 2, "changed"),
        ("queries:feed", 3, "ok"),
        ("cpushare:feed", 1.2, "regressed"),  # CPU relative to hello rose 20 %
        ("cpushare:feed", 0.95, "ok"),
        ("calls:feed", 1.2, "regressed"),  # 20 % more Python calls per request
        ("calls:feed", 0.7, "improved"),
        ("delivery:frames", 2, "changed"),  # a count too
        ("delivery:frames", 3, "ok"),
    ],
)
def test_each_kind_is_judged_in_its_own_direction(figure, now, status):
    base = 3 if figure.startswith(("queries", "delivery")) else 1.0
    verdict = verdicts.judge(figure, {"value": base, "tolerance": 0.1}, now)
    assert verdict.status == status
    assert verdict.failed is (status in ("regressed", "changed"))


def test_a_timing_ratio_fails_only_when_every_rerun_fails_too():
    baseline = {
        "share:feed.cached": {"value": 1.0, "tolerance": 0.1},
        "ab:feed.cached/optimized": {"value": 2.0, "tolerance": 0.1},
        "cpushare:feed.optimized": {"value": 5.0, "tolerance": 0.1},
        "queries:feed.cached": {"value": 0, "tolerance": 0},
        "calls:feed.cached": {"value": 100.0, "tolerance": 0.05},
    }
    first = verdicts.compare(
        baseline,
        {
            "share:feed.cached": 0.5,
            "ab:feed.cached/optimized": 1.0,
            "cpushare:feed.optimized": 7.0,
            "queries:feed.cached": 2,
            "calls:feed.cached": 130.0,
        },
    )
    reruns = iter(
        [
            # share: noise, inside the second time; ab and cpushare outside again
            {
                "share:feed.cached": 0.98,
                "ab:feed.cached/optimized": 1.2,
                "cpushare:feed.optimized": 7.1,
            },
            # ab: outside a third time, a regression; cpushare: inside at last, noise
            {"ab:feed.cached/optimized": 1.1, "cpushare:feed.optimized": 5.2},
        ]
    )
    asked: list[list[str]] = []

    def remeasure(names: list[str]) -> dict[str, float]:
        asked.append(names)
        return next(reruns)

    final = {
        v.figure: v.status for v in verdicts.confirm(first, baseline, remeasure, probes_behind)
    }
    assert asked == [
        ["hello", "feed.optimized", "feed.cached"],
        ["hello", "feed.optimized", "feed.cached"],
    ]
    assert final == {
        "share:feed.cached": "ok",
        "ab:feed.cached/optimized": "regressed",  # outside all three times
        "cpushare:feed.optimized": "ok",
        "queries:feed.cached": "changed",  # counts: never re-measured
        "calls:feed.cached": "regressed",
    }


def test_nothing_is_measured_again_when_only_counts_or_advisory_figures_are_out():
    baseline = {
        "calls:feed": {"value": 100.0, "tolerance": 0.05},
        "cpu:feed": {"value": 1.0, "tolerance": 0.1},
    }
    first = verdicts.compare(baseline, {"calls:feed": 200.0, "cpu:feed": 3.0})

    def remeasure(names: list[str]) -> dict[str, float]:
        raise AssertionError(f"measured {names} again")

    final = verdicts.confirm(first, baseline, remeasure, probes_behind)
    assert [(v.figure, v.status, v.failed) for v in final] == [
        ("calls:feed", "regressed", True),
        ("cpu:feed", "slower", False),
    ]


def test_absolute_cpu_is_shown_only_on_the_baselines_machine():
    baseline = {
        "cpu:feed": {"value": 1.0, "tolerance": 0.1},
        "cpushare:feed": {"value": 5.0, "tolerance": 0.1},
    }
    now = {"cpu:feed": 1.6, "cpushare:feed": 5.1}  # another processor: slower throughout
    here = verdicts.compare(baseline, now, same_machine=True)
    assert [(v.figure, v.status) for v in here] == [("cpu:feed", "slower"), ("cpushare:feed", "ok")]
    elsewhere = verdicts.compare(baseline, now, same_machine=False)
    assert [(v.figure, v.status) for v in elsewhere] == [("cpushare:feed", "ok")]


def test_the_table_marks_what_failed_and_what_is_advisory():
    text = verdicts.table(
        [
            Verdict("queries:feed.cached", 0, 2, 0.0, "changed"),
            Verdict("share:feed.cached", 1.0, 1.01, 0.15, "ok"),
            Verdict("cpu:feed.cached", 1.0, 1.5, 0.25, "slower"),
        ]
    )
    assert "| queries:feed.cached | 0 | 2 | +0.0% | exact | **CHANGED** |" in text
    assert "| share:feed.cached | 1 | 1.01 | +1.0% | ±15% | ok |" in text
    assert "| cpu:feed.cached | 1 | 1.5 | +50.0% | ±25% | slower (advisory) |" in text


def test_a_failed_figure_is_named_in_one_line_for_a_logs_tail():
    line = verdicts.verdict_line(Verdict("ab:feed.cached/optimized", 2.1, 0.93, 0.12, "regressed"))
    assert line == "ab:feed.cached/optimized 2.1 -> 0.93 (-55.7%, band ±12%): regressed"
    exact = verdicts.verdict_line(Verdict("queries:feed.cached", 0, 2, 0.0, "changed"))
    assert exact == "queries:feed.cached 0 -> 2 (exact): changed"
