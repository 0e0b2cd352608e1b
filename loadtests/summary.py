"""summary.json: Locust's CSVs plus the server's Server-Timing figures, chat tallies and resources.

Pure Python (csv/json only): the unit tests build summaries from fixture files.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

from loadtests.chatledger import tallies_merge
from loadtests.cpu import per_request_ms
from loadtests.servertiming import TimingAggregator

PREFIX = "locust"
AGGREGATED = "Aggregated"
# A Locust process above this share of one core was the bottleneck, not the server.
GENERATOR_SATURATED_PERCENT = 90.0
DEFAULT_P95_TARGET_MS = 100.0
# Rows that are the server pushing, not a request made: one send fans out to every member.
NOT_REQUESTS = frozenset({"WS message.new delivery"})


def _number(raw: str | None) -> float | None:
    if raw in (None, "", "N/A"):
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def endpoint_key(row: dict[str, str]) -> str:
    kind, name = row.get("Type", ""), row.get("Name", "")
    return name if name == AGGREGATED and not kind else f"{kind} {name}"


def endpoints_read(run_dir: Path) -> list[dict[str, Any]]:
    """Locust's final per-endpoint stats (``locust_stats.csv``), Aggregated last."""
    rows = []
    for row in _read_csv(run_dir / f"{PREFIX}_stats.csv"):
        requests = int(_number(row["Request Count"]) or 0)
        failures = int(_number(row["Failure Count"]) or 0)
        rows.append(
            {
                "name": endpoint_key(row),
                "requests": requests,
                "failures": failures,
                "failure_ratio": round(failures / requests, 4) if requests else 0.0,
                "rps": round(_number(row["Requests/s"]) or 0.0, 2),
                "mean_ms": round(_number(row["Average Response Time"]) or 0.0, 1),
                "p50_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]),
                "max_ms": round(_number(row["Max Response Time"]) or 0.0, 1),
            }
        )
    rows.sort(key=lambda r: (r["name"] == AGGREGATED, r["name"]))
    return rows


def errors_read(run_dir: Path) -> list[dict[str, Any]]:
    errors = [
        {
            "endpoint": f"{row['Method']} {row['Name']}",
            "error": row["Error"],
            "count": int(_number(row["Occurrences"]) or 0),
        }
        for row in _read_csv(run_dir / f"{PREFIX}_failures.csv")
    ]
    return sorted(errors, key=lambda e: -e["count"])


def timeline_read(run_dir: Path) -> dict[str, list[Any]]:
    """The Aggregated rows of the history: one point per second, time from the first."""
    rows = [
        r for r in _read_csv(run_dir / f"{PREFIX}_stats_history.csv") if r.get("Name") == AGGREGATED
    ]
    line: dict[str, list[Any]] = {
        k: [] for k in ("t", "users", "rps", "fail_s", "p50", "p95", "p99", "total")
    }
    if not rows:
        return line
    start = float(rows[0]["Timestamp"])
    for row in rows:
        line["t"].append(float(row["Timestamp"]) - start)
        line["users"].append(int(_number(row["User Count"]) or 0))
        line["rps"].append(_number(row["Requests/s"]) or 0.0)
        line["fail_s"].append(_number(row["Failures/s"]) or 0.0)
        line["p50"].append(_number(row["50%"]))
        line["p95"].append(_number(row["95%"]))
        line["p99"].append(_number(row["99%"]))
        line["total"].append(int(_number(row.get("Total Request Count")) or 0))
    return line


