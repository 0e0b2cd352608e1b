"""The chaos lab's figures from the request log: phases, the per-second timeline, the time to
recover, the probe of /readyz, and each scenario's pass/fail checks.

Pure Python over the records of loadtests/chaos/ledger.py, so every figure is unit-tested.
Times are epoch seconds on the machine's clock, which the runner and Locust share.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtests.chaos.ledger import error_kind
from loadtests.thresholds import Check

PHASES = ("before", "during", "after")
# A recovery must hold: the run has to go on this long after it with no failure at all.
STAYS_GOOD_SECONDS = 5.0
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# The statuses a write may be refused with while a dependency is down.
CLEAN_REFUSALS = frozenset({429, 503})


@dataclass
class Fault:
    """When the fault began, when its window ended (the phase "during"), and the moment
    recovery is measured from: the service's return, or the fault itself for an
    instantaneous one (a killed worker, which nothing restores)."""

    scenario: str
    started: float
    ended: float
    restored: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """A scenario's pass/fail numbers (issue 13, "Numbers to reach"); None: not checked."""

    during_failure_ratio: float | None = None
    recovery_s: float | None = None
    read_server_errors: int | None = None
    unclean_write_refusals: int | None = None
    readyz_503_s: float | None = None
    max_wait_ms: float | None = None
    chat_acked_lost: int = 0
    chat_no_reply: int = 0


LIMITS = {
    "worker-kill": Limits(during_failure_ratio=0.01, recovery_s=3),
    "redis-outage": Limits(recovery_s=2, read_server_errors=0, unclean_write_refusals=0),
    # Redis refusing writes is the outage's half-way case: the same promises hold.
    "redis-readonly": Limits(recovery_s=2, read_server_errors=0, unclean_write_refusals=0),
    "postgres-outage": Limits(recovery_s=5, readyz_503_s=1, max_wait_ms=2000),
}


def records_read(raw_dir: Path, kind: str = "requests") -> list[dict[str, Any]]:
    """Every Locust process's ``<kind>.<pid>.jsonl``, in completion order."""
    records: list[dict[str, Any]] = []
    for path in sorted(raw_dir.glob(f"{kind}.*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a killed process
    return sorted(records, key=lambda r: float(r["t"]))


def phase_of(t: float, fault: Fault) -> str:
    if t < fault.started:
        return "before"
    return "during" if t < fault.ended else "after"


def _method(endpoint: str) -> str:
    return endpoint.split(" ", 1)[0]


def phases_split(
    records: list[dict[str, Any]], fault: Fault, *, start: float, end: float
) -> dict[str, Any]:
    """Per phase: its length, and per endpoint the requests, failures, error kinds and the
    slowest request; a request belongs to the phase it completed in."""
    bounds = {
        "before": (start, fault.started),
        "during": (fault.started, fault.ended),
        "after": (fault.ended, end),
    }
    out: dict[str, Any] = {}
    for phase in PHASES:
        low, high = bounds[phase]
        out[phase] = {"seconds": round(max(0.0, high - low), 1), "endpoints": {}, "total": {}}
    for record in records:
        phase = phase_of(float(record["t"]), fault)
        row = out[phase]["endpoints"].setdefault(
            record["endpoint"], {"requests": 0, "failures": 0, "kinds": Counter(), "max_ms": 0.0}
        )
        row["requests"] += 1
        row["max_ms"] = max(row["max_ms"], float(record["ms"]))
        kind = error_kind(record)
        if kind is not None:
            row["failures"] += 1
            row["kinds"][kind] += 1
    for phase in PHASES:
        endpoints = out[phase]["endpoints"]
        kinds: Counter[str] = Counter()
        for row in endpoints.values():
            kinds.update(row["kinds"])
            row["kinds"] = dict(row["kinds"].most_common())
            row["failure_ratio"] = _ratio(row["failures"], row["requests"])
        requests = sum(r["requests"] for r in endpoints.values())
        failures = sum(r["failures"] for r in endpoints.values())
        out[phase]["endpoints"] = dict(sorted(endpoints.items()))
        out[phase]["total"] = {
            "requests": requests,
            "failures": failures,
            "failure_ratio": _ratio(failures, requests),
            "kinds": dict(kinds.most_common()),
        }
    return out


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def timeline_of(records: list[dict[str, Any]], *, start: float, end: float) -> dict[str, Any]:
    """One point per second from ``start``: requests, failures and the p95 latency (ms) of the
    requests completed in that second (None for a second without any)."""
    count = max(1, math.ceil(end - start))
    latencies: list[list[float]] = [[] for _ in range(count)]
    failures = [0] * count
    for record in records:
        index = int(float(record["t"]) - start)
        if 0 <= index < count:
            latencies[index].append(float(record["ms"]))
            failures[index] += error_kind(record) is not None
    return {
        "t": list(range(count)),
        "requests": [len(values) for values in latencies],
        "failures": failures,
        "p95_ms": [_p95(values) for values in latencies],
    }


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=20, method="inclusive")[18], 1)


def recovery_seconds(records: list[dict[str, Any]], *, restored: float, end: float) -> float | None:
    """Whole seconds from ``restored`` to the first second (counted from it) that has a
    success and after which nothing fails until the end of the run; None when there is no
    such second at least STAYS_GOOD_SECONDS before the end (the service did not recover)."""
    after = [r for r in records if float(r["t"]) >= restored]
    failed = [float(r["t"]) for r in after if error_kind(r) is not None]
    first = math.floor(max(failed) - restored) + 1 if failed else 0
    while restored + first + STAYS_GOOD_SECONDS <= end:
        low, high = restored + first, restored + first + 1
        if any(low <= float(r["t"]) < high for r in after):
            return float(first)
        first += 1  # a silent second is not yet a good one
    return None


