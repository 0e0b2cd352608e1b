"""The lab's history: one JSON line per measured run, kept in git under benchmarks/history/.

A results file is overwritten by the next run of its benchmark; the history is not. Every
``make perf-check``, ``make perf-baseline`` and ``make loadtest`` run appends a record:

    {"kind": ..., "date": ..., "commit": ..., "machine": {...}, "loadavg": [...],
     "figures": {"<name>": <number>, ...}, "failed": [...], "source": ...}

so the dashboard (``make dashboard``) can plot any figure over commits. ``python -m
loadtests.history import`` starts it from what benchmarks/results/ and reports/baselines/
already hold (one record per file, dated by its own fields or its last commit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# LAB_HISTORY_DIR elsewhere: the test suite points it at a temporary folder.
HISTORY_DIR = Path(os.environ.get("LAB_HISTORY_DIR") or ROOT / "benchmarks" / "history")
# Where each kind of record goes.
FILES = {
    "check": "perf-check.jsonl",
    "baseline": "perf-check.jsonl",
    "loadtest": "loadtest.jsonl",
    "import": "imported.jsonl",
    "replicas": "replicas.jsonl",
}
# Keys whose values describe a run rather than measure it.
SKIP_KEYS = frozenset(
    {"machine", "machine_info", "commit_info", "config", "commands", "settings", "versions"}
    | {"env", "raw", "markdown", "targets", "options", "params", "description", "timeline"}
    | {"hold_samples", "samples", "warnings", "loadavg", "loadavg_before", "loadavg_after"}
)
MAX_DEPTH = 5


def path_for(kind: str, directory: Path = HISTORY_DIR) -> Path:
    return directory / FILES[kind]


def append(record: Mapping[str, Any], directory: Path = HISTORY_DIR) -> Path:
    """Add one record to its kind's file (created on first use)."""
    path = path_for(str(record["kind"]), directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def read(path: Path) -> list[dict[str, Any]]:
    """Every record of a history file, oldest first; a torn last line (a run killed while
    writing) is skipped, not fatal."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    return {"host": platform.node(), "python": platform.python_version(), "cpus": _cpus()}


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


# --- load tests ------------------------------------------------------------------------------


def loadtest_record(summary: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """The figures of one load-test run: the aggregate, and per endpoint p50, p95, req/s,
    failure ratio and mean queries."""
    figures: dict[str, float] = {}
    aggregate = summary.get("aggregate") or {}
    for key in ("rps", "p50_ms", "p95_ms", "failure_ratio"):
        if isinstance(aggregate.get(key), int | float):
            figures[f"all.{key}"] = aggregate[key]
    for row in summary.get("endpoints") or []:
        for key in ("rps", "p50_ms", "p95_ms", "failure_ratio"):
            if isinstance(row.get(key), int | float):
                figures[f"{row['name']}.{key}"] = row[key]
        server = row.get("server") or {}
        if isinstance(server.get("mean_queries"), int | float):
            figures[f"{row['name']}.queries"] = server["mean_queries"]
    for role, value in (summary.get("server_cpu_ms_per_request") or {}).items():
        if isinstance(value, int | float):
            figures[f"cpu_ms.{role}"] = value
    description = summary.get("description") or {}
    return {
        "kind": "loadtest",
        "date": description.get("finished_utc") or "",
        "commit": description.get("commit") or commit(),
        "machine": machine(),
        "loadavg": description.get("loadavg_end") or [],
        "scenario": description.get("scenario", ""),
        "strategy": description.get("strategy", ""),
        "figures": figures,
        "failed": [],
        "source": source,
    }


# --- importing what is already on disk ---------------------------------------------------------


def numbers_of(node: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, float]]:
    """Every number under ``node`` by its dotted path; lists of records by their name."""
    if depth > MAX_DEPTH:
        return
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        yield prefix, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in SKIP_KEYS:
                yield from numbers_of(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    elif isinstance(node, list) and all(isinstance(item, dict) for item in node):
        for index, item in enumerate(node):
            name = item.get("name") or item.get("fullname") or str(index)
            yield from numbers_of(item, f"{prefix}[{name}]", depth + 1)


def _git_date_commit(path: Path) -> tuple[str, str]:
    result = subprocess.run(
        ["git", "log", "-1", "--format=%cI %h", "--", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    date, _, short = result.stdout.strip().partition(" ")
    return date, short


def import_record(path: Path) -> dict[str, Any] | None:
    """One record for a results file; None for a file with no numbers or not JSON."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if path.name == "summary.json":
        record = loadtest_record(data, source=str(path.relative_to(ROOT)))
        record["kind"] = "import"
    else:
        figures = dict(numbers_of(data))
        record = {"kind": "import", "figures": figures, "failed": [], "loadavg": []}
        record["source"] = str(path.relative_to(ROOT))
        record["machine"] = data.get("machine") or data.get("machine_info") or {}
        record["date"] = str(data.get("date") or data.get("datetime") or "")
        record["commit"] = str(data.get("commit") or "")
    git_date, git_commit = _git_date_commit(path)
    record["date"] = record.get("date") or git_date
    record["commit"] = record.get("commit") or git_commit
    return record if record["figures"] else None


def import_existing(directory: Path = HISTORY_DIR) -> int:
    """Write imported.jsonl afresh from benchmarks/results/ and reports/baselines/."""
    sources = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    sources += sorted((ROOT / "reports" / "baselines").glob("*.json"))
    sources += sorted((ROOT / "reports" / "baselines").glob("*/summary.json"))
    records = [r for r in (import_record(path) for path in sources) if r is not None]
    records.sort(key=lambda r: r["date"])
    target = path_for("import", directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.history", description=__doc__)
    parser.add_argument("command", choices=("import",))
    parser.parse_args(argv)
    count = import_existing()
    print(f"{count} records -> {path_for('import').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
