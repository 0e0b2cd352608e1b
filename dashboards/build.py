"""Builds dashboards/site/index.html from reports/ summaries and benchmark result files."""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboards.history import history_html

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

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1150px;
color:#1d2330;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #e3e7ef;padding-bottom:4px}
h3{font-size:15px;margin:20px 0 6px}h4{font-size:13px;margin:12px 0 4px;color:#4a5366}
.muted{color:#6b7385}.meta{color:#4a5366;font-size:13px;margin:2px 0 8px}
table{border-collapse:collapse;margin:4px 0 12px;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #e6e9f0;text-align:left;vertical-align:top}
th{background:#f4f6fa;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#fafbfd}a{color:#2457c5;text-decoration:none}
a:hover{text-decoration:underline}
.warn{background:#fff6e0;border:1px solid #f0d48a;padding:8px 12px;border-radius:4px}
.bad{color:#b3261e;font-weight:600}img{max-width:100%}
nav a{margin-right:12px}.cards{display:flex;flex-wrap:wrap;gap:0 24px;align-items:flex-start}
.card{max-width:100%;overflow-x:auto}
"""


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


def _fmt(value: Any) -> str:
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
    if not isinstance(value, dict) or not any(_scalar(value.get(role)) for role in ROLES):
        return None
    return {role: _num(value.get(role)) for role in ROLES}


def _cpu_cells(value: Any) -> list[float | None]:
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
                *_cpu_cells(row.get("cpu_ms_per_request")),
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
        [str(target), str(server), _num(row.get("rps")), *_cpu_cells(row["cpu_ms_per_request"])]
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


def _scalar(value: Any) -> bool:
    return _num(value) is not None


def _record(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and any(_scalar(v) for v in value.values())
        and all(not isinstance(v, dict) for v in value.values())
    )


def tables_walk(*, node: dict[str, Any], title: str, out: list[Any]) -> None:
    """Turns nested dicts into tables: scalars as key/value, sibling records pivoted."""
    if len(out) >= MAX_TABLES_PER_FILE:
        return
    items = [(k, v) for k, v in node.items() if k not in SKIP_KEYS]
    scalars = [[k, v] for k, v in items if _scalar(v)]
    records = {k: v for k, v in items if _record(v)}
    if len(scalars) > 8:  # wide rows scroll off the page; a long list reads better vertically
        out.append((title or "values", ["metric", "value"], scalars))
    elif scalars:
        out.append((title or "values", [k for k, _ in scalars], [[v for _, v in scalars]]))
    if records:
        columns: list[str] = []
        for rec in records.values():
            columns += [k for k, v in rec.items() if _scalar(v) and k not in columns]
        shared = min(sum(1 for c in columns if c in rec) for rec in records.values())
        if len(records) >= 2 and shared * 2 >= len(columns):
            rows = [[name, *(rec.get(c) for c in columns)] for name, rec in records.items()]
            out.append((title or "values", ["", *columns], rows))
        else:
            for name, rec in records.items():
                keys = [k for k, v in rec.items() if _scalar(v)]
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


def collect(*, reports_dir: Path, bench_files: list[Path]) -> Collected:
    got = Collected()
    if reports_dir.is_dir():
        for path in sorted(reports_dir.rglob("summary.json")):
            data = _read_json(path, got.skipped)
            if data is None:
                continue
            run = run_parse(path=path, root=reports_dir, data=data)
            if run is None:
                got.skipped.append((path, "not a load-test summary (no description/aggregate)"))
            else:
                got.runs.append(run)
        for path in sorted(reports_dir.rglob("compare.json")):
            data = _read_json(path, got.skipped)
            if data is None:
                continue
            cmp = compare_parse(path=path, root=reports_dir, data=data)
            if cmp is None:
                got.skipped.append((path, "not a compare report (no rows)"))
            else:
                got.compares.append(cmp)
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


def chart_png(runs: list[Run]) -> str | None:
    """RPS and p95 per run as one PNG, base64-encoded for an inline data URI."""
    plotted = [r for r in runs if r.rps is not None or r.p95_ms is not None]
    if not plotted:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.name}\n{r.strategy}" if r.strategy != "default" else r.name for r in plotted]
    height = max(2.5, 0.45 * len(plotted) + 1.2)
    fig, (ax_rps, ax_p95) = plt.subplots(1, 2, figsize=(11, height), sharey=True)
    ys = list(range(len(plotted)))
    ax_rps.barh(ys, [r.rps or 0 for r in plotted], color="#2457c5")
    ax_p95.barh(ys, [r.p95_ms or 0 for r in plotted], color="#d9822b")
    ax_rps.set_yticks(ys, labels, fontsize=8)
    ax_rps.invert_yaxis()
    ax_rps.set_title("requests / s (higher is better)", fontsize=10)
    ax_p95.set_title("p95 latency, ms (lower is better)", fontsize=10)
    for ax, vals in ((ax_rps, [r.rps for r in plotted]), (ax_p95, [r.p95_ms for r in plotted])):
        ax.grid(axis="x", alpha=0.3)
        for y, v in zip(ys, vals, strict=True):
            if v is not None:
                ax.text(v, y, f" {_fmt(v)}", va="center", fontsize=7)
        ax.margins(x=0.15)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def cpu_chart_png(runs: list[Run]) -> str | None:
    """Server CPU ms per request of each metered run, stacked by role, base64 PNG."""
    plotted = [r for r in runs if r.cpu_ms]
    if not plotted:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.name}\n{r.strategy}" if r.strategy != "default" else r.name for r in plotted]
    fig, ax = plt.subplots(figsize=(11, max(2.5, 0.45 * len(plotted) + 1.2)))
    ys = list(range(len(plotted)))
    left = [0.0] * len(plotted)
    for role, color in (("app", "#2457c5"), ("postgres", "#3c9a5f"), ("redis", "#c0392b")):
        values = [(r.cpu_ms or {}).get(role) or 0.0 for r in plotted]
        ax.barh(ys, values, left=left, color=color, label=role)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(ys, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title("server CPU ms per request, by role (lower is better)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _link(*, target: Path, site_dir: Path, text: str) -> str:
    if not target.exists():
        return ""
    rel = Path(os.path.relpath(target, site_dir)).as_posix()
    return f'<a href="{_e(rel)}">{_e(text)}</a>'


def _report_links(directory: Path, site_dir: Path) -> str:
    links = [
        _link(target=directory / name, site_dir=site_dir, text=name)
        for name in ("report.html", "report.md")
    ]
    return " ".join(x for x in links if x) or '<span class="muted">-</span>'


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for v in row:
            if _scalar(v):
                cells.append(f'<td class="num">{_e(_fmt(v))}</td>')
            else:
                cells.append(f"<td>{_e(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _runs_html(runs: list[Run], site_dir: Path) -> str:
    if not runs:
        return '<p class="muted">No load-test summaries found under reports/.</p>'
    head = [
        "run",
        "scenario",
        "date (UTC)",
        "commit",
        "users",
        "RPS",
        "p95 ms",
        "failures",
        "strategy",
        "queries / req",
        *CPU_HEADERS,
        "report",
    ]
    rows = []
    for r in runs:
        fail = "-" if r.failures is None else f"{r.failures:,}"
        if r.failure_ratio:
            fail = f'<span class="bad">{fail} ({r.failure_ratio:.1%})</span>'
        scenario = f"{r.scenario} / {r.shape}" if r.shape else r.scenario
        cells = [
            f"<td>{_e(r.name)}</td>",
            f"<td>{_e(scenario)}</td>",
            f"<td>{_e(r.started)}</td>",
            f"<td><code>{_e(r.commit)}</code></td>",
            f'<td class="num">{_e(_fmt(r.users))}</td>',
            f'<td class="num">{_e(_fmt(r.rps))}</td>',
            f'<td class="num">{_e(_fmt(r.p95_ms))}</td>',
            f'<td class="num">{fail}</td>',
            f"<td>{_e(r.strategy)}</td>",
            f'<td class="num">{_e(_fmt(r.mean_queries))}</td>',
            *(f'<td class="num">{_e(_fmt(v))}</td>' for v in _cpu_cells(r.cpu_ms)),
            f"<td>{_report_links(r.directory, site_dir)}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    heads = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _compares_html(compares: list[Compare], site_dir: Path) -> str:
    parts = []
    for c in compares:
        parts.append(
            f"<h3>{_e(c.name)}</h3><p class='meta'>A = <code>{_e(c.a)}</code>, "
            f"B = <code>{_e(c.b)}</code> · {_report_links(c.directory, site_dir)}</p>"
        )
        cols = ["rps", "p95_ms", "queries", "cpu_ms"]
        headers = ["endpoint"] + [f"{col} {side}" for col in cols for side in ("A", "B", "B/A")]
        rows = [
            [row.get("name", "?")]
            + [row.get(f"{col}_{sfx}") for col in cols for sfx in ("a", "b", "ratio")]
            for row in c.rows
        ]
        parts.append(_table(headers, rows))
        if c.cpu:
            rows = [[role, *(c.cpu[role].get(k) for k in ("a", "b", "ratio"))] for role in c.cpu]
            parts.append(_table(["server CPU ms / request", "A", "B", "B/A"], rows))
    return "".join(parts)


def _cpu_html(tables: list[CpuTable], root: Path) -> str:
    parts = []
    for cpu in tables:
        parts.append(f"<h3>{_e(_shown(cpu.path, root))}</h3>")
        if cpu.meta:
            parts.append(f"<p class='meta'>{_e(cpu.meta)}</p>")
        parts.append(_table(cpu.headers, cpu.rows))
    return "".join(parts)


def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _bench_html(bench: Bench, root: Path) -> str:
    shown = _shown(bench.path, root)
    meta = " · ".join(
        x
        for x in (
            f"date {bench.date}" if bench.date else "",
            f"commit <code>{_e(bench.commit)}</code>" if bench.commit else "",
            _e(bench.machine),
        )
        if x
    )
    parts = [f'<h3 id="{_e(bench.path.stem)}">{_e(shown)}</h3>']
    if meta:
        parts.append(f"<p class='meta'>{meta}</p>")
    parts.append('<div class="cards">')
    for title, headers, rows in bench.tables:
        parts.append('<div class="card">')
        if title and title not in ("values", "pytest-benchmark"):
            parts.append(f"<h4>{_e(title)}</h4>")
        parts.append(_table(headers, rows))
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def page_render(
    *,
    got: Collected,
    site_dir: Path,
    root: Path,
    chart: str | None,
    cpu_chart: str | None = None,
    history: str = "",
) -> str:
    skipped = ""
    if got.skipped:
        items = "".join(
            f"<li>skipped <code>{_e(_shown(p, root))}</code>: {_e(why)}</li>"
            for p, why in got.skipped
        )
        skipped = f"<div class='warn'><b>Skipped files</b><ul>{items}</ul></div>"
    chart_html = (
        f'<img alt="RPS and p95 per run" src="data:image/png;base64,{chart}">' if chart else ""
    )
    cpu_chart_html = (
        f'<img alt="server CPU ms per request by role" src="data:image/png;base64,{cpu_chart}">'
        if cpu_chart
        else ""
    )
    bench_nav = " ".join(f'<a href="#{_e(b.path.stem)}">{_e(b.path.stem)}</a>' for b in got.benches)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>instalab dashboard</title>
<style>{CSS}</style></head><body>
<h1>instalab performance dashboard</h1>
<p class="muted">{len(got.runs)} load-test runs, {len(got.compares)} A/B comparisons,
{len(got.benches)} benchmark files. Built by <code>make dashboard</code>.</p>
{skipped}
{history}
<h2>Load-test runs</h2>
{_runs_html(got.runs, site_dir)}
{chart_html}
<h2>Server CPU per request</h2>
<p class="muted">Milliseconds of server CPU per request, by role: the app's processes,
PostgreSQL and Redis (loadtests/cpu.py). The load-test runs above carry theirs in the table; the
benchmark files below, per endpoint or server. CPU per request moves least with a noisy box.</p>
{cpu_chart_html}
{_cpu_html(got.cpu_tables, root) or '<p class="muted">No benchmark file with CPU figures yet.</p>'}
<h2>A/B comparisons</h2>
{_compares_html(got.compares, site_dir) or '<p class="muted">None.</p>'}
<h2>Benchmark history</h2>
<nav>{bench_nav}</nav>
{"".join(_bench_html(b, root) for b in got.benches) or '<p class="muted">None.</p>'}
</body></html>
"""


def dashboard_build(
    *, root: Path, reports_dir: Path, bench_globs: list[str], out_dir: Path
) -> tuple[Path, Collected]:
    bench_files = sorted({p for pattern in bench_globs for p in root.glob(pattern) if p.is_file()})
    got = collect(reports_dir=reports_dir, bench_files=bench_files)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = page_render(
        got=got,
        site_dir=out_dir,
        root=root,
        chart=chart_png(got.runs),
        cpu_chart=cpu_chart_png(got.runs),
        history=history_html(
            root / "benchmarks" / "history", root / "benchmarks" / "baseline.json"
        ),
    )
    out = out_dir / "index.html"
    out.write_text(page, encoding="utf-8")
    return out, got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--reports", type=Path, default=None, help="default: ROOT/reports")
    parser.add_argument(
        "--bench",
        action="append",
        default=None,
        help="glob under ROOT (repeatable); default: benchmarks/results/*.json and "
        "reports/baselines/*.json",
    )
    parser.add_argument("--out", type=Path, default=None, help="default: ROOT/dashboards/site")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    out, got = dashboard_build(
        root=root,
        reports_dir=(args.reports or root / "reports").resolve(),
        bench_globs=args.bench or ["benchmarks/results/*.json", "reports/baselines/*.json"],
        out_dir=(args.out or root / "dashboards" / "site").resolve(),
    )
    for path, why in got.skipped:
        print(f"warning: skipped {path}: {why}", file=sys.stderr)
    print(
        f"{len(got.runs)} runs, {len(got.compares)} comparisons, {len(got.benches)} benchmark files"
        f" -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
