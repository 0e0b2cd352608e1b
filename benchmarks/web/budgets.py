"""`make bench-web`: the browser app's budgets, measured with Playwright on Debian's chromium.

It seeds a database of its own (``instalab_web``, Redis database 12 under the key prefix
``webbench``, media under var/web-bench-media), builds the demo account's world there with
``python -m seed.demo_user`` as `make run` does, and starts the production-mode server the
other HTTP instruments use (benchmarks/drive.py: DEBUG=0, granian WSGI for HTTP, uvicorn for
/ws/, on 127.0.0.1 only). Then, signed in as the demo account:

- **feed first contentful paint**: the median over ``--loads`` loads of the home feed, each in
  a fresh browser context (a cold browser cache) after three warm-up loads (a warm server);
  budget 500 ms;
  the time the first post card is in the page is reported beside it, and both again for as
  many loads in one context (the cache of a returning reader);
- **JavaScript bytes**: everything with the ``script`` resource type that the feed and a chat
  room load (app.js and the modules it imports), decoded; budget 100 KB (100,000 bytes);
- **cumulative layout shift while images load**: the home feed with every /media/ response
  held back, scrolled through two pages of posts, summed from a ``layout-shift``
  PerformanceObserver; budget 0;
- **live event latency**: ``--events`` DMs typed into a chat room in one browser context,
  each timed until it is on screen in the other member's context (both clocks are the same
  machine's); budget p95 <= 500 ms.

Writes reports/web-budgets.json and reports/web-budgets.md; exits 1 when a budget is missed.
Run as ``python -m benchmarks.web.budgets``. This module runs the steps; the budgets live in
``common``, the benchmark's data in ``data``, the browser steps in ``browser`` and the
Markdown summary in ``report``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks import drive
from benchmarks.web.browser import chromium_check, measure
from benchmarks.web.common import ROOT, BudgetError, say
from benchmarks.web.data import SEED, data_make, demo_targets
from benchmarks.web.report import summary_markdown

OUT_JSON = ROOT / "reports" / "web-budgets.json"
OUT_MD = ROOT / "reports" / "web-budgets.md"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web.budgets", description=__doc__)
    parser.add_argument("--scale", default="small", help="seed scale of the data (default small)")
    parser.add_argument("--loads", type=int, default=15, help="measured feed loads (default 15)")
    parser.add_argument("--events", type=int, default=50, help="live DMs timed (default 50)")
    parser.add_argument("--reuse-data", action="store_true", help="skip the seed if data is there")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default 8110 or free)")
    parser.add_argument(
        "--ws-port", type=int, default=None, help="/ws/ port (default 8111 or free)"
    )
    args = parser.parse_args(argv)
    if args.loads < 1 or args.events < 1:
        parser.error("--loads and --events must be at least 1")
    return args


def serve_and_measure(
    args: argparse.Namespace, env: dict[str, str], targets: dict[str, Any]
) -> dict[str, Any]:
    """Start the production-mode server on the benchmark's data, sign both members in, and
    take every browser measurement."""
    server = drive.server_start(port=args.port, ws_port=args.ws_port, workers=2, environ=env)
    try:
        tokens = {
            role: drive.login(base_url=server.base_url, username=name, password=password)
            for role, (name, password) in (("demo", targets["demo"]), ("other", targets["other"]))
        }
        who = f"{targets['demo'][0]} and {targets['other'][0]}"
        say(f"signed in as {who} (DM room {targets['room_id']})")
        return asyncio.run(
            measure(
                base_url=server.base_url,
                tokens=tokens,
                room_id=targets["room_id"],
                loads=args.loads,
                events=args.events,
            )
        )
    finally:
        server.stop()


def report_build(
    args: argparse.Namespace,
    argv: list[str] | None,
    measured: dict[str, Any],
    *,
    loadavg_before: list[float],
    started: float,
) -> dict[str, Any]:
    """reports/web-budgets.json's content: the run's context, every measurement, the verdict."""
    report = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(
            ["python -m benchmarks.web.budgets", *(argv if argv is not None else sys.argv[1:])]
        ),
        "commit": drive.commit(),
        "machine": drive.machine(),
        "loadavg_before": loadavg_before,
        "loadavg_after": drive.loadavg(),
        "server": "DEBUG=0, SERVER=split (granian WSGI, 2 workers; uvicorn /ws/), 127.0.0.1",
        "data": f"python -m seed --scale {args.scale} --seed {SEED}; python -m seed.demo_user",
        **measured,
        "seconds": round(time.monotonic() - started, 1),
    }
    report["passed"] = all(
        report[part]["passed"] for part in ("feed", "javascript", "layout_shift", "live_dm")
    )
    return report


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.monotonic()
    say("checking chromium and Playwright")
    chromium_check()
    drive.services_ensure()
    env = data_make(scale=args.scale, reuse=args.reuse_data)
    targets = demo_targets(env)
    loadavg_before = drive.loadavg()
    measured = serve_and_measure(args, env, targets)
    report = report_build(args, argv, measured, loadavg_before=loadavg_before, started=started)
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(report, indent=1) + "\n")
    OUT_MD.write_text(summary_markdown(report))
    say(f"{'all budgets met' if report['passed'] else 'a budget was missed'}: {OUT_MD}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BudgetError, drive.DriveError) as exc:
        print(f"bench-web: {exc}", file=sys.stderr)
        sys.exit(2)
