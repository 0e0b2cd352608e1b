"""The dashboard builder reads summaries and benchmark files and writes one relative-linked page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import dashboard_build, main


def _summary(
    *, scenario: str, strategy: str, rps: float, p95: float, queries: float
) -> dict[str, Any]:
    return {
        "description": {
            "scenario": scenario,
            "shape": "steady",
            "users": 30,
            "commit": "abc1234",
            "strategy": strategy,
            "started_utc": "2026-11-26T08:45:00+00:00",
        },
        "aggregate": {
            "requests": 1000,
            "failures": 0,
            "failure_ratio": 0.0,
            "rps": rps,
            "p95_ms": p95,
            "server": {"mean_queries": queries},
        },
    }


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    runs = {
        "20261126-feed": _summary(
            scenario="feed", strategy="feed=naive", rps=12.34, p95=5432.0, queries=86.83
        ),
        "20261126-search": _summary(
            scenario="search", strategy="search=indexed", rps=45.67, p95=47.0, queries=2.11
        ),
    }
    for name, summary in runs.items():
        run_dir = tmp_path / "reports" / name
        run_dir.mkdir(parents=True)
        (run_dir / "summary.json").write_text(json.dumps(summary))
        (run_dir / "report.html").write_text("<html></html>")
    broken = tmp_path / "reports" / "broken-run"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "feed-bench.json").write_text(
        json.dumps(
            {
                "commit": "f63ad43",
                "when": "2026-11-26T08:00:00+00:00",
                "machine": {"cpus": 2, "python": "3.11.7"},
                "pages": {
                    "naive": {"median_ms": 1046.5, "queries": 197},
                    "cached": {"median_ms": 9.75, "queries": 0},
                },
            }
        )
    )
    return tmp_path


def _build(lab: Path) -> tuple[str, list[str]]:
    out, got = dashboard_build(
        root=lab,
        reports_dir=lab / "reports",
        bench_globs=["benchmarks/results/*.json"],
        out_dir=lab / "dashboards" / "site",
    )
    assert out == lab / "dashboards" / "site" / "index.html"
    return out.read_text(), [str(p) for p, _ in got.skipped]


def test_it_shows_both_runs_numbers(lab: Path) -> None:
    page, _ = _build(lab)
    for text in ("12.34", "5,432", "86.83", "feed=naive", "45.67", "2.11", "search=indexed"):
        assert text in page
    assert 'src="data:image/png;base64,' in page


def test_it_reports_the_malformed_file_as_skipped(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page, skipped = _build(lab)
    assert skipped == [str(lab / "reports" / "broken-run" / "summary.json")]
    assert "skipped <code>reports/broken-run/summary.json</code>" in page
    assert "broken-run" not in page.split("<h2>Load-test runs</h2>")[1]

    assert main(["--root", str(lab), "--bench", "benchmarks/results/*.json"]) == 0
    assert "warning: skipped" in capsys.readouterr().err


def test_it_shows_a_section_per_benchmark_file(lab: Path) -> None:
    page, _ = _build(lab)
    section = page.split("benchmarks/results/feed-bench.json")[1]
    assert "f63ad43" in section
    assert "1,046" in section and "9.75" in section and "197" in section


def test_it_links_reports_relatively(lab: Path) -> None:
    page, _ = _build(lab)
    hrefs = re.findall(r'href="([^"]+)"', page)
    report_links = [h for h in hrefs if h.endswith("report.html")]
    assert sorted(report_links) == [
        "../../reports/20261126-feed/report.html",
        "../../reports/20261126-search/report.html",
    ]
    assert not any(h.startswith(("/", "file:")) or str(lab) in h for h in hrefs)