def last_failure_seconds(records: list[dict[str, Any]], *, restored: float) -> float | None:
    """Seconds from ``restored`` to the last failure after it (None: none failed after it);
    what the report shows when the service did not recover within the run."""
    failed = [float(r["t"]) for r in records if float(r["t"]) >= restored and error_kind(r)]
    return round(max(failed) - restored, 2) if failed else None


def max_wait_ms(records: list[dict[str, Any]], fault: Fault) -> float | None:
    """The longest HTTP request in flight at any moment of the fault's window."""
    waits = [
        float(r["ms"])
        for r in records
        if not r["endpoint"].startswith("WS ")
        and float(r["t"]) >= fault.started
        and float(r["t"]) - float(r["ms"]) / 1000 < fault.ended
    ]
    return max(waits, default=None)


def first_status_after(probes: list[dict[str, Any]], *, at: float, status: int) -> float | None:
    """Seconds from ``at`` until a probe answered ``status`` (completion time), or None."""
    for probe in probes:
        if float(probe["t"]) >= at and probe.get("status") == status:
            return round(float(probe["t"]) - at, 2)
    return None


def server_errors_on_reads(phases: dict[str, Any]) -> int:
    """HTTP reads the server failed: 5xx, connection errors and timeouts, in every phase."""
    total = 0
    for phase in PHASES:
        for endpoint, row in phases[phase]["endpoints"].items():
            if _method(endpoint) != "GET":
                continue
            total += sum(
                count for kind, count in row["kinds"].items() if not kind.startswith("HTTP 4")
            )
    return total


def unclean_write_refusals(phases: dict[str, Any]) -> int:
    """HTTP writes that failed any other way than a clean 503 or 429, in every phase."""
    clean = {f"HTTP {status}" for status in CLEAN_REFUSALS}
    return sum(
        count
        for phase in PHASES
        for endpoint, row in phases[phase]["endpoints"].items()
        if _method(endpoint) in WRITE_METHODS
        for kind, count in row["kinds"].items()
        if kind not in clean
    )


def chat_of(replies: list[dict[str, Any]], fault: Fault) -> dict[str, Any]:
    """Sends, unanswered sends and acknowledged messages lost, in all and per phase."""
    out: dict[str, Any] = {"sent": 0, "no_reply": 0, "acked_lost": 0, "errored": 0}
    out["by_phase"] = {p: {"sent": 0, "no_reply": 0, "acked_lost": 0} for p in PHASES}
    for tally in replies:
        out["errored"] += int(tally.get("errored", 0))
        for key, field_name in (
            ("sent", "sent_at"),
            ("no_reply", "no_reply_at"),
            ("acked_lost", "lost_at"),
        ):
            times = tally.get(field_name, [])
            out[key] += len(times)
            for t in times:
                out["by_phase"][phase_of(float(t), fault)][key] += 1
    return out


def analysis_of(
    records: list[dict[str, Any]],
    probes: list[dict[str, Any]],
    replies: list[dict[str, Any]],
    fault: Fault,
    *,
    start: float,
    end: float,
) -> dict[str, Any]:
    """Every figure of the chaos section of summary.json; times relative to ``start``."""
    phases = phases_split(records, fault, start=start, end=end)
    return {
        "scenario": fault.scenario,
        "fault": {
            **asdict(fault),
            "started_s": round(fault.started - start, 2),
            "ended_s": round(fault.ended - start, 2),
            "restored_s": round(fault.restored - start, 2),
        },
        "run_s": round(end - start, 1),
        "phases": phases,
        "timeline": timeline_of(records, start=start, end=end),
        "recovery_s": recovery_seconds(records, restored=fault.restored, end=end),
        "last_failure_s": last_failure_seconds(records, restored=fault.restored),
        "max_wait_during_ms": max_wait_ms(records, fault),
        "readyz_503_s": first_status_after(
            [p for p in probes if p["endpoint"] == "GET /readyz"], at=fault.started, status=503
        ),
        "probes": phases_split(probes, fault, start=start, end=end),
        "read_server_errors": server_errors_on_reads(phases),
        "unclean_write_refusals": unclean_write_refusals(phases),
        "chat": chat_of(replies, fault),
    }


def checks_of(analysis: dict[str, Any], limits: Limits) -> list[Check]:
    """The scenario's numbers against its limits; an absent figure fails its check."""
    checks: list[Check] = []

    def check(scope: str, key: str, actual: float | None, limit: float | None) -> None:
        if limit is not None:
            ok = actual is not None and actual <= limit
            checks.append(Check(scope=scope, key=key, limit=limit, actual=actual, ok=ok))

    during = analysis["phases"]["during"]["total"]
    check("during the fault", "failure_ratio", during["failure_ratio"], limits.during_failure_ratio)
    check("after the fault", "recovery_s", analysis["recovery_s"], limits.recovery_s)
    check("reads", "server_errors", analysis["read_server_errors"], limits.read_server_errors)
    check(
        "writes",
        "unclean_refusals",
        analysis["unclean_write_refusals"],
        limits.unclean_write_refusals,
    )
    check("GET /readyz", "seconds_to_503", analysis["readyz_503_s"], limits.readyz_503_s)
    check("during the fault", "max_wait_ms", analysis["max_wait_during_ms"], limits.max_wait_ms)
    chat = analysis["chat"]
    check("chat", "acked_lost", chat["acked_lost"], limits.chat_acked_lost)
    check("chat", "no_reply", chat["no_reply"], limits.chat_no_reply)
    return checks
