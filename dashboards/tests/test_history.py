"""The dashboard's history section: each figure over runs, its baseline band, failures in red."""

from __future__ import annotations

import json
import re

from dashboards.history import history_html, outside
from loadtests import history

BASELINE = {
    "commit": "abc1234",
    "date": "2026-11-30T06:00:00+00:00",
    "figures": {
        "share:feed.cached": {"value": 0.8, "tolerance": 0.1},
        "queries:feed.cached": {"value": 0, "tolerance": 0},
        "cpu:feed.cached": {"value": 1.0, "tolerance": 0.2},
    },
}


def test_it_charts_every_baseline_figure_with_its_band_and_marks_failed_runs(tmp_path):
    runs = [
        {"share:feed.cached": 0.81, "queries:feed.cached": 0, "cpu:feed.cached": 1.0},
        {"share:feed.cached": 0.5, "queries:feed.cached": 2, "cpu:feed.cached": 1.1},
    ]
    for number, figures in enumerate(runs):
        failed = [] if number == 0 else ["share:feed.cached", "queries:feed.cached"]
        record = {"kind": "check", "commit": f"c{number}", "date": "", "figures": figures}
        history.append({**record, "failed": failed}, tmp_path)
    (tmp_path / "baseline.json").write_text(json.dumps(BASELINE))

    page = history_html(tmp_path, tmp_path / "baseline.json")

    charts = re.findall(r'<svg class="spark".*?</svg>', page)
    assert len(charts) == 3
    by_name = {re.search(r'aria-label="([^ ]+) over', c).group(1): c for c in charts}
    assert by_name["share:feed.cached"].count('class="bad"') == 1
    assert by_name["queries:feed.cached"].count('class="bad"') == 1
    assert by_name["cpu:feed.cached"].count('class="bad"') == 0  # +10 % within ±20 %
    assert "tolerance ±10%" in by_name["share:feed.cached"]
    assert "2 runs recorded; 1 with a failed figure" in page


def test_outside_looks_in_each_figures_bad_direction():
    base = {"value": 1.0, "tolerance": 0.1}
    assert outside(0.85, base, "share") and not outside(1.5, base, "share")
    assert outside(1.15, base, "cpu") and not outside(0.5, base, "cpu")
    assert outside(2, {"value": 3, "tolerance": 0}, "queries")
    assert outside(1.15, base, "calls") and not outside(0.5, base, "calls")


def test_it_says_so_when_nothing_is_recorded(tmp_path):
    page = history_html(tmp_path, tmp_path / "missing.json")
    assert "No perf-check runs recorded yet" in page
    assert "No load-test runs recorded yet" in page


def test_each_kind_of_machine_is_charted_against_its_own_baseline(tmp_path):
    xeon, epyc, other = (
        {"cpu": "Xeon", "nproc": 2},
        {"cpu": "EPYC", "nproc": 2},
        {"cpu": "ARM", "nproc": 4},
    )
    figure = "share:feed.cached"
    (tmp_path / "baseline.json").write_text(json.dumps({**BASELINE, "machine": xeon}))
    (tmp_path / "baselines").mkdir()
    epyc_baseline = {
        "commit": "def5678",
        "machine": epyc,
        "figures": {figure: BASELINE["figures"][figure] | {"value": 0.5}},
    }
    (tmp_path / "baselines" / "epyc-2cpu.json").write_text(json.dumps(epyc_baseline))
    # 0.5 is a regression for the Xeon's baseline (0.8) and exactly the EPYC's.
    for number, machine in enumerate((xeon, epyc, epyc, other)):
        record = {"kind": "check", "commit": f"c{number}", "date": "", "machine": machine}
        history.append({**record, "figures": {figure: 0.5}, "failed": []}, tmp_path)

    page = history_html(tmp_path, tmp_path / "baseline.json")

    sections = page.split("<h4>")[1:]
    assert [s.split("</h4>")[0] for s in sections] == [
        "Xeon, 2 cores (tmp_path/baseline.json)".replace("tmp_path", tmp_path.name),
        "EPYC, 2 cores (baselines/epyc-2cpu.json)",
    ]
    # The Xeon and the machine with no baseline of its own against the default; EPYC apart.
    assert "2 runs recorded" in sections[0] and sections[0].count('class="bad"') == 2
    assert "2 runs recorded" in sections[1] and sections[1].count('class="bad"') == 0
