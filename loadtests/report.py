"""One load test's report: report.md and report.html with PNG charts, and the console table.

Both documents are rendered from one list of blocks (loadtests/blocks.py), so they always say
the same thing; the charts are loadtests/charts.py's, the A/B comparison loadtests/compare.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtests.blocks import Block, documents_write, table
from loadtests.charts import PERCENTILES, charts_write
from loadtests.cpu import ROLES, describe


def strategy_label(summary: dict[str, Any]) -> str:
    return str(summary["description"].get("strategy", "default"))


def blocks_of(summary: dict[str, Any], images: list[str]) -> list[Block]:
    """The report, section by section; a section with nothing to show is left out."""
    blocks = _title_blocks(summary)
    blocks += _run_blocks(summary["description"])
    blocks += _result_blocks(summary)
    blocks += _cpu_blocks(summary)
    blocks += [Block("img", name) for name in images if name in ("rps_users.png", "latency.png")]
    blocks.append(Block("h2", "Endpoints"))
    blocks.append(_endpoints_table(summary))
    blocks += [Block("img", n) for n in images if n in ("endpoints.png", "queries.png")]
    if summary.get("errors"):
        blocks.append(Block("h2", "Errors"))
        blocks.append(
            table(
                ["endpoint", "error", "count"],
                [[e["endpoint"], e["error"], e["count"]] for e in summary["errors"]],
            )
        )
        blocks += [Block("img", n) for n in images if n == "errors.png"]
    blocks += _chat_blocks(summary.get("chat"))
    blocks += _generator_blocks(summary.get("generators"))
    blocks += _knee_blocks(summary.get("knee"))
    blocks += _drift_blocks(summary)
    if summary.get("thresholds"):
        blocks.append(Block("h2", "Thresholds"))
        blocks.append(checks_table(summary["thresholds"]))
    blocks.append(
        Block(
            "p",
            "Locust's own report: locust.html; raw data: locust_*.csv, locust.json, summary.json.",
        )
    )
    return blocks


def checks_table(checks: list[dict[str, Any]]) -> Block:
    """Pass or fail per check, with its scope, actual value and limit."""
    return table(
        ["", "scope", "check", "actual", "limit"],
        [
            ["ok" if c["ok"] else "FAIL", c["scope"], c["key"], c["actual"], c["limit"]]
            for c in checks
        ],
    )


def _title_blocks(summary: dict[str, Any]) -> list[Block]:
    d = summary["description"]
    blocks = [
        Block("h1", f"Load test: {d['scenario']} ({strategy_label(summary)})"),
        Block(
            "p",
            f"{d.get('started_utc', '')} · commit {d.get('commit', '?')} · scale {d['scale']} · "
            f"{d['users']} users, spawn {d['spawn_rate']}/s, {d['duration_s']} s, shape "
            f"{d['shape']} · think x{d.get('think_scale', 1)}",
        ),
    ]
    return blocks + [Block("p", f"**Warning:** {w}") for w in summary.get("warnings", [])]


def _run_blocks(d: dict[str, Any]) -> list[Block]:
    server = d.get("server", {})
    rows = [
        ["machine", f"{d.get('cores')} cores, {d.get('memory_gb')} GiB, {d.get('cpu_model')}"],
        [
            "server",
            f"{server.get('setup')} ({server.get('http_workers')} HTTP workers), "
            f"DEBUG=0 · {server.get('why', '')}",
        ],
        ["data", f"{d['scale']} (seed {d.get('seed')}), database {d.get('database')}"],
        ["strategy", str(d.get("strategy", "default"))],
        [
            "load generator",
            f"Locust {d.get('locust')}, {_generator_label(d)}",
        ],
        ["load average", f"{d.get('loadavg_start')} → {d.get('loadavg_end')}"],
    ]
    return [Block("h2", "Run"), table(["what", "value"], rows)]


def _generator_label(d: dict[str, Any]) -> str:
    if not d.get("locust_workers"):
        return "one process"
    label = f"a master and {d['locust_workers']} worker processes over TCP"
    if d.get("locust_remote_workers"):
        label += (
            f" ({d['locust_remote_workers']} on other machines: generator CPU counts this "
            "machine's processes only)"
        )
    return label


def _result_blocks(summary: dict[str, Any]) -> list[Block]:
    agg = summary.get("aggregate") or {}
    res = summary.get("resources") or {}
    headers = ["requests", "failures", "RPS", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    headers += ["generator CPU %", "server CPU %", "server RSS MB"]
    row = [agg.get(k) for k in ("requests", "failures", "rps", *PERCENTILES, "max_ms")]
    row += [res.get(k) for k in ("generator_cpu_mean", "server_cpu_mean", "server_rss_end_mb")]
    return [Block("h2", "Result"), table(headers, [row])]


def _chat_blocks(chat: dict[str, Any] | None) -> list[Block]:
    if not chat:
        return []
    headers = ["sockets", "sent", "acked", "delivered", "lost", "duplicated", "unacked"]
    headers += ["delivery p50", "p95", "p99"]
    keys = ["sockets_opened", "sent", "acked", "deliveries", "lost", "duplicated", "unacked"]
    keys += ["delivery_p50_ms", "delivery_p95_ms", "delivery_p99_ms"]
    return [Block("h2", "Chat delivery"), table(headers, [[chat.get(k) for k in keys]])]


def _generator_blocks(generators: dict[str, Any] | None) -> list[Block]:
    """A distributed run's workers, each with the requests it counted itself."""
    workers = [p for p in (generators or {}).get("processes", []) if p.get("worker")]
    if not generators or not workers:
        return []
    rows = [[p["worker"], p.get("host"), p.get("requests"), p.get("failures")] for p in workers]
    rows.append(["all workers", "", generators["requests"], generators["failures"]])
    adds_up = "add up" if generators["adds_up"] else "do NOT add up"
    note = (
        f"Each worker's own counts {adds_up} to the master's merged totals. Server-Timing "
        "figures and chat delivery above are the sums of the same workers' tallies, sent to the "
        "master with their stats."
    )
    return [
        Block("h2", "Load generators"),
        table(["worker", "host", "requests", "failures"], rows),
        Block("p", note),
    ]


