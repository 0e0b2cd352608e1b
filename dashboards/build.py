"""Builds dashboards/site/index.html from reports/ summaries and benchmark result files.

What it reads is dashboards/collect.py's, its charts dashboards/charts.py's; the page is
rendered here.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from pathlib import Path
from typing import Any

from dashboards.charts import chart_png, cpu_chart_png
from dashboards.collect import (
    CPU_HEADERS,
    Bench,
    Collected,
    Compare,
    CpuTable,
    Run,
    collect,
    cpu_cells,
    fmt,
    scalar,
)
from dashboards.history import history_html

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
            if scalar(v):
                cells.append(f'<td class="num">{_e(fmt(v))}</td>')
            else:
                cells.append(f"<td>{_e(fmt(v))}</td>")
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
            f'<td class="num">{_e(fmt(r.users))}</td>',
            f'<td class="num">{_e(fmt(r.rps))}</td>',
            f'<td class="num">{_e(fmt(r.p95_ms))}</td>',
            f'<td class="num">{fail}</td>',
            f"<td>{_e(r.strategy)}</td>",
            f'<td class="num">{_e(fmt(r.mean_queries))}</td>',
            *(f'<td class="num">{_e(fmt(v))}</td>' for v in cpu_cells(r.cpu_ms)),
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
