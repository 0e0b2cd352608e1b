"""report.md and report.html with matplotlib PNG charts, for one run or an A/B comparison.

Both documents are rendered from one list of blocks (headings, paragraphs, tables, images), so
they always say the same thing.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from loadtests.cpu import ROLES, describe

PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


@dataclass(frozen=True)
class Block:
    kind: str  # h1 | h2 | p | table | img
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def table(headers: list[str], rows: list[list[Any]]) -> Block:
    return Block(
        "table", headers=tuple(headers), rows=tuple(tuple(_cell(c) for c in r) for r in rows)
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_render(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if block.kind == "h1":
            out.append(f"# {block.text}\n")
        elif block.kind == "h2":
            out.append(f"## {block.text}\n")
        elif block.kind == "p":
            out.append(f"{block.text}\n")
        elif block.kind == "img":
            out.append(f"![{block.text}]({block.text})\n")
        elif block.kind == "table":
            out.append("| " + " | ".join(block.headers) + " |")
            out.append("|" + "|".join("---" for _ in block.headers) + "|")
            out.extend(
                "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in block.rows
            )
            out.append("")
    return "\n".join(out)


STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    "th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.5em 0}"
    ".warn{background:#fff3cd;padding:.5em;border-left:4px solid #e0a800}"
)


def html_render(blocks: list[Block], *, title: str) -> str:
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
    ]
    for block in blocks:
        text = html.escape(block.text)
        if block.kind in ("h1", "h2"):
            out.append(f"<{block.kind}>{text}</{block.kind}>")
        elif block.kind == "p":
            css = " class='warn'" if block.text.startswith("**Warning") else ""
            out.append(f"<p{css}>{text.replace('**', '')}</p>")
        elif block.kind == "img":
            out.append(f"<img src='{text}' alt='{text}'>")
        elif block.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><tr>{head}</tr>{body}</table>")
    out.append("</body></html>")
    return "\n".join(out)


# --- charts -----------------------------------------------------------------------------------


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def charts_write(out: Path, summary: dict[str, Any]) -> list[str]:
    """RPS and users over time, latency percentiles over time, per-endpoint latency, errors,
    and the server-side queries per endpoint; returns the PNG names written."""
    names: list[str] = []
    line = summary["timeline"]
    if line["t"]:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        ax.plot(line["t"], line["rps"], label="requests/s", color="tab:blue")
        ax.plot(line["t"], line["fail_s"], label="failures/s", color="tab:red")
        ax.set_xlabel("seconds")
        ax.set_ylabel("per second")
        users = ax.twinx()
        users.plot(line["t"], line["users"], label="users", color="tab:gray", linestyle="--")
        users.set_ylabel("users")
        ax.legend(loc="upper left")
        ax.set_title("Throughput and users over time")
        names.append(_save(fig, out / "rps_users.png"))

        fig, ax = plt.subplots(figsize=(10, 3.6))
        for key, color in (("p50", "tab:green"), ("p95", "tab:orange"), ("p99", "tab:red")):
            ax.plot(
                line["t"],
                [v if v is not None else float("nan") for v in line[key]],
                label=key,
                color=color,
            )
        ax.set_xlabel("seconds")
        ax.set_ylabel("ms (10 s window)")
        ax.legend(loc="upper left")
        ax.set_title("Response time percentiles over time")
        names.append(_save(fig, out / "latency.png"))

    rows = [r for r in summary["endpoints"] if r["requests"]]
    if rows:
        fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.2))
        y = range(len(rows))
        height = 0.27
        for offset, key in enumerate(PERCENTILES):
            ax.barh(
                [i + (offset - 1) * height for i in y],
                [r[key] or 0 for r in rows],
                height=height,
                label=key.removesuffix("_ms"),
            )
        ax.set_yticks(list(y), [r["name"] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ms")
        ax.legend()
        ax.set_title("Latency by endpoint")
        names.append(_save(fig, out / "endpoints.png"))

    served = [r for r in rows if r.get("server")]
    if served:
        names.append(
            _bars(
                out / "queries.png",
                {r["name"]: r["server"]["mean_queries"] for r in served},
                color="tab:purple",
                xlabel="mean SQL queries per request (Server-Timing)",
                title="Server-side queries by endpoint",
            )
        )
    if summary["errors"]:
        names.append(
            _bars(
                out / "errors.png",
                {f"{e['endpoint']}: {e['error'][:50]}": e["count"] for e in summary["errors"][:12]},
                color="tab:red",
                xlabel="occurrences",
                title="Errors by endpoint and kind",
            )
        )
    return names


def _bars(path: Path, values: dict[str, float], *, color: str, xlabel: str, title: str) -> str:
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(values) + 1.2))
    ax.barh(list(values), list(values.values()), color=color)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _save(fig, path)


# --- one run ----------------------------------------------------------------------------------


def _strategy_label(summary: dict[str, Any]) -> str:
    return str(summary["description"].get("strategy", "default"))


def blocks_of(summary: dict[str, Any], images: list[str]) -> list[Block]:
    d = summary["description"]
    blocks = [
        Block("h1", f"Load test: {d['scenario']} ({_strategy_label(summary)})"),
        Block(
            "p",
            f"{d.get('started_utc', '')} · commit {d.get('commit', '?')} · scale {d['scale']} · "
            f"{d['users']} users, spawn {d['spawn_rate']}/s, {d['duration_s']} s, shape "
            f"{d['shape']} · think x{d.get('think_scale', 1)}",
        ),
    ]
    blocks += [Block("p", f"**Warning:** {w}") for w in summary.get("warnings", [])]
    server = d.get("server", {})
    blocks.append(Block("h2", "Run"))
    blocks.append(
        table(
            ["what", "value"],
            [
                [
                    "machine",
                    f"{d.get('cores')} cores, {d.get('memory_gb')} GiB, {d.get('cpu_model')}",
                ],
                [
                    "server",
                    f"{server.get('setup')} ({server.get('http_workers')} HTTP workers), "
                    f"DEBUG=0 · {server.get('why', '')}",
                ],
                ["data", f"{d['scale']} (seed {d.get('seed')}), database {d.get('database')}"],
                ["strategy", _strategy_label(summary)],
                [
                    "load generator",
                    f"Locust {d.get('locust')}, {d.get('locust_workers') or 'no'} worker processes",
                ],
                ["load average", f"{d.get('loadavg_start')} → {d.get('loadavg_end')}"],
            ],
        )
    )
    agg = summary.get("aggregate") or {}
    res = summary.get("resources") or {}
    blocks.append(Block("h2", "Result"))
    blocks.append(
        table(
            [
                "requests",
                "failures",
                "RPS",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "generator CPU %",
                "server CPU %",
                "server RSS MB",
            ],
            [
                [
                    agg.get("requests"),
                    agg.get("failures"),
                    agg.get("rps"),
                    agg.get("p50_ms"),
                    agg.get("p95_ms"),
                    agg.get("p99_ms"),
                    agg.get("max_ms"),
                    res.get("generator_cpu_mean"),
                    res.get("server_cpu_mean"),
                    res.get("server_rss_end_mb"),
                ]
            ],
        )
    )
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
    chat = summary.get("chat")
    if chat:
        blocks.append(Block("h2", "Chat delivery"))
        blocks.append(
            table(
                [
                    "sockets",
                    "sent",
                    "acked",
                    "delivered",
                    "lost",
                    "duplicated",
                    "unacked",
                    "delivery p50",
                    "p95",
                    "p99",
                ],
                [
                    [
                        chat.get("sockets_opened"),
                        chat.get("sent"),
                        chat.get("acked"),
                        chat.get("deliveries"),
                        chat.get("lost"),
                        chat.get("duplicated"),
                        chat.get("unacked"),
                        chat.get("delivery_p50_ms"),
                        chat.get("delivery_p95_ms"),
                        chat.get("delivery_p99_ms"),
                    ]
                ],
            )
        )
    knee = summary.get("knee")
    if knee:
        blocks.append(Block("h2", f"Ramp: the knee (p95 ≤ {knee['p95_target_ms']:g} ms, 0 errors)"))
        blocks.append(
            table(
                ["users", "RPS", "p95 ms", "failures/s"],
                [[s["users"], s["rps"], s["p95_ms"], s["fail_s"]] for s in knee["steps"]],
            )
        )
        best = knee.get("knee")
        blocks.append(
            Block(
                "p",
                f"Knee: {best['rps']:g} RPS at p95 {best['p95_ms']:g} ms with "
                f"{best['users']} users."
                if best
                else "No step met the target.",
            )
        )
    drift = summary.get("drift")
    if drift or res:
        blocks.append(Block("h2", "Drift and resources"))
        blocks.append(
            table(
                [
                    "p95 early ms",
                    "p95 late ms",
                    "p95 drift",
                    "RSS start MB",
                    "RSS end MB",
                    "RSS growth",
                    "generator peak process CPU %",
                    "machine CPU %",
                ],
                [
                    [
                        (drift or {}).get("p95_first_ms"),
                        (drift or {}).get("p95_last_ms"),
                        _ratio((drift or {}).get("p95_drift"), signed=True),
                        res.get("server_rss_start_mb"),
                        res.get("server_rss_end_mb"),
                        _ratio(res.get("server_rss_growth"), signed=True),
                        res.get("generator_process_cpu_peak"),
                        res.get("machine_cpu_mean"),
                    ]
                ],
            )
        )
    if summary.get("thresholds"):
        blocks.append(Block("h2", "Thresholds"))
        blocks.append(
            table(
                ["", "scope", "check", "actual", "limit"],
                [
                    ["ok" if c["ok"] else "FAIL", c["scope"], c["key"], c["actual"], c["limit"]]
                    for c in summary["thresholds"]
                ],
            )
        )
    blocks.append(
        Block(
            "p",
            "Locust's own report: locust.html; raw data: locust_*.csv, locust.json, summary.json.",
        )
    )
    return blocks


def _endpoints_table(summary: dict[str, Any]) -> Block:
    headers = ["endpoint", "requests", "fail", "RPS", "p50", "p95", "p99", "max"]
    headers += ["queries (mean/max)", "DB ms", "app ms", "CPU ms (median/mean)", "cache hit"]
    rows = []
    for r in summary["endpoints"]:
        server = r.get("server") or {}
        rows.append(
            [
                *(r[k] for k in ("name", "requests", "failures", "rps", *PERCENTILES, "max_ms")),
                f"{server['mean_queries']:g} / {server['max_queries']}" if server else None,
                server.get("mean_db_ms"),
                server.get("mean_app_ms"),
                _cpu_cell(r.get("cpu_ms")),
                _ratio(server.get("cache_hit_ratio")),
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
    (out / "report.md").write_text(markdown_render(blocks))
    (out / "report.html").write_text(html_render(blocks, title=blocks[0].text))


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


# --- A/B --------------------------------------------------------------------------------------


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
        "a": _strategy_label(a),
        "b": _strategy_label(b),
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
        images.append(_save(fig, out / "compare_endpoints.png"))
    if a["timeline"]["t"] and b["timeline"]["t"]:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        for summary, tag in ((a, "A"), (b, "B")):
            line = summary["timeline"]
            ax.plot(line["t"], line["rps"], label=f"{tag} {_strategy_label(summary)} RPS")
        ax.set_xlabel("seconds")
        ax.set_ylabel("requests/s")
        ax.legend()
        ax.set_title("Throughput over time, A and B")
        images.append(_save(fig, out / "compare_rps.png"))
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
    (out / "report.md").write_text(markdown_render(blocks))
    (out / "report.html").write_text(html_render(blocks, title=blocks[0].text))
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
