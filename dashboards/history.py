"""The dashboard's history section: each perf-check figure over commits, against its baseline.

One small inline SVG per figure (no chart library, nothing fetched): the baseline as a line,
its tolerance as a shaded band, every recorded run as a point, and the runs that failed the
figure (or fell outside the band) in red. Load-test runs get one line per endpoint's p95.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.verdicts import judge
from loadtests import history

WIDTH, HEIGHT, PAD = 320, 110, 22
BAD, GOOD, BAND, LINE = "#b3261e", "#2457c5", "#dfe8fb", "#6b7385"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _label(record: Mapping[str, Any]) -> str:
    return f"{record.get('commit', '?')} {str(record.get('date', ''))[:16]}"


def outside(value: float, base: Mapping[str, Any], kind: str) -> bool:
    """Outside the tolerance in the bad direction (or any change, for exact figures), as
    perf-check judges it (an advisory figure's slower runs included)."""
    return judge(f"{kind}:chart", base, value).status in ("regressed", "changed", "slower")


def figure_svg(
    name: str, points: Sequence[tuple[str, float, bool]], base: Mapping[str, Any] | None
) -> str:
    """A line of (label, value, failed) points, with the baseline and its band behind."""
    values = [value for _, value, _ in points]
    if base is not None:
        middle, tolerance = float(base["value"]), float(base["tolerance"])
        values += [middle * (1 - tolerance), middle * (1 + tolerance)]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    span_x = max(1, len(points) - 1)

    def x(index: int) -> float:
        return PAD + index * (WIDTH - 2 * PAD) / span_x

    def y(value: float) -> float:
        return HEIGHT - PAD - (value - low) * (HEIGHT - 2 * PAD) / (high - low)

    parts = [
        f'<svg class="spark" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{_e(name)} over {len(points)} runs">'
    ]
    if base is not None:
        top, bottom = y(middle * (1 + tolerance)), y(middle * (1 - tolerance))
        parts.append(
            f'<rect x="{PAD}" y="{top:.1f}" width="{WIDTH - 2 * PAD}" '
            f'height="{max(1.0, bottom - top):.1f}" fill="{BAND}"><title>tolerance '
            f"±{tolerance:.0%}</title></rect>"
        )
        parts.append(
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(middle):.1f}" y2="{y(middle):.1f}" '
            f'stroke="{LINE}" stroke-dasharray="4 3"><title>baseline {middle:g}</title></line>'
        )
    path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v, _) in enumerate(points))
    parts.append(f'<polyline points="{path}" fill="none" stroke="{GOOD}" stroke-width="1.5"/>')
    for index, (label, value, failed) in enumerate(points):
        colour = BAD if failed else GOOD
        parts.append(
            f'<circle class="{"bad" if failed else "ok"}" cx="{x(index):.1f}" '
            f'cy="{y(value):.1f}" r="{4 if failed else 2.5}" fill="{colour}">'
            f"<title>{_e(label)}: {value:g}</title></circle>"
        )
    parts.append(f'<text x="{PAD}" y="14" font-size="11">{_e(name)}</text></svg>')
    return "".join(parts)


def perf_section(records: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any]) -> str:
    """A chart per figure the baseline holds, from every check and baseline run recorded."""
    figures: Mapping[str, Any] = baseline.get("figures", {})
    if not records and not figures:
        return '<p class="muted">No perf-check runs recorded yet (make perf-check).</p>'
    charts = []
    for name in sorted(figures):
        kind = name.split(":", 1)[0]
        base = figures[name]
        points = [
            (
                _label(record),
                float(record["figures"][name]),
                name in record.get("failed", [])
                or outside(float(record["figures"][name]), base, kind),
            )
            for record in records
            if name in record.get("figures", {})
        ]
        if points:
            charts.append(f'<div class="card">{figure_svg(name, points, base)}</div>')
    failed_runs = sum(1 for record in records if record.get("failed"))
    meta = (
        f"{len(records)} runs recorded; {failed_runs} with a failed figure. Baseline from "
        f"{_e(baseline.get('commit', '?'))} on {_e(str(baseline.get('date', '?'))[:10])}; the "
        "band is its tolerance, red points are outside it."
    )
    return f'<p class="meta">{meta}</p><div class="cards">{"".join(charts)}</div>'


def loadtest_section(records: Sequence[Mapping[str, Any]]) -> str:
    """p95 per endpoint over load-test runs of the same scenario."""
    if not records:
        return '<p class="muted">No load-test runs recorded yet.</p>'
    charts = []
    by_scenario: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_scenario.setdefault(str(record.get("scenario") or "?"), []).append(record)
    for scenario, runs in sorted(by_scenario.items()):
        names = sorted({n for r in runs for n in r.get("figures", {}) if n.endswith(".p95_ms")})
        for name in names:
            points = [
                (_label(r), float(r["figures"][name]), False) for r in runs if name in r["figures"]
            ]
            if len(points) > 1:
                chart = figure_svg(f"{scenario}: {name}", points, None)
                charts.append(f'<div class="card">{chart}</div>')
    return f'<div class="cards">{"".join(charts)}</div>' if charts else ""


def _kind(machine: Mapping[str, Any]) -> tuple[Any, Any]:
    return machine.get("cpu"), machine.get("nproc")


def baselines_of(baseline_path: Path) -> list[dict[str, Any]]:
    """The default baseline, then those of other kinds of machine beside it (perf-check's
    benchmarks/baselines/), each with the path it came from."""
    paths = [baseline_path, *sorted((baseline_path.parent / "baselines").glob("*.json"))]
    return [{**json.loads(path.read_text()), "path": path} for path in paths if path.exists()]


def perf_sections(records: Sequence[Mapping[str, Any]], baseline_path: Path) -> str:
    """One section per baseline, charting the runs of its kind of machine; runs of a kind with
    no baseline of its own go with the default one, as perf-check judges them."""
    found = baselines_of(baseline_path)
    if len(found) < 2:
        return perf_section(records, found[0] if found else {})
    own = {_kind(baseline.get("machine", {})): index for index, baseline in enumerate(found)}
    groups: list[list[Mapping[str, Any]]] = [[] for _ in found]
    for record in records:
        groups[own.get(_kind(record.get("machine", {})), 0)].append(record)
    sections = []
    for baseline, runs in zip(found, groups, strict=True):
        cpu, cores = _kind(baseline.get("machine", {}))
        title = f"{cpu}, {cores} cores ({baseline['path'].parent.name}/{baseline['path'].name})"
        sections.append(f"<h4>{_e(title)}</h4>{perf_section(runs, baseline)}")
    return "".join(sections)


def history_html(directory: Path, baseline_path: Path) -> str:
    perf = history.read(history.path_for("check", directory))
    loads = history.read(history.path_for("loadtest", directory))
    loads += [r for r in history.read(history.path_for("import", directory)) if r.get("scenario")]
    loads.sort(key=lambda r: str(r.get("date", "")))
    return (
        "<h2>Regression history</h2>"
        '<p class="muted">Every <code>make perf-check</code> and load-test run appends a '
        "record to benchmarks/history/ (docs/regressions.md).</p>"
        f"<h3>perf-check figures</h3>{perf_sections(perf, baseline_path)}"
        f"<h3>Load-test p95 by endpoint</h3>{loadtest_section(loads)}"
    )
