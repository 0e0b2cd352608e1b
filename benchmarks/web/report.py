"""The web budgets' Markdown summary (reports/web-budgets.md)."""

from __future__ import annotations

from typing import Any


def shift_sources(shifts: list[dict[str, Any]]) -> str:
    """Each element that moved and the share of the score its shifts make (a shift with
    several sources counts for each)."""
    score: dict[str, float] = {}
    for shift in shifts:
        for node in shift["nodes"] or ["(unattributed)"]:
            score[node] = score.get(node, 0.0) + float(shift["value"])
    ranked = sorted(score.items(), key=lambda item: -item[1])
    return ", ".join(f"`{node}` {value:.4f}" for node, value in ranked)


def summary_markdown(report: dict[str, Any]) -> str:
    feed, js = report["feed"], report["javascript"]
    cls, live = report["layout_shift"], report["live_dm"]
    mark = {True: "pass", False: "**missed**"}
    rows = [
        (
            "Feed first contentful paint (median)",
            f"{feed['fcp_median_ms']:.0f} ms",
            f"<= {feed['budget_fcp_ms']:.0f} ms",
            mark[feed["passed"]],
        ),
        (
            "First post card in the page (median)",
            f"{feed['first_post_median_ms']:.0f} ms",
            "(reported)",
            "",
        ),
        (
            "Feed FCP, warm browser cache (median)",
            f"{feed['warm_cache_fcp_median_ms']:.0f} ms",
            "(reported)",
            "",
        ),
        (
            "JavaScript a page loads (largest)",
            f"{js['max_bytes']:,} B",
            f"<= {js['budget_bytes']:,} B",
            mark[js["passed"]],
        ),
        (
            "Layout shift while images load",
            f"{cls['value']}",
            f"<= {cls['budget']:g}",
            mark[cls["passed"]],
        ),
        (
            "Live DM on screen, p95",
            f"{live['p95_ms']:.0f} ms",
            f"<= {live['budget_p95_ms']:.0f} ms",
            mark[live["passed"]],
        ),
    ]
    machine = report["machine"]
    lines = [
        "# Web budgets",
        "",
        f"`{report['command']}` at {report['generated_at']} (commit {report['commit']}), "
        f"chromium {report['chromium']}, {machine['nproc']} cores ({machine['cpu']}), load "
        f"average {report['loadavg_before'][0]} before and {report['loadavg_after'][0]} after. "
        f"Server: {report['server']}. Data: `{report['data']}`.",
        "",
        "| budget | measured | limit | |",
        "|---|---:|---:|---|",
        *(f"| {name} | {value} | {limit} | {verdict} |" for name, value, limit, verdict in rows),
        "",
        f"Feed: {feed['loads']} loads after {feed['warmup_loads']} warm-up ones, each in a fresh "
        f"browser context (cold browser cache, warm server); FCP p90 {feed['fcp_p90_ms']:.0f} ms, "
        f"{feed['cards_on_first_page']} cards on the first page. Then {feed['loads']} loads in "
        "one context (the browser cache of a returning reader): first post card "
        f"{feed['warm_cache_first_post_median_ms']:.0f} ms.",
        "",
        "JavaScript (decoded bytes of every script response): "
        + "; ".join(f"{page}: {data['total']:,} B" for page, data in js["pages"].items())
        + f". All files under app/web/static/web: {js['all_files_bytes']:,} B.",
        "",
        f"Layout shift: every /media/ response held back {cls['image_delay_ms']} ms, the feed "
        f"scrolled through {cls['cards_scrolled']} cards while {cls['images_held_back']} images "
        f"loaded. What moved: {shift_sources(cls['shifts']) or 'nothing'}.",
        "",
        f"Live DMs: {live['events']} messages typed in one browser context, "
        f"{live['send_interval_ms']} ms apart (under the chat rate limit), timed until on screen "
        "in the other member's: p50 "
        f"{live['p50_ms']:.0f} ms, p95 {live['p95_ms']:.0f} ms, max {live['max_ms']:.0f} ms.",
        "",
    ]
    return "\n".join(lines)
