"""What the dashboard reads: load-test summaries, A/B compares and benchmark files, each
parsed into a small record or a list of titled tables; files it cannot use are listed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Config, environment and raw samples are noise on a dashboard; the numbers live elsewhere.
SKIP_KEYS = frozenset(
    {
        "machine",
        "machine_info",
        "commit_info",
        "config",
        "commands",
        "settings",
        "versions",
        "env",
        "raw",
        "markdown",
        "targets",
        "hold_samples",
        "options",
        "params",
    }
)
MAX_TABLES_PER_FILE = 16
SEP = " \u203a "
ROLES = ("app", "postgres", "redis", "total")
CPU_HEADERS = ["CPU ms/req app", "postgres", "redis", "total"]


@dataclass
class Run:
    """One load-test run, as read from a summary.json."""

    name: str
    directory: Path
    scenario: str
    shape: str
    users: Any
    started: str
    commit: str
    strategy: str
    rps: float | None
    p95_ms: float | None
    failures: int | None
    failure_ratio: float | None
    mean_queries: float | None
    # Server CPU ms per request by role (app, postgres, redis, total); None before it was metered.
    cpu_ms: dict[str, float | None] | None = None


@dataclass
class Compare:
    """One A/B compare report (compare.json)."""

    name: str
    directory: Path
    a: str
    b: str
    rows: list[dict[str, Any]]
    # role -> {"a", "b", "ratio"}: server CPU ms per request; empty before it was metered.
    cpu: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Bench:
    """One benchmark history file, reduced to titled tables."""

    path: Path
    date: str
    commit: str
    machine: str
    tables: list[tuple[str, list[str], list[list[Any]]]]


@dataclass
class CpuTable:
    """Server CPU per request from one benchmark file (endpoints-*.json, serving-*.json)."""

    path: Path
    meta: str
    headers: list[str]
    rows: list[list[Any]]


@dataclass
class Collected:
    """Everything read from disk, plus the files that could not be used."""

    runs: list[Run] = field(default_factory=list)
    compares: list[Compare] = field(default_factory=list)
    benches: list[Bench] = field(default_factory=list)
    cpu_tables: list[CpuTable] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        mag = abs(value)
        if mag >= 1000:
            return f"{value:,.0f}"
        if mag >= 100:
            return f"{value:.1f}".removesuffix(".0")
        if mag >= 1 or mag == 0:
            return f"{value:.2f}".rstrip("0").rstrip(".")
        return f"{value:.3g}"
    return str(value)


def _read_json(path: Path, skipped: list[tuple[Path, str]]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        skipped.append((path, f"unreadable JSON: {exc.__class__.__name__}: {exc}"))
        return None


def run_parse(*, path: Path, root: Path, data: Any) -> Run | None:
    if not isinstance(data, dict):
        return None
    desc, agg = data.get("description"), data.get("aggregate")
    if not isinstance(desc, dict) or not isinstance(agg, dict):
        return None
    server = agg.get("server") if isinstance(agg.get("server"), dict) else {}
    failures = agg.get("failures")
    return Run(
        name=str(path.parent.relative_to(root)),
        directory=path.parent,
        scenario=str(desc.get("scenario", "?")),
        shape=str(desc.get("shape", "")),
        users=desc.get("users", ""),
        started=str(desc.get("started_utc", ""))[:16].replace("T", " "),
        commit=str(desc.get("commit", "")),
        strategy=str(desc.get("strategy", "default")),
        rps=_num(agg.get("rps")),
        p95_ms=_num(agg.get("p95_ms")),
        failures=failures if isinstance(failures, int) else None,
        failure_ratio=_num(agg.get("failure_ratio")),
        mean_queries=_num((server or {}).get("mean_queries")),
        cpu_ms=_cpu_roles(data.get("server_cpu_ms_per_request")),
    )


def _cpu_roles(value: Any) -> dict[str, float | None] | None:
    """``{app, postgres, redis, total}`` ms per request, each a number or None; None if absent."""
    if not isinstance(value, dict) or not any(scalar(value.get(role)) for role in ROLES):
        return None
    return {role: _num(value.get(role)) for role in ROLES}


def cpu_cells(value: Any) -> list[float | None]:
    roles = _cpu_roles(value) or {}
    return [roles.get(role) for role in ROLES]


def _meta_of(data: dict[str, Any]) -> str:
    parts = [str(data.get(k) or "")[:16].replace("T", " ") for k in ("date", "when")]
    commit = str(data.get("commit") or "")
    return " · ".join(p for p in (*parts, f"commit {commit}" if commit else "") if p)


def endpoints_cpu_parse(*, path: Path, data: Any) -> CpuTable | None:
    """benchmarks/endpoints.py's file: per endpoint req/s, its share of hello and CPU by role."""
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    if not isinstance(endpoints, dict):
        return None
    rows = []
    for label, row in endpoints.items():
        if not isinstance(row, dict):
            continue
        timing = row.get("server_timing") if isinstance(row.get("server_timing"), dict) else {}
        rows.append(
            [
                str(label),
                _num(row.get("rps_median", row.get("rps"))),
                _num(row.get("share_of_hello", row.get("ratio_to_hello"))),
                *cpu_cells(row.get("cpu_ms_per_request")),
                _num((timing or {}).get("cpu_ms")),
            ]
        )
    if not rows:
        return None
    headers = ["endpoint", "req/s", "share of hello", *CPU_HEADERS, "cpu;dur ms"]
    return CpuTable(path=path, meta=_meta_of(data), headers=headers, rows=rows)