def _knee_blocks(knee: dict[str, Any] | None) -> list[Block]:
    if not knee:
        return []
    best = knee.get("knee")
    return [
        Block("h2", f"Ramp: the knee (p95 ≤ {knee['p95_target_ms']:g} ms, 0 errors)"),
        table(
            ["users", "RPS", "p95 ms", "failures/s"],
            [[s["users"], s["rps"], s["p95_ms"], s["fail_s"]] for s in knee["steps"]],
        ),
        Block(
            "p",
            f"Knee: {best['rps']:g} RPS at p95 {best['p95_ms']:g} ms with {best['users']} users."
            if best
            else "No step met the target.",
        ),
    ]


def _drift_blocks(summary: dict[str, Any]) -> list[Block]:
    drift = summary.get("drift")
    res = summary.get("resources") or {}
    if not (drift or res):
        return []
    drift = drift or {}
    headers = ["p95 early ms", "p95 late ms", "p95 drift", "RSS start MB", "RSS end MB"]
    headers += ["RSS growth", "generator peak process CPU %", "machine CPU %"]
    row = [
        drift.get("p95_first_ms"),
        drift.get("p95_last_ms"),
        _ratio(drift.get("p95_drift"), signed=True),
        res.get("server_rss_start_mb"),
        res.get("server_rss_end_mb"),
        _ratio(res.get("server_rss_growth"), signed=True),
        res.get("generator_process_cpu_peak"),
        res.get("machine_cpu_mean"),
    ]
    return [Block("h2", "Drift and resources"), table(headers, [row])]


