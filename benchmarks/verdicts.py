"""Judging a perf-check: figure kinds, the tolerance rule, verdicts, confirmation, the table.

benchmarks/perfcheck.py measures; this module says what a measurement means against a baseline.
The rules are documented in docs/regressions.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.drive import DriveError, say

# Counts, not timings: noise cannot move them, so any change is a failure.
EXACT_KINDS = ("queries", "delivery")
# Which way is better: a ratio of throughputs should not fall, CPU or work per request not rise.
HIGHER_IS_BETTER = {"share": True, "ab": True, "cpu": False, "cpushare": False, "calls": False}
# Absolute figures: comparable only on the machine that took the baseline.
MACHINE_BOUND_KINDS = ("cpu",)
# Shown and recorded, never failed: on this shared box the same tree's absolute CPU per request
# moved from -58 % to +63 % of one baseline between the host's phases (docs/regressions.md).
# cpushare (the same CPU over /lab/hello's) and calls gate CPU instead.
ADVISORY_KINDS = ("cpu",)
# Same-run timing ratios: one outside its band is measured again, up to CONFIRMATIONS times,
# and fails only if every measurement is outside.
REMEASURED_KINDS = ("share", "ab", "cpushare")
CONFIRMATIONS = 2
# calls:<probe>: the runs agree to 0.1 %, so this band is not noise but how much more work a
# change may add before the check asks for a reviewed baseline.
CALLS_TOLERANCE = 0.05

# Tolerances (docs/regressions.md): TOLERANCE_SPREADS times the largest relative deviation
# from the median seen across the baseline runs, never below the floor (a handful of runs
# underestimates the spread) nor above the cap (past it, the figure could not catch a 30 %
# regression, and the baseline run says so instead of hiding it).
TOLERANCE_SPREADS = 2.0
TOLERANCE_FLOOR = 0.15
TOLERANCE_CAP = 0.25


def kind_of(figure: str) -> str:
    return figure.split(":", 1)[0]


def tolerance_of(values: Sequence[float]) -> float:
    """The relative band a figure may move in: TOLERANCE_SPREADS times the largest relative
    deviation from the median over the baseline runs, clamped to [floor, cap]."""
    middle = statistics.median(values)
    if middle == 0:
        return TOLERANCE_CAP
    spread = max(abs(value - middle) / abs(middle) for value in values)
    return round(min(TOLERANCE_CAP, max(TOLERANCE_FLOOR, TOLERANCE_SPREADS * spread)), 4)


def baseline_of(runs: Sequence[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """Each figure's median and tolerance over ``runs``; an exact figure must agree in all."""
    figures: dict[str, dict[str, Any]] = {}
    for name in sorted(set().union(*runs)):
        values = [run[name] for run in runs if name in run]
        if kind_of(name) in EXACT_KINDS:
            if len(set(values)) != 1:
                raise DriveError(f"{name} differed between runs: {values}")
            figures[name] = {"value": values[0], "tolerance": 0, "runs": values}
            continue
        tolerance = CALLS_TOLERANCE if kind_of(name) == "calls" else tolerance_of(values)
        figures[name] = {
            "value": round(statistics.median(values), 4),
            "tolerance": tolerance,
            "spread": round(max(abs(v - statistics.median(values)) for v in values), 4),
            "runs": values,
            "capped": tolerance == TOLERANCE_CAP,
        }
    return figures


@dataclass(frozen=True)
class Verdict:
    figure: str
    baseline: float
    now: float
    tolerance: float
    status: str  # "ok", "improved", "regressed", "changed"; "slower" (advisory kinds only)

    @property
    def change(self) -> float:
        return (self.now - self.baseline) / self.baseline if self.baseline else 0.0

    @property
    def failed(self) -> bool:
        return self.status in ("regressed", "changed")


def judge(figure: str, expected: Mapping[str, Any], now: float) -> Verdict:
    """One figure against its baseline entry."""
    base = float(expected["value"])
    tolerance = float(expected["tolerance"])
    kind = kind_of(figure)
    if kind in EXACT_KINDS:
        status = "ok" if now == base else "changed"
        return Verdict(figure, base, now, 0.0, status)
    better = (now - base) if HIGHER_IS_BETTER[kind] else (base - now)
    if better < -tolerance * abs(base):
        status = "slower" if kind in ADVISORY_KINDS else "regressed"
    elif better > tolerance * abs(base):
        status = "improved"
    else:
        status = "ok"
    return Verdict(figure, base, now, tolerance, status)


def compare(
    baseline: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, float],
    *,
    same_machine: bool = True,
) -> list[Verdict]:
    """A verdict for every measured figure the baseline knows (sorted by name); on another
    machine than the baseline's, none for the absolute figures (MACHINE_BOUND_KINDS)."""
    return [
        judge(name, baseline[name], figures[name])
        for name in sorted(figures)
        if name in baseline and (same_machine or kind_of(name) not in MACHINE_BOUND_KINDS)
    ]


def confirm(
    verdicts: list[Verdict],
    baseline: Mapping[str, Mapping[str, Any]],
    remeasure: Callable[[list[str]], Mapping[str, float]],
    behind: Callable[[list[str]], list[str]],
    *,
    attempts: int = CONFIRMATIONS,
) -> list[Verdict]:
    """Measure the probes ``behind`` a failed timing ratio again, up to ``attempts`` times; it
    fails only if every measurement is outside its band. Counts fail at once: noise cannot
    change them, and measuring them again gives the same count."""
    current = {v.figure: v for v in verdicts}
    for attempt in range(1, attempts + 1):
        doubtful = [
            figure
            for figure, verdict in current.items()
            if verdict.status == "regressed" and kind_of(figure) in REMEASURED_KINDS
        ]
        if not doubtful:
            break
        names = behind(doubtful)
        say(
            f"outside tolerance {attempt} time(s): {', '.join(doubtful)}; "
            f"measuring {', '.join(names)} again ({attempt}/{attempts})"
        )
        again = remeasure(names)
        for figure in doubtful:
            if figure in again:
                verdict = judge(figure, baseline[figure], again[figure])
                if not verdict.failed:
                    current[figure] = verdict
    return [current[v.figure] for v in verdicts]


def verdict_line(v: Verdict) -> str:
    """One failed figure in a line: ``ab:x/y 2.1 -> 0.93 (-55.7 %, band ±12 %)``."""
    how = (
        "exact" if kind_of(v.figure) in EXACT_KINDS else f"{v.change:+.1%}, band ±{v.tolerance:.0%}"
    )
    return f"{v.figure} {v.baseline:g} -> {v.now:g} ({how}): {v.status}"


def table(verdicts: Sequence[Verdict]) -> str:
    lines = [
        "| figure | baseline | now | change | tolerance | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for v in verdicts:
        mark = {
            "regressed": "**REGRESSED**",
            "changed": "**CHANGED**",
            "slower": "slower (advisory)",
        }.get(v.status, v.status)
        tolerance = "exact" if kind_of(v.figure) in EXACT_KINDS else f"±{v.tolerance:.0%}"
        lines.append(
            f"| {v.figure} | {v.baseline:g} | {v.now:g} | {v.change:+.1%} | {tolerance} | {mark} |"
        )
    return "\n".join(lines)
