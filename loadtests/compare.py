"""The A/B report: two runs of one scenario back to back, per endpoint and overall, B/A."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from loadtests.blocks import Block, documents_write, table
from loadtests.charts import PERCENTILES, chart_save
from loadtests.cpu import ROLES
from loadtests.report import strategy_label


def _div(b: float | None, a: float | None) -> float | None:
    if a in (None, 0) or b is None:
        return None
    return round(b / a, 3)


def compare_of(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Per endpoint and overall: A, B and B/A for RPS, each percentile and mean queries."""
    rows_a = {r["name"]: r for r in a["endpoints"]}
    rows_b = {r["name"]: r for r in b["endpoints"]}
    if a.get("aggregate") and b.get("aggregate"):
        rows_a["Aggregated"], rows_b["Aggregated"] = a["aggregate"], b["aggregate"]
    rows = []
    for name in [n for n in rows_a if n in rows_b]:
        ra, rb = rows_a[name], rows_b[name]
        qa = (ra.get("server") or {}).get("mean_queries")
        qb = (rb.get("server") or {}).get("mean_queries")
        row: dict[str, Any] = {
            "name": name,
            "queries_a": qa,
            "queries_b": qb,
            "queries_ratio": _div(qb, qa),
        }
        for key in ("rps", *PERCENTILES, "failures"):
            row[f"{key}_a"], row[f"{key}_b"] = ra.get(key), rb.get(key)
            row[f"{key}_ratio"] = _div(rb.get(key), ra.get(key))
        row["cpu_ms_a"], row["cpu_ms_b"] = _median_cpu(ra), _median_cpu(rb)
        row["cpu_ms_ratio"] = _div(row["cpu_ms_b"], row["cpu_ms_a"])
        rows.append(row)
    return {
        "a": strategy_label(a),
        "b": strategy_label(b),
        "rows": rows,
        "server_cpu_ms_per_request": _cpu_compare(a, b),
    }


def _median_cpu(row: dict[str, Any]) -> float | None:
    return (row.get("cpu_ms") or {}).get("median")


def _cpu_compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Per role and in total: server CPU ms per request of A and B, and B/A."""
    per_a, per_b = a.get("server_cpu_ms_per_request"), b.get("server_cpu_ms_per_request")
    if not per_a or not per_b:
        return None
    return {
        role: {
            "a": per_a.get(role),
            "b": per_b.get(role),
            "ratio": _div(per_b.get(role), per_a.get(role)),
        }
        for role in (*ROLES, "total")
    }


def compare_headline(compare: dict[str, Any]) -> str:
    agg = next((r for r in compare["rows"] if r["name"] == "Aggregated"), None)
    if agg is None:
        return "no common endpoints"
    cpu = (compare.get("server_cpu_ms_per_request") or {}).get("total")
    return (
        f"{compare['b']} vs {compare['a']}: RPS x{agg['rps_ratio']}, "
        f"p50 x{agg['p50_ms_ratio']}, p95 x{agg['p95_ms_ratio']}, p99 x{agg['p99_ms_ratio']}"
        + (f", server CPU per request x{cpu['ratio']}" if cpu else "")
    )


def compare_write(out: Path, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    compare = compare_of(a, b)
    images = []
    rows = [r for r in compare["rows"] if r["name"] != "Aggregated"]
    if rows:
        fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(rows) + 1.5), sharey=True)
        y = list(range(len(rows)))
        for ax, key, label in ((axes[0], "p95_ms", "p95 ms"), (axes[1], "rps", "requests/s")):
            ax.barh(
                [i - 0.2 for i in y],
                [r[f"{key}_a"] or 0 for r in rows],
                height=0.4,
                label=f"A {compare['a']}",
            )
            ax.barh(
                [i + 0.2 for i in y],
                [r[f"{key}_b"] or 0 for r in rows],
                height=0.4,
                label=f"B {compare['b']}",
            )
            ax.set_xlabel(label)
        axes[0].set_yticks(y, [r["name"] for r in rows], fontsize=8)
        axes[0].invert_yaxis()
        axes[0].legend()
        fig.suptitle("A against B by endpoint")
        images.append(chart_save(fig, out / "compare_endpoints.png"))
    if a["timeline"]["t"] and b["timeline"]["t"]:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        for summary, tag in ((a, "A"), (b, "B")):
            line = summary["timeline"]
            ax.plot(line["t"], line["rps"], label=f"{tag} {strategy_label(summary)} RPS")
        ax.set_xlabel("seconds")
        ax.set_ylabel("requests/s")
        ax.legend()
        ax.set_title("Throughput over time, A and B")
        images.append(chart_save(fig, out / "compare_rps.png"))
    d = a["description"]
    blocks = [
        Block("h1", f"Compare: {d['scenario']}: A {compare['a']} against B {compare['b']}"),
        Block(
            "p",
            f"Same data ({d['scale']}), same server ({d['server']['setup']}), back to "
            f"back: {d['users']} users, {d['duration_s']} s each, commit {d['commit']}, "
            f"{d['cores']} cores. Ratios are B/A: above 1 means B is higher.",
        ),
        Block("p", compare_headline(compare)),
    ]
    blocks += [Block("p", f"**Warning:** {w}") for s in (a, b) for w in s.get("warnings", [])]
    blocks.append(_compare_table(compare))
    blocks += _compare_cpu_blocks(compare)
    blocks += [Block("img", name) for name in images]
    blocks.append(Block("p", "Each side's full report: a/report.html and b/report.html."))
    (out / "compare.json").write_text(json.dumps(compare, indent=1, ensure_ascii=False))
    documents_write(out, blocks)
    return compare


def _compare_table(compare: dict[str, Any]) -> Block:
    keys = [("rps", "RPS"), ("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")]
    keys.append(("cpu_ms", "CPU ms"))
    headers = ["endpoint"]
    for _, label in keys:
        headers += [f"{label} A", f"{label} B", "B/A"]
    headers += ["queries A", "queries B"]
    rows = [
        [
            r["name"],
            *(r.get(f"{key}_{side}") for key, _ in keys for side in ("a", "b", "ratio")),
            r["queries_a"],
            r["queries_b"],
        ]
        for r in compare["rows"]
    ]
    return table(headers, rows)


def _compare_cpu_blocks(compare: dict[str, Any]) -> list[Block]:
    cpu = compare.get("server_cpu_ms_per_request")
    if not cpu:
        return []
    rows = [[role, cpu[role]["a"], cpu[role]["b"], cpu[role]["ratio"]] for role in cpu]
    return [
        Block("h2", "Server CPU per request"),
        table(["ms of CPU per request", "A", "B", "B/A"], rows),
        Block("p", "CPU ms per endpoint above: the request thread's median (cpu;dur)."),
    ]
