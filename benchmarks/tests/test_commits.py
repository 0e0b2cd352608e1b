"""benchmarks/commits.py's pure parts: the arguments, the revision check, the math and the table.

Nothing here starts a server or times anything: the comparison itself is exercised by running
`make bench-commits` (docs/regressions.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import commits, drive, trees
from benchmarks.commits import Side
from benchmarks.perfcheck import PROBES


def test_arguments_default_to_every_probe_with_hello_first() -> None:
    args = commits.arguments(["--before", "d6c07f2"])
    assert args.after == "HEAD"
    assert args.names == list(PROBES)
    assert args.names[0] == "hello"
    assert args.settings == commits.Settings()


def test_only_adds_hello_for_the_shares() -> None:
    args = commits.arguments(["--before", "x", "--only", "me, feed.cached", "--rounds", "4"])
    assert args.names == ["hello", "me", "feed.cached"]
    assert args.settings.rounds == 4


@pytest.mark.parametrize(
    "argv",
    [
        [],  # --before is required
        ["--before", "x", "--only", "nope"],
        ["--before", "x", "--rounds", "1"],
        ["--before", "x", "--seconds", "0.5"],
        ["--before", "x", "--threshold", "1.5"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        commits.arguments(argv)
    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err


def test_an_unknown_revision_exits_2_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert commits.main(["--before", "no-such-revision-ab", "--after", "HEAD"]) == 2
    assert "unknown revision 'no-such-revision-ab'" in capsys.readouterr().err


def test_revision_resolve_gives_the_full_commit() -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=drive.ROOT, capture_output=True, text=True
    ).stdout.strip()
    found = trees.revision_resolve("HEAD")
    assert found.sha == head and found.short == head[:7]
    with pytest.raises(trees.RevisionError):
        trees.revision_resolve("--all")


def test_database_url_named_keeps_the_socket_query() -> None:
    url = "postgres://postgres@/instalab?host=/work/var/postgres&port=5432"
    named = trees.database_url_named(url, "instalab_commit_abc1234")
    assert named == "postgres://postgres@/instalab_commit_abc1234?host=/work/var/postgres&port=5432"


def test_share_ratios_pair_rounds() -> None:
    assert commits.shares([50.0, 40.0], [100.0, 80.0]) == [0.5, 0.5]
    assert commits.share_ratios([0.5, 0.4, 0.0], [0.45, 0.44, 0.3]) == pytest.approx([0.9, 1.1])


@pytest.mark.parametrize(
    ("ratios", "expected"),
    [
        ([0.8, 0.85, 0.7], "regressed"),
        ([0.8, 0.85, 1.02], "same"),  # one round at 1: the spread covers no change
        ([0.95, 0.97, 1.01], "same"),
        ([1.2, 1.3, 1.15], "improved"),
        ([1.2, 1.3, 0.99], "same"),
        ([], "n/a"),
    ],
)
def test_verdict_needs_the_median_and_every_round(ratios: list[float], expected: str) -> None:
    assert commits.verdict(ratios, threshold=0.10) == expected


def test_exact_count_only_when_every_sample_agrees() -> None:
    assert commits.exact_count([3, 3, 3]) == 3
    assert commits.exact_count([3, 4, 3]) is None
    assert commits.exact_count([None, None]) is None


def _side(rps: list[float], queries: list[int | None], *, cpu: float = 0.0) -> Side:
    return Side(
        path="/api/me",
        headers={},
        rps=rps,
        cpu_seconds=cpu,
        requests=int(sum(rps)),
        queries=queries,
    )


def _rows() -> list[dict[str, Any]]:
    hello = {"before": _side([1000.0, 1000.0, 1000.0], [0]), "after": _side([900.0] * 3, [0])}
    before = _side([500.0, 400.0, 500.0], [2, 2], cpu=1.4)
    after = _side([360.0, 315.0, 360.0], [3, 3], cpu=1.4)
    me = commits.probe_figures("me", before, after, hello, threshold=0.10)
    base = commits.probe_figures("hello", hello["before"], hello["after"], hello, threshold=0.1)
    return [base, me]


def test_probe_figures_median_of_the_rounds_ratios() -> None:
    hello_row, me = _rows()
    # Shares before 0.5, 0.4, 0.5; after 0.4, 0.35, 0.4: ratios 0.8, 0.875, 0.8.
    assert me["ratios"] == [0.8, 0.875, 0.8]
    assert me["ratio"] == 0.8
    assert (me["ratio_min"], me["ratio_max"]) == (0.8, 0.875)
    assert me["share_before"] == 0.5 and me["share_after"] == 0.4
    assert me["queries_before"] == 2 and me["queries_after"] == 3
    assert me["queries_changed"] is True
    assert me["verdict"] == "regressed"
    assert me["cpu_ms_before"] == pytest.approx(1400 / 1400)
    assert hello_row["verdict"] == "baseline" and hello_row["queries_changed"] is False


def test_table_marks_changed_counts_and_verdicts() -> None:
    text = commits.table(_rows())
    lines = text.splitlines()
    assert lines[0].startswith("| probe | queries before | queries after |")
    assert len(lines) == 4
    assert lines[3] == (
        "| me | 2 | **3** | 0.500 | 0.400 | 0.800 | 0.80-0.88 | 1.00 | 1.35 | 1.353 "
        "| **regressed** |"
    )


def test_gate_table_lists_both_sides_and_every_endpoint() -> None:
    gates = {
        "before": {
            "revision": "d6c07f2",
            "passed": True,
            "requests": 1200,
            "failures": 0,
            "rps": 26.0,
            "p95_ms": 250.0,
            "endpoints_p95_ms": {"GET /api/feed": 410.0},
        },
        "after": {
            "revision": "630d7db",
            "passed": False,
            "requests": 1100,
            "failures": 2,
            "rps": 24.0,
            "p95_ms": 280.0,
            "endpoints_p95_ms": {"GET /api/feed": 430.0, "GET /api/me": 40.0},
            "endpoints_max_queries": {"GET /api/feed": 11},
        },
    }
    lines = commits.gate_table(gates).splitlines()
    assert lines[0] == "| | before (d6c07f2) | after (630d7db) |"
    assert "| verdict | pass | **FAIL** |" in lines
    assert "| aggregate p95 ms | 250 | 280 |" in lines
    assert "| GET /api/me p95 ms | ? | 40 |" in lines
    assert "| GET /api/feed max queries | ? | 11 |" in lines
    assert not any(line.startswith("| GET /api/me max queries") for line in lines)


def test_markdown_and_files(tmp_path: Path) -> None:
    args = argparse.Namespace(
        settings=commits.Settings(rounds=3),
        before_rev=trees.Revision("d6c07f2", "d6c07f2" + "0" * 33),
        after_rev=trees.Revision("HEAD", "abcdef1" + "0" * 33),
    )
    rows = _rows()
    document = commits.document_of(args, rows=rows, gates={}, requirements=["x.lock"])
    assert document["regressed"] == ["me"] and document["queries_changed"] == ["me"]
    json_path, md_path = commits.write(document, results=tmp_path / "r", reports=tmp_path / "m")
    assert json_path.name == "commits-d6c07f2-abcdef1.json"
    assert md_path.name == "d6c07f2-abcdef1.md"
    text = md_path.read_text()
    assert text.startswith("# d6c07f2 (d6c07f2) vs abcdef1 (HEAD)")
    assert "Regressed beyond the noise (median below 0.90 and no round at 1): me." in text
    assert "Lock files that differ: x.lock." in text


def test_lab_password_is_read_from_the_tree() -> None:
    tree = trees.Tree(
        label="after",
        revision=trees.Revision("HEAD", "0" * 40),
        path=drive.ROOT,
        database_url="postgres://x@/y",
        redis_url="redis://127.0.0.1:6379/0",
        redis_prefix="p",
    )
    from seed.presets import LAB_PASSWORD

    assert trees.lab_password(tree) == LAB_PASSWORD
    assert tree.runner() == "ops.serve"


def test_usual_count_is_what_most_samples_ran() -> None:
    assert commits.usual_count([140, 140, 141, 140]) == 140
    assert commits.usual_count([0, 1]) == 0  # a tie: the smaller
    assert commits.usual_count([None, None]) is None


def test_a_sample_off_by_a_refresh_is_no_change_but_is_marked() -> None:
    row: dict[str, Any] = {
        "probe": "feed.cached",
        "query_samples_before": [0, 0, 0, 0, 0, 0],
        "query_samples_after": [0, 0, 0, 0, 1, 0],
    }
    commits.queries_of(row)
    assert row["queries_before"] == row["queries_after"] == 0
    assert row["queries_changed"] is False
    assert row["queries_exact_before"] is True and row["queries_exact_after"] is False
    row["query_samples_after"] = [1, 1, 1, 0]
    commits.queries_of(row)
    assert row["queries_after"] == 1 and row["queries_changed"] is True


def test_render_rewrites_the_report_from_the_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(
        settings=commits.Settings(rounds=3),
        before_rev=trees.Revision("d6c07f2", "d6c07f2" + "0" * 33),
        after_rev=trees.Revision("HEAD", "abcdef1" + "0" * 33),
    )
    rows = _rows()
    rows[1]["query_samples_after"] = [2, 2, 3]
    document = commits.document_of(args, rows=rows, gates={}, requirements=[])
    json_path, _ = commits.write(document, results=tmp_path, reports=tmp_path)
    assert (
        commits.main(
            ["--render", str(json_path), "--results", str(tmp_path), "--reports", str(tmp_path)]
        )
        == 0
    )
    again = json.loads(json_path.read_text())
    assert again["queries_changed"] == []
    assert "| me | 2 | 2~ |" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{}")
    assert commits.main(["--render", str(tmp_path / "bad.json")]) == 2


def test_cpu_ratio_leaves_hello_out_of_the_median() -> None:
    rows = [
        {"probe": "hello", "cpu_ms_before": 0.3, "cpu_ms_after": 0.6},
        {"probe": "me", "cpu_ms_before": 1.0, "cpu_ms_after": 1.1},
        {"probe": "post", "cpu_ms_before": 2.0, "cpu_ms_after": 2.0},
        {"probe": "feed", "cpu_ms_before": 0.0, "cpu_ms_after": 2.0},
    ]
    assert commits.cpu_ratio(rows[1]) == pytest.approx(1.1)
    assert commits.cpu_ratio(rows[3]) is None
    assert commits.cpu_ratio_median(rows) == 1.05


def test_gate_figures_read_a_summary_with_socket_rows() -> None:
    summary = {
        "aggregate": {"requests": 10, "failures": 0, "rps": 2.0, "p95_ms": 40.0},
        "endpoints": [
            {"name": "GET /api/feed", "p95_ms": 55.0, "server": {"max_queries": 6}},
            {"name": "WS connect", "p95_ms": 60.0, "server": None},
        ],
        "thresholds": [{"scope": "Aggregated", "key": "p95_ms", "ok": True}],
    }
    figures = trees.GateResult("after", "abcdef1", 0, "ci.toml", summary).figures()
    assert figures["passed"] is True and figures["failed_checks"] == []
    assert figures["endpoints_max_queries"] == {"GET /api/feed": 6, "WS connect": None}
    assert figures["endpoints_p95_ms"]["WS connect"] == 60.0