def process_files_read(raw_dir: Path, kind: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(raw_dir.glob(f"{kind}.*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def server_timing_read(raw_dir: Path) -> tuple[dict[str, dict[str, Any]], list[float]]:
    """Every Locust process's Server-Timing sums merged, as per-endpoint means."""
    merged = TimingAggregator()
    warnings: list[float] = []
    for payload in process_files_read(raw_dir, "server-timing"):
        merged.merge(payload.get("endpoints", {}))
        warnings.extend(payload.get("cpu_warnings", []))
    return merged.figures(), warnings


def chat_read(raw_dir: Path, endpoints: list[dict[str, Any]]) -> dict[str, Any] | None:
    tallies = process_files_read(raw_dir, "chat")
    if not tallies:
        return None
    chat = tallies_merge(tallies)
    for row in endpoints:
        if row["name"] == "WS message.new delivery":
            chat["delivery_p50_ms"], chat["delivery_p95_ms"] = row["p50_ms"], row["p95_ms"]
            chat["delivery_p99_ms"], chat["delivery_max_ms"] = row["p99_ms"], row["max_ms"]
        if row["name"] == "WS message.ack":
            chat["ack_p50_ms"], chat["ack_p95_ms"] = row["p50_ms"], row["p95_ms"]
    return chat


def generators_of(
    raw_dir: Path, aggregate: dict[str, Any] | None, *, in_flight: int = 0
) -> dict[str, Any] | None:
    """Each Locust process's own count of the requests it made (a worker's, as it last reported
    it to the master), and whether they add up to the master's merged total. They may differ
    by the requests in flight when the run stopped, at most one a user (``in_flight``): a
    process counts a request the final stats snapshot can just miss."""
    parts = sorted(
        process_files_read(raw_dir, "generator"),
        key=lambda p: (str(p.get("worker", "")), p.get("pid", 0)),
    )
    if not parts:
        return None
    requests = sum(int(p.get("requests", 0)) for p in parts)
    return {
        "processes": parts,
        "requests": requests,
        "failures": sum(int(p.get("failures", 0)) for p in parts),
        "adds_up": aggregate is not None and abs(requests - aggregate["requests"]) <= in_flight,
    }


def generator_warnings(generators: dict[str, Any] | None, *, workers: int) -> list[str]:
    """A worker that never reported, or parts that do not add up to the merged total, mean a
    figure of the report may come from some workers only."""
    if generators is None:
        return [f"none of the {workers} Locust workers reported its tallies"] if workers else []
    warnings = []
    reported = [p for p in generators["processes"] if p.get("worker")]
    if workers and len(reported) != workers:
        warnings.append(f"{len(reported)} of {workers} Locust workers reported their tallies")
    if not generators["adds_up"]:
        warnings.append(
            f"the Locust processes' own counts ({generators['requests']} requests) do not add "
            "up to the merged total"
        )
    return warnings


def resources_of(samples: list[dict[str, float]], *, cores: int) -> dict[str, Any]:
    """Generator and server CPU (percent of one core) and server RSS from the runner's samples."""
    if not samples:
        return {}
    busy = samples[1:] or samples  # psutil's first reading of a process is always 0

    def mean(key: str) -> float:
        return round(statistics.fmean(s.get(key, 0.0) for s in busy), 1)

    gen_max_process = max(s.get("generator_process_max_cpu", 0.0) for s in busy)
    rss = [s["server_rss_mb"] for s in samples if s.get("server_rss_mb")]
    head = rss[: max(1, len(rss) // 10)]
    tail = rss[-max(1, len(rss) // 10) :]
    return {
        "cores": cores,
        "generator_cpu_mean": mean("generator_cpu"),
        "generator_cpu_max": round(max(s.get("generator_cpu", 0.0) for s in busy), 1),
        "generator_process_cpu_mean_max": round(
            statistics.fmean(s.get("generator_process_max_cpu", 0.0) for s in busy), 1
        ),
        "generator_process_cpu_peak": round(gen_max_process, 1),
        "server_cpu_mean": mean("server_cpu"),
        "machine_cpu_mean": mean("machine_cpu"),
        "server_rss_start_mb": round(statistics.fmean(head), 1) if rss else None,
        "server_rss_end_mb": round(statistics.fmean(tail), 1) if rss else None,
        "server_rss_growth": round(statistics.fmean(tail) / statistics.fmean(head) - 1, 4)
        if rss
        else None,
    }


def cpu_of(endpoints: list[dict[str, Any]], *, metered: dict[str, Any] | None) -> dict[str, Any]:
    """Server CPU per request by role from the meter's CPU seconds over the measured window."""
    rows = [r for r in endpoints if r["name"] != AGGREGATED]
    requests = sum(r["requests"] for r in rows if r["name"] not in NOT_REQUESTS)
    seconds = {role: round(v, 3) for role, v in (metered or {}).get("seconds", {}).items()}
    threads = next((r.get("server") for r in endpoints if r["name"] == AGGREGATED), None) or {}
    return {
        "requests": requests,
        "seconds": seconds,
        "found": (metered or {}).get("found", {}),
        "excluded_seconds": (metered or {}).get("excluded_seconds", {}),
        "window_s": (metered or {}).get("window_s"),
        # What the request threads themselves spent (Server-Timing cpu;dur), for comparison.
        "request_thread_ms": threads.get("mean_cpu_ms"),
    }


def endpoint_cpu(server: dict[str, Any] | None) -> dict[str, float] | None:
    if not server or server.get("median_cpu_ms") is None:
        return None
    return {"median": server["median_cpu_ms"], "mean": server["mean_cpu_ms"]}


def drift_of(timeline: dict[str, list[Any]]) -> dict[str, Any] | None:
    """p95 over the first and last tenth of the run (after the first step of users settles)."""
    points = [(t, p) for t, p in zip(timeline["t"], timeline["p95"], strict=True) if p]
    if len(points) < 20:
        return None
    tenth = len(points) // 10
    first = statistics.median(p for _, p in points[tenth : 2 * tenth])
    last = statistics.median(p for _, p in points[-tenth:])
    return {"p95_first_ms": first, "p95_last_ms": last, "p95_drift": round(last / first - 1, 4)}


def knee_of(timeline: dict[str, list[Any]], *, p95_target_ms: float) -> dict[str, Any] | None:
    """Per user step of a ramp: RPS and p95 once it settles; the knee is the best passing step."""
    steps: dict[int, list[int]] = {}
    for index, users in enumerate(timeline["users"]):
        steps.setdefault(users, []).append(index)
    table: list[dict[str, Any]] = []
    for users, indexes in sorted(steps.items()):
        if users == 0 or len(indexes) < 4:
            continue
        # Skip the step's first third: the users just arrived and the 10 s windows lag.
        settled = indexes[len(indexes) // 3 :]
        p95s = [timeline["p95"][i] for i in settled if timeline["p95"][i] is not None]
        table.append(
            {
                "users": users,
                "rps": round(statistics.fmean(timeline["rps"][i] for i in settled), 1),
                "p95_ms": statistics.median(p95s) if p95s else None,
                "fail_s": round(statistics.fmean(timeline["fail_s"][i] for i in settled), 2),
            }
        )
    if not table:
        return None
    passing = [
        s
        for s in table
        if s["p95_ms"] is not None and s["p95_ms"] <= p95_target_ms and s["fail_s"] == 0
    ]
    knee = max(passing, key=lambda s: float(s["rps"])) if passing else None
    return {"p95_target_ms": p95_target_ms, "steps": table, "knee": knee}


def summary_build(
    run_dir: Path,
    *,
    description: dict[str, Any],
    samples: list[dict[str, float]] | None = None,
    p95_target_ms: float = DEFAULT_P95_TARGET_MS,
    cpu: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``cpu``: the runner's CpuMeter result, ``{"seconds": {role: s}, "found": ...}``."""
    endpoints = endpoints_read(run_dir)
    server, cpu_warnings = server_timing_read(run_dir / "raw")
    for row in endpoints:
        row["server"] = server.get(row["name"])
        row["cpu_ms"] = endpoint_cpu(row["server"])
    server_cpu = cpu_of(endpoints, metered=cpu)
    timeline = timeline_read(run_dir)
    resources = resources_of(samples or [], cores=int(description.get("cores", 1)))
    warnings = []
    peak = resources.get("generator_process_cpu_mean_max", 0.0)
    if peak >= GENERATOR_SATURATED_PERCENT or cpu_warnings:
        warnings.append(
            f"the load generator was saturated (a Locust process averaged {peak:.0f}% of a core): "
            "the server was not the bottleneck; use WORKERS=N or fewer users"
        )
    missing = [role for role, found in server_cpu["found"].items() if not found]
    if missing:
        warnings.append(f"server CPU: no process found for {', '.join(missing)}; counted as 0")
    aggregate = next((r for r in endpoints if r["name"] == AGGREGATED), None)
    generators = generators_of(
        run_dir / "raw", aggregate, in_flight=int(description.get("users", 0))
    )
    warnings += generator_warnings(generators, workers=int(description.get("locust_workers", 0)))
    if aggregate and aggregate["failures"]:
        warnings.append(f"{aggregate['failures']} requests failed; see the errors table")
    summary: dict[str, Any] = {
        "description": description,
        "aggregate": aggregate,
        "endpoints": [r for r in endpoints if r["name"] != AGGREGATED],
        "errors": errors_read(run_dir),
        "timeline": timeline,
        "chat": chat_read(run_dir / "raw", endpoints),
        "generators": generators,
        "resources": resources,
        "server_cpu_ms_per_request": per_request_ms(server_cpu["seconds"], server_cpu["requests"])
        if cpu
        else None,
        "server_cpu": server_cpu,
        "drift": drift_of(timeline),
        "knee": knee_of(timeline, p95_target_ms=p95_target_ms)
        if description.get("shape") == "ramp"
        else None,
        "warnings": warnings,
    }
    return summary
