"""The chaos report: the load-test report (loadtests/report.py) with the fault on top.

The same directory layout and formats as `make loadtest`: summary.json (with a ``chaos``
section), report.md and report.html rendered from one list of blocks, and PNG charts, plus
``chaos_timeline.png``: requests, failures and p95 per second with the fault shaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from loadtests.blocks import Block, documents_write, table
from loadtests.chaos.analysis import PHASES
from loadtests.charts import chart_save, charts_write
from loadtests.report import blocks_of, checks_table

TIMELINE_PNG = "chaos_timeline.png"


def timeline_chart(out: Path, chaos: dict[str, Any]) -> str:
    line, fault = chaos["timeline"], chaos["fault"]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.plot(line["t"], line["requests"], label="requests/s", color="tab:blue")
    ax.plot(line["t"], line["failures"], label="failures/s", color="tab:red")
    ax.axvspan(fault["started_s"], fault["ended_s"], color="tab:red", alpha=0.12, label="fault")
    ax.axvline(fault["started_s"], color="tab:red", linestyle="--", linewidth=1)
    if fault["restored_s"] != fault["started_s"]:
        ax.axvline(
            fault["restored_s"], color="tab:green", linestyle="--", linewidth=1, label="restored"
        )
    ax.set_xlabel("seconds")
    ax.set_ylabel("per second")
    latency = ax.twinx()
    latency.plot(
        line["t"],
        [v if v is not None else float("nan") for v in line["p95_ms"]],
        label="p95 ms",
        color="tab:orange",
        linewidth=1,
    )
    latency.set_ylabel("p95 ms (per second)")
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = latency.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, loc="upper left", fontsize=8)
    ax.set_title(f"{chaos['scenario']}: requests, failures and p95 per second")
    return chart_save(fig, out / TIMELINE_PNG)


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{kind}: {count}" for kind, count in kinds.items()) or "-"


def _seconds(value: float | None, *, missing: str = "never") -> str:
    return missing if value is None else f"{value:g} s"


def chaos_blocks(summary: dict[str, Any]) -> list[Block]:
    """The verdict and its checks, the fault, each phase and endpoint, probes and chat sends."""
    chaos = summary["chaos"]
    blocks = _verdict_blocks(summary)
    blocks += _fault_blocks(chaos)
    blocks += _phase_blocks(chaos["phases"])
    blocks.append(Block("h2", "Probes (/healthz, /readyz, 4 per second each)"))
    blocks.append(_endpoint_table(chaos["probes"]))
    return blocks + _chat_blocks(chaos["chat"])


def _verdict_blocks(summary: dict[str, Any]) -> list[Block]:
    chaos, d = summary["chaos"], summary["description"]
    fault, checks = chaos["fault"], chaos["checks"]
    failed = [c for c in checks if not c["ok"]]
    verdict = (
        f"**Verdict: FAIL** ({len(failed)} of {len(checks)} checks failed)"
        if failed
        else f"**Verdict: pass** ({len(checks)} checks)"
    )
    return [
        Block("h1", f"Chaos: {chaos['scenario']}"),
        Block(
            "p",
            f"{d.get('started_utc', '')} · commit {d.get('commit', '?')} · scale {d['scale']} · "
            f"{d['users']} users (mixed, chat senders tracked) · {chaos['run_s']:g} s measured, "
            f"fault at {fault['started_s']:g} s for {fault['ended_s'] - fault['started_s']:g} s "
            "· the lab's own PostgreSQL, Redis and app",
        ),
        Block("p", verdict),
        checks_table(checks),
    ]


def _fault_blocks(chaos: dict[str, Any]) -> list[Block]:
    fault = chaos["fault"]
    rows = [
        ["injected at", f"{fault['started_s']:g} s"],
        ["window ends at", f"{fault['ended_s']:g} s"],
        ["recovery measured from", f"{fault['restored_s']:g} s"],
        *([key, str(value)] for key, value in fault["detail"].items()),
        ["time to recover", _seconds(chaos["recovery_s"], missing="not within the run")],
        ["last failure after it", _seconds(chaos["last_failure_s"], missing="none")],
        ["max HTTP request latency during the fault", chaos["max_wait_during_ms"]],
        ["GET /readyz answered 503 after", _seconds(chaos["readyz_503_s"])],
    ]
    return [Block("h2", "Fault"), table(["what", "value"], rows), Block("img", TIMELINE_PNG)]


def _phase_blocks(phases: dict[str, Any]) -> list[Block]:
    rows = [
        [
            phase,
            phases[phase]["seconds"],
            phases[phase]["total"]["requests"],
            phases[phase]["total"]["failures"],
            f"{phases[phase]['total']['failure_ratio']:.2%}",
            _kinds(phases[phase]["total"]["kinds"]),
        ]
        for phase in PHASES
    ]
    headers = ["phase", "seconds", "requests", "failures", "failure ratio", "error kinds"]
    return [
        Block("h2", "Phases"),
        table(headers, rows),
        Block("h2", "Endpoints by phase"),
        _endpoint_table(phases),
    ]


def _chat_blocks(chat: dict[str, Any]) -> list[Block]:
    rows = [
        [phase, row["sent"], row["no_reply"], row["acked_lost"]]
        for phase, row in chat["by_phase"].items()
    ]
    rows.append(["all", chat["sent"], chat["no_reply"], chat["acked_lost"]])
    return [
        Block("h2", "Chat sends"),
        table(["phase", "sent", "no reply", "acknowledged and lost"], rows),
        Block(
            "p",
            f"{chat['errored']} sends were answered by an error frame. A send with no reply got "
            "neither an ack nor an error frame; an acknowledged message is lost when it never "
            "reached the sender's socket, even through the sync after a reconnect. Sends of "
            "the last 3 s are in flight and not counted.",
        ),
    ]


def _endpoint_table(phases: dict[str, Any]) -> Block:
    names = sorted({name for phase in PHASES for name in phases[phase]["endpoints"]})
    rows = []
    for name in names:
        row: list[Any] = [name]
        for phase in PHASES:
            stats = phases[phase]["endpoints"].get(name)
            row.append(f"{stats['requests']} / {stats['failures']}" if stats else "-")
        during = phases["during"]["endpoints"].get(name) or {}
        row.append(during.get("max_ms"))
        row.append(_kinds(during.get("kinds", {})))
        row.append(_kinds((phases["after"]["endpoints"].get(name) or {}).get("kinds", {})))
        rows.append(row)
    headers = ["endpoint", "before req / fail", "during req / fail", "after req / fail"]
    headers += ["max ms during", "errors during", "errors after"]
    return table(headers, rows)


def chaos_report_write(out: Path, summary: dict[str, Any]) -> None:
    """summary.json, report.md and report.html with the load test's charts and the timeline."""
    out.mkdir(parents=True, exist_ok=True)
    images = charts_write(out, summary)
    timeline_chart(out, summary["chaos"])
    load = blocks_of(summary, images)[1:]
    blocks = [*chaos_blocks(summary), Block("h2", "The load (Locust, whole run)"), *load]
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    documents_write(out, blocks)
