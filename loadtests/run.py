"""The load-test runner behind `make loadtest` and `make loadtest-compare`.

Ensures services and seeded data, starts the app on its own ports (production-like: DEBUG=0,
granian WSGI + uvicorn /ws/ by default), warms up, runs Locust headless, stops what it started,
and writes reports/<UTC timestamp>-<scenario>/ with summary.json, report.md and report.html.
Exit status: 0 ok, 1 a threshold failed, 2 the run itself could not be made. The data and the
app are loadtests/server.py's, Locust loadtests/generator.py's, the reports loadtests/report.py's
and loadtests/compare.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from loadtests import history
from loadtests import report as reports
from loadtests.compare import compare_headline, compare_write
from loadtests.cpu import describe
from loadtests.generator import locust_env, locust_run, without_remote
from loadtests.personas import ManifestError, population_load
from loadtests.runtime import ROOT, RunError, python_run, say, verdict
from loadtests.server import Server, data_ensure, database_name
from loadtests.summary import DEFAULT_P95_TARGET_MS, summary_build
from loadtests.thresholds import Check, ThresholdError, thresholds_check, thresholds_load

SCENARIOS = ("feed", "search", "chat", "mixed")
SHAPES = ("steady", "ramp", "spike", "soak")


def seconds_parse(raw: str) -> int:
    """``90``, ``90s``, ``2m``, ``1h30m`` -> seconds."""
    text = raw.strip().lower()
    if text.isdigit():
        return int(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or parts is None:
        raise argparse.ArgumentTypeError(f"bad duration {raw!r}; use e.g. 60s, 2m or 1h")
    hours, minutes, secs = (int(p or 0) for p in parts.groups())
    return hours * 3600 + minutes * 60 + secs


def strategy_parse(raw: str) -> str:
    from app.lab.strategies import StrategyError, parse_header

    try:
        parse_header(raw)
    except StrategyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return raw.strip()


def arguments(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m loadtests.run", description=__doc__)
    parser.add_argument("--scenario", choices=SCENARIOS, default="feed")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn", type=float, default=10.0)
    parser.add_argument("--duration", type=seconds_parse, default=60)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--strategy", type=strategy_parse, default="")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), type=strategy_parse)
    parser.add_argument("--shape", choices=SHAPES, default="steady")
    parser.add_argument("--steps", type=int, default=6, help="ramp steps")
    parser.add_argument("--workers", type=int, default=0, help="Locust worker processes")
    parser.add_argument(
        "--remote-workers", type=int, default=int(env("REMOTE_WORKERS", "0")),
        help="Locust workers started on other machines",
    )  # fmt: skip
    parser.add_argument(
        "--master-bind", default=env("LOADTEST_MASTER_BIND", "127.0.0.1"),
        help="the address the Locust master listens on",
    )  # fmt: skip
    parser.add_argument(
        "--master-port", type=int, default=int(env("LOADTEST_MASTER_PORT", "0")),
        help="the Locust master's TCP port (0: a free one, or 5557 with remote workers)",
    )  # fmt: skip
    parser.add_argument(
        "--app-host", default=env("LOADTEST_HOST", "127.0.0.1"),
        help="the address the app listens on, which every Locust worker must reach",
    )  # fmt: skip
    parser.add_argument("--thresholds", type=Path)
    parser.add_argument("--warmup", type=seconds_parse, default=10)
    parser.add_argument("--think", type=float, default=1.0, help="think-time multiplier")
    parser.add_argument("--p95-target", type=float, default=DEFAULT_P95_TARGET_MS)
    parser.add_argument("--server", default=env("SERVER", "split"))
    parser.add_argument("--server-workers", type=int, default=int(env("SERVER_WORKERS", "2")))
    parser.add_argument("--port", type=int, default=int(env("LOADTEST_PORT", "8100")))
    parser.add_argument("--ws-port", type=int, default=int(env("LOADTEST_WS_PORT", "8101")))
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--name", help="report folder name (default <UTC timestamp>-<scenario>)")
    parser.add_argument("--silk", action="store_true", default=env("SILK", "") == "1")
    parser.add_argument("--silk-seconds", type=seconds_parse, default=20)
    parser.add_argument(
        "--personas-per-tier", type=int, default=0, help="log in as fewer users (0: all)"
    )
    parser.add_argument("--no-seed", action="store_true", help="use the data as it is")
    args = parser.parse_args(argv)
    if args.users < 1 or args.spawn <= 0 or args.duration < 1 or args.workers < 0:
        parser.error("USERS, SPAWN and DURATION must be positive, WORKERS >= 0")
    if args.remote_workers < 0 or (args.remote_workers and args.compare):
        parser.error("--remote-workers must be >= 0, and serve one measured run (no --compare)")
    if args.remote_workers and not args.master_port:
        args.master_port = 5557  # Locust's own default: known before the master starts
    return args


def description_base(args: argparse.Namespace, *, manifest: Path) -> dict[str, Any]:
    from ops.serve import REASONS

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "scenario": args.scenario,
        "shape": args.shape,
        "users": args.users,
        "spawn_rate": args.spawn,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "think_scale": args.think,
        "locust_workers": args.workers + args.remote_workers,
        "locust_remote_workers": args.remote_workers,
        "scale": args.scale,
        "seed": args.seed,
        "manifest": str(manifest.relative_to(ROOT) if manifest.is_relative_to(ROOT) else manifest),
        "database": database_name(),
        "commit": commit + ("-dirty" if dirty else ""),
        "cores": os.cpu_count() or 1,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        # Not `import locust`: that monkey-patches this process with gevent.
        "locust": importlib.metadata.version("locust"),
        "server": {
            "setup": args.server,
            "http_workers": args.server_workers,
            "why": REASONS.get(args.server, ""),
            "debug": False,
            "host": args.app_host,
            "port": args.port,
            "ws_port": args.ws_port,
        },
    }


def one_run(
    args: argparse.Namespace,
    *,
    server: Server,
    out: Path,
    strategy: str,
    env: dict[str, str],
    base: dict[str, Any],
) -> dict[str, Any]:
    """Warm-up (discarded), then the measured run; its summary.json and report."""
    if args.warmup:
        say(f"warm-up {args.warmup} s ({strategy or 'default strategies'})")
        with tempfile.TemporaryDirectory(prefix="loadtest-warmup-") as scratch:
            # Remote workers join the measured run only: a worker quits with its master.
            locust_run(
                without_remote(args),
                server=server,
                out=Path(scratch),
                strategy=strategy,
                env=env,
                users=min(args.users, 20),
                seconds=args.warmup,
                shape="steady",
            )
    say(f"measuring {args.scenario} for {args.duration} s, {args.users} users, {args.shape}")
    meter = server.cpu_meter()
    load_start = os.getloadavg()
    started = datetime.now(UTC)
    samples, cpu = locust_run(
        args,
        server=server,
        out=out,
        strategy=strategy,
        env=env,
        users=args.users,
        seconds=args.duration,
        shape=args.shape,
        meter=meter,
    )
    description = {
        **base,
        "strategy": strategy or "default",
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    summary = summary_build(
        out, description=description, samples=samples, p95_target_ms=args.p95_target, cpu=cpu
    )
    if summary["server_cpu_ms_per_request"]:
        say(f"server {describe(summary['server_cpu_ms_per_request'])}")
    (out / "samples.json").write_text(json.dumps(samples))
    source = str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out)
    history.append(history.loadtest_record(summary, source=source))
    return summary


def silk_pass(args: argparse.Namespace, *, env: dict[str, str], out: Path) -> None:
    """A short, sampled profiling pass on its own server: never the measured run."""
    say(f"SILK=1: a separate {args.silk_seconds} s profiling pass (100% sampled)")
    python_run("manage.py", "migrate", "--no-input", "-v", "0", env={**os.environ, "SILK": "1"})
    server = Server(args, log=out / "server.log", silk=True)
    server.env["SILK_PERCENT"] = os.environ.get("SILK_PERCENT", "100")
    try:
        server.start()
        locust_run(
            without_remote(args),
            server=server,
            out=out,
            strategy=args.strategy,
            env=env,
            users=min(args.users, 10),
            seconds=args.silk_seconds,
            shape="steady",
        )
    finally:
        server.stop()
    say("profiling pass done; `make silk-report` lists the N+1 suspects")


def gate(summary: dict[str, Any], thresholds: dict[str, Any] | None) -> list[Check]:
    if thresholds is None:
        return []
    checks = thresholds_check(summary, thresholds)
    summary["thresholds"] = [check.__dict__ for check in checks]
    return checks


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        thresholds = thresholds_load(args.thresholds) if args.thresholds else None
    except ThresholdError as exc:
        say(f"error: {exc}")
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    default_name = f"{stamp}-{args.scenario}" + ("-compare" if args.compare else "")
    report_dir = args.out / (args.name or default_name)
    server = Server(args, log=report_dir / "server.log")
    scratch = Path(tempfile.mkdtemp(prefix="loadtest-"))
    checks: list[Check] = []
    try:
        manifest = data_ensure(scale=args.scale, seed=args.seed, reseed=not args.no_seed)
        population = population_load(manifest, per_tier=args.personas_per_tier)
        server.start()
        env = locust_env(
            args, server=server, manifest=manifest, population=population, scratch=scratch
        )
        base = description_base(args, manifest=manifest)
        if args.compare:
            summaries = []
            for label, strategy in zip(("a", "b"), args.compare, strict=False):
                summary = one_run(
                    args,
                    server=server,
                    out=report_dir / label,
                    strategy=strategy,
                    env=env,
                    base=base,
                )
                checks += gate(summary, thresholds)
                reports.report_write(report_dir / label, summary)
                summaries.append(summary)
            server.stop()
            compare = compare_write(report_dir, summaries[0], summaries[1])
            say(f"B/A: {compare_headline(compare)}")
        else:
            summary = one_run(
                args, server=server, out=report_dir, strategy=args.strategy, env=env, base=base
            )
            server.stop()
            checks += gate(summary, thresholds)
            reports.report_write(report_dir, summary)
            print(reports.console_table(summary))
        if args.silk:
            silk_pass(args, env=env, out=report_dir / "silk")
    except (RunError, ManifestError, OSError) as exc:
        say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return verdict(checks, report_dir=report_dir, what="threshold(s)")


if __name__ == "__main__":
    sys.exit(main())