def _endpoints_table(summary: dict[str, Any]) -> Block:
    headers = ["endpoint", "requests", "fail", "RPS", "p50", "p95", "p99", "max"]
    headers += ["queries (mean/max)", "DB ms", "app ms", "CPU ms (median/mean)", "cache hit"]
    # With read replicas, the share of each endpoint's SQL reads the primary answered.
    shares = [(r.get("server") or {}).get("primary_read_share") for r in summary["endpoints"]]
    replicas = any(share is not None for share in shares)
    headers += ["primary reads"] if replicas else []
    rows = []
    for r, share in zip(summary["endpoints"], shares, strict=True):
        server = r.get("server") or {}
        rows.append(
            [
                *(r[k] for k in ("name", "requests", "failures", "rps", *PERCENTILES, "max_ms")),
                f"{server['mean_queries']:g} / {server['max_queries']}" if server else None,
                server.get("mean_db_ms"),
                server.get("mean_app_ms"),
                _cpu_cell(r.get("cpu_ms")),
                _ratio(server.get("cache_hit_ratio")),
                *([_ratio(share)] if replicas else []),
            ]
        )
    return table(headers, rows)


def _cpu_cell(cpu: dict[str, float] | None) -> str | None:
    return f"{cpu['median']:.2f} / {cpu['mean']:.2f}" if cpu else None


def _cpu_blocks(summary: dict[str, Any]) -> list[Block]:
    """Server CPU per request by role (the CpuMeter) against the request threads' own share."""
    per = summary.get("server_cpu_ms_per_request")
    if not per:
        return []
    cpu = summary.get("server_cpu") or {}
    seconds = cpu.get("seconds", {})
    blocks = [
        table(
            ["server CPU ms / request", "app", "postgres", "redis", "total", "requests", "CPU s"],
            [
                [
                    "all endpoints",
                    *(per.get(k) for k in (*ROLES, "total")),
                    cpu.get("requests"),
                    " / ".join(f"{seconds.get(role, 0):.1f}" for role in ROLES),
                ]
            ],
        )
    ]
    threads = cpu.get("request_thread_ms")
    if threads is not None:
        blocks.append(
            Block(
                "p",
                f"Request threads (Server-Timing cpu;dur) spent {threads:.2f} ms of the app's "
                f"{per.get('app', 0):.2f} ms per request; the rest is the server around the view "
                "(HTTP parsing, I/O threads, garbage collection, idle work).",
            )
        )
    left_out = (cpu.get("excluded_seconds") or {}).get("postgres")
    if left_out:
        blocks.append(
            Block("p", f"Left out: {left_out:g} CPU s of PostgreSQL backends of other databases.")
        )
    return blocks


def _ratio(value: float | None, *, signed: bool = False) -> str | None:
    if value is None:
        return None
    return f"{value:+.1%}" if signed else f"{value:.0%}"


def report_write(out: Path, summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    images = charts_write(out, summary)
    blocks = blocks_of(summary, images)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    documents_write(out, blocks)


def console_table(summary: dict[str, Any]) -> str:
    lines = [
        f"{'endpoint':<44} {'reqs':>7} {'fail':>5} {'rps':>7} {'p50':>6} {'p95':>6} "
        f"{'p99':>6} {'queries':>8}"
    ]
    for r in [*summary["endpoints"], summary.get("aggregate") or {}]:
        if not r:
            continue
        queries = f"{r['server']['mean_queries']:g}" if r.get("server") else "-"
        lines.append(
            f"{r['name'][:44]:<44} {r['requests']:>7} {r['failures']:>5} {r['rps']:>7.1f} "
            f"{r['p50_ms'] or 0:>6.0f} {r['p95_ms'] or 0:>6.0f} {r['p99_ms'] or 0:>6.0f} "
            f"{queries:>8}"
        )
    if summary.get("server_cpu_ms_per_request"):
        lines.append(f"server {describe(summary['server_cpu_ms_per_request'])}")
    lines += [f"warning: {w}" for w in summary.get("warnings", [])]
    return "\n".join(lines)
