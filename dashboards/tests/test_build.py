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


def _section(page: str, title: str) -> str:
    return page.split(f"<h2>{title}</h2>")[1].split("<h2>")[0]


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_it_shows_each_runs_server_cpu_per_request_by_role(lab: Path) -> None:
    summary = _summary(scenario="feed", strategy="feed=cached", rps=50.0, p95=90.0, queries=2.5)
    summary["server_cpu_ms_per_request"] = {
        "app": 3.21,
        "postgres": 0.87,
        "redis": 0.12,
        "total": 4.2,
    }
    _write(lab / "reports" / "20261127-feed" / "summary.json", summary)
    page, _ = _build(lab)
    runs = _section(page, "Load-test runs")
    assert "CPU ms/req app" in runs
    row = next(r for r in runs.split("<tr>") if "20261127-feed" in r)
    for value in ("3.21", "0.87", "0.12", "4.2"):
        assert f'<td class="num">{value}</td>' in row
    assert 'alt="server CPU ms per request by role"' in page


def test_it_shows_per_endpoint_cpu_from_the_endpoints_benchmark(lab: Path) -> None:
    _write(
        lab / "benchmarks" / "results" / "endpoints-small.json",
        {
            "commit": "9abc123",
            "date": "2026-11-29T10:00:00+00:00",
            "endpoints": {
                "hello": {
                    "rps_median": 6543.0,
                    "share_of_hello": 1.0,
                    "cpu_ms_per_request": {
                        "app": 0.31,
                        "postgres": 0.0,
                        "redis": 0.0,
                        "total": 0.31,
                    },
                },
                # The brief's spelling of the same fields, and a CPU-less row: both tolerated.
                "feed": {"rps": 321.0, "ratio_to_hello": 0.049},
                "search": {
                    "rps_median": 123.0,
                    "share_of_hello": 0.0188,
                    "cpu_ms_per_request": {
                        "app": 7.5,
                        "postgres": 2.25,
                        "redis": 0.5,
                        "total": 10.25,
                    },
                    "server_timing": {"cpu_ms": 6.8},
                },
            },
        },
    )
    page, skipped = _build(lab)
    assert skipped == [str(lab / "reports" / "broken-run" / "summary.json")]
    cpu = _section(page, "Server CPU per request")
    assert "benchmarks/results/endpoints-small.json" in cpu and "9abc123" in cpu
    for value in ("6,543", "0.31", "321", "0.049", "7.5", "2.25", "10.25", "6.8", "0.0188"):
        assert f'<td class="num">{value}</td>' in cpu, value
    # Its whole content is in the CPU section, not again as a generic benchmark file.
    assert "endpoints-small.json" not in _section(page, "Benchmark history")


def test_it_says_so_when_no_benchmark_has_cpu_figures(lab: Path) -> None:
    page, _ = _build(lab)
    assert "No benchmark file with CPU figures yet." in _section(page, "Server CPU per request")


def test_it_shows_the_serving_benchmarks_cpu_per_server(lab: Path) -> None:
    cpu = {"app": 0.29, "postgres": 0.0, "redis": 0.0, "total": 0.29}
    _write(
        lab / "benchmarks" / "results" / "serving-bench.json",
        {
            "benchmark": "serving",
            "results": {
                "hello": {
                    "granian-wsgi": {"rps": 6718.0, "p50_ms": 4.2, "cpu_ms_per_request": cpu},
                    "uvicorn-asgi": {"rps": 895.0, "p50_ms": 33.1, "cpu_ms_per_request": None},
                }
            },
        },
    )
    page, _ = _build(lab)
    section = _section(page, "Server CPU per request")
    assert "granian-wsgi" in section and "0.29" in section
    assert "uvicorn-asgi" not in section  # not metered: no row rather than zeros
    history = _section(page, "Benchmark history").split("serving-bench.json")[1]
    assert "CPU ms/req app" in history and "6,718" in history


def test_it_shows_server_cpu_of_a_and_b_in_a_comparison(lab: Path) -> None:
    _write(
        lab / "reports" / "cmp" / "compare.json",
        {
            "a": "feed=naive",
            "b": "feed=cached",
            "rows": [
                {"name": "GET /api/feed", "cpu_ms_a": 40.5, "cpu_ms_b": 4.05, "cpu_ms_ratio": 0.1}
            ],
            "server_cpu_ms_per_request": {
                role: {"a": 8.0, "b": 2.0, "ratio": 0.25} for role in ("app", "postgres", "total")
            },
        },
    )
    page, _ = _build(lab)
    section = _section(page, "A/B comparisons")
    assert "cpu_ms B/A" in section and "40.5" in section and "4.05" in section
    assert "server CPU ms / request" in section and '<td class="num">0.25</td>' in section