def serving_cpu_parse(*, path: Path, data: Any) -> CpuTable | None:
    """benchmarks/serving.py's file, when its rounds were metered: CPU by role per server."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or data.get("benchmark") != "serving":
        return None
    rows = [
        [str(target), str(server), _num(row.get("rps")), *cpu_cells(row["cpu_ms_per_request"])]
        for target, servers in results.items()
        if isinstance(servers, dict)
        for server, row in servers.items()
        if isinstance(row, dict) and _cpu_roles(row.get("cpu_ms_per_request"))
    ]
    if not rows:
        return None
    headers = ["target", "server", "req/s", *CPU_HEADERS]
    return CpuTable(path=path, meta=_meta_of(data), headers=headers, rows=rows)


def _cpu_flatten(node: Any) -> Any:
    """``cpu_ms_per_request: {app: ..}`` -> ``CPU ms/req app: ..`` beside its siblings, so a
    benchmark row keeps its CPU columns in one table rather than a table of its own."""
    if not isinstance(node, dict):
        return node
    flat: dict[str, Any] = {}
    for key, value in node.items():
        roles = _cpu_roles(value) if key == "cpu_ms_per_request" else None
        if roles is not None:
            flat.update({f"CPU ms/req {role}": ms for role, ms in roles.items()})
        else:
            flat[key] = _cpu_flatten(value)
    return flat


def compare_parse(*, path: Path, root: Path, data: Any) -> Compare | None:
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        return None
    rows = [r for r in data["rows"] if isinstance(r, dict)]
    return Compare(
        name=str(path.parent.relative_to(root)),
        directory=path.parent,
        a=str(data.get("a", "a")),
        b=str(data.get("b", "b")),
        rows=rows,
        cpu=_compare_cpu(data.get("server_cpu_ms_per_request")),
    )


def _compare_cpu(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    return {role: value[role] for role in ROLES if isinstance(value.get(role), dict)}


def scalar(value: Any) -> bool:
    return _num(value) is not None


def _record(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and any(scalar(v) for v in value.values())
        and all(not isinstance(v, dict) for v in value.values())
    )


def tables_walk(*, node: dict[str, Any], title: str, out: list[Any]) -> None:
    """Turns nested dicts into tables: scalars as key/value, sibling records pivoted."""
    if len(out) >= MAX_TABLES_PER_FILE:
        return
    items = [(k, v) for k, v in node.items() if k not in SKIP_KEYS]
    scalars = [[k, v] for k, v in items if scalar(v)]
    records = {k: v for k, v in items if _record(v)}
    if len(scalars) > 8:  # wide rows scroll off the page; a long list reads better vertically
        out.append((title or "values", ["metric", "value"], scalars))
    elif scalars:
        out.append((title or "values", [k for k, _ in scalars], [[v for _, v in scalars]]))
    if records:
        columns: list[str] = []
        for rec in records.values():
            columns += [k for k, v in rec.items() if scalar(v) and k not in columns]
        shared = min(sum(1 for c in columns if c in rec) for rec in records.values())
        if len(records) >= 2 and shared * 2 >= len(columns):
            rows = [[name, *(rec.get(c) for c in columns)] for name, rec in records.items()]
            out.append((title or "values", ["", *columns], rows))
        else:
            for name, rec in records.items():
                keys = [k for k, v in rec.items() if scalar(v)]
                out.append(
                    (f"{title}{SEP}{name}" if title else name, keys, [[rec[k] for k in keys]])
                )
    for key, value in items:
        if isinstance(value, dict) and key not in records:
            tables_walk(node=value, title=f"{title}{SEP}{key}" if title else key, out=out)


def _pytest_benchmark_table(data: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    rows = []
    for b in data.get("benchmarks", []):
        stats = b.get("stats") or {}
        ms = [
            _num(stats.get(k)) for k in ("median", "mean", "min", "max")
        ]  # pytest-benchmark stores seconds
        rows.append(
            [
                str(b.get("name", "?")),
                *((v * 1000 if v is not None else None) for v in ms),
                stats.get("rounds"),
            ]
        )
    return (
        "pytest-benchmark",
        ["benchmark", "median ms", "mean ms", "min ms", "max ms", "rounds"],
        rows,
    )


def _machine_text(machine: Any) -> str:
    if isinstance(machine, str):
        return machine
    if not isinstance(machine, dict):
        return ""
    cpu = machine.get("cpu")
    parts = [
        str(machine.get("node", "")),
        str(cpu.get("brand_raw", "")) if isinstance(cpu, dict) else str(cpu or ""),
    ]
    cores = machine.get("cpus") or machine.get("nproc")
    if not cores and isinstance(cpu, dict):
        cores = cpu.get("count")
    if cores:
        parts.append(f"{cores} cpus")
    if machine.get("python"):
        parts.append(f"python {machine['python']}")
    return ", ".join(p for p in parts if p)


def bench_parse(*, path: Path, data: Any) -> Bench | None:
    if not isinstance(data, dict):
        return None
    commit_info = data.get("commit_info") if isinstance(data.get("commit_info"), dict) else {}
    commit = str(data.get("commit") or (commit_info or {}).get("id", "") or "")[:12]
    if (commit_info or {}).get("dirty"):
        commit += "-dirty"
    when = data.get("date") or data.get("when") or data.get("datetime") or ""
    date = str(when)[:16].replace("T", " ")
    machine = _machine_text(data.get("machine") or data.get("machine_info"))
    tables: list[Any] = []
    if isinstance(data.get("benchmarks"), list):
        tables.append(_pytest_benchmark_table(data))
    else:
        tables_walk(node=_cpu_flatten(data), title="", out=tables)
    if not tables:
        return None
    return Bench(path=path, date=date, commit=commit, machine=machine, tables=tables)


def _reports_parse(
    reports_dir: Path,
    name: str,
    parse: Callable[..., T | None],
    why: str,
    skipped: list[tuple[Path, str]],
) -> list[T]:
    """Every ``name`` under ``reports_dir`` that ``parse`` understands; the rest are skipped."""
    parsed: list[T] = []
    for path in sorted(reports_dir.rglob(name)):
        data = _read_json(path, skipped)
        if data is None:
            continue
        item = parse(path=path, root=reports_dir, data=data)
        if item is None:
            skipped.append((path, why))
        else:
            parsed.append(item)
    return parsed


def collect(*, reports_dir: Path, bench_files: list[Path]) -> Collected:
    got = Collected()
    if reports_dir.is_dir():
        why = "not a load-test summary (no description/aggregate)"
        got.runs += _reports_parse(reports_dir, "summary.json", run_parse, why, got.skipped)
        why = "not a compare report (no rows)"
        got.compares += _reports_parse(reports_dir, "compare.json", compare_parse, why, got.skipped)
    for path in bench_files:
        data = _read_json(path, got.skipped)
        if data is None:
            continue
        cpu = (endpoints_cpu_parse if path.name.startswith("endpoints-") else serving_cpu_parse)(
            path=path, data=data
        )
        if cpu is not None:
            got.cpu_tables.append(cpu)
        if path.name.startswith("endpoints-") and cpu is not None:
            continue  # its whole content is in the CPU section
        bench = bench_parse(path=path, data=data)
        if bench is None:
            got.skipped.append((path, "no numeric results found"))
        else:
            got.benches.append(bench)
    got.runs.sort(key=lambda r: (r.started, r.name))
    return got
