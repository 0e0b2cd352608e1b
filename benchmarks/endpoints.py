"""Throughput of each hot endpoint as a share of /lab/hello, and server CPU per request by role.

Run as ``make bench-endpoints`` (``python -m benchmarks.endpoints``). It starts the
production-mode server (or attaches to one with ``--base-url``), logs a seeded persona in,
warms every endpoint, then drives them with wrk in interleaved rounds: hello, then each
endpoint, R times. A neighbour's load on this shared box then hits hello and the endpoint of
the same round alike, so the share of hello (computed per round, then the median) is the
figure to compare across runs; absolute req/s are not. CPU milliseconds per request come from
loadtests/cpu.py for the app, PostgreSQL and Redis. Writes
benchmarks/results/endpoints-<scale>.json. Exit status: 0, 1 when any response failed, 2 when
the run could not be made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import drive
from benchmarks.drive import BASELINE, ENDPOINTS, DriveError, say
from loadtests.cpu import CpuMeter, per_request_ms

ROLES = ("app", "postgres", "redis")


@dataclass
class EndpointRuns:
    """Every measured round of one endpoint, and what its sampled response said."""

    label: str
    path: str
    rounds: list[drive.WrkRun] = field(default_factory=list)
    cpu_seconds: list[dict[str, float]] = field(default_factory=list)
    warmup_statuses: dict[str, int] = field(default_factory=dict)
    sample_status: int = 0
    server_timing: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        failed_warmup = sum(
            n for code, n in self.warmup_statuses.items() if not code.startswith("2")
        )
        return sum(run.errors for run in self.rounds) + failed_warmup

    def cpu_per_request(self) -> dict[str, float]:
        """CPU over all rounds divided by the requests of all rounds (not a median of ratios:
        a short round's few requests would weigh as much as a long one's)."""
        spent = {role: sum(r.get(role, 0.0) for r in self.cpu_seconds) for role in ROLES}
        return per_request_ms(spent, sum(run.requests for run in self.rounds))


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.endpoints", description=__doc__)
    parser.add_argument("--scale", default="small", help="the seeded scale, for the label")
    parser.add_argument(
        "--only", default="", help=f"comma-separated labels of {', '.join(ENDPOINTS)}"
    )
    parser.add_argument("--strategy", default="", help="X-Lab-Strategy, e.g. feed=optimized")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--base-url", default="", help="use this running server instead")
    parser.add_argument("--port", type=int, default=None, help=f"default {drive.DEFAULT_PORT}")
    parser.add_argument("--ws-port", type=int, default=None)
    parser.add_argument("--user", default=None, help="log in as this user (default: a persona)")
    parser.add_argument("--password", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.rounds < 1 or args.connections < 1:
        parser.error("--seconds, --rounds and --connections must be at least 1")
    labels = [label.strip() for label in args.only.split(",") if label.strip()]
    unknown = [label for label in labels if label not in ENDPOINTS]
    if unknown:
        parser.error(f"unknown endpoint {', '.join(unknown)}; known: {', '.join(ENDPOINTS)}")
    # hello is always measured: it is the yardstick of every round.
    args.labels = [BASELINE] + [label for label in ENDPOINTS if label != BASELINE and (
        not labels or label in labels)]  # fmt: skip
    drive.strategy_check(parser, args.strategy)
    return args


# --- the numbers --------------------------------------------------------------------------------


def summarise(*, runs: dict[str, EndpointRuns]) -> dict[str, dict[str, Any]]:
    """Median req/s per endpoint, and its share of hello: per round, then the median."""
    hello = [run.rps for run in runs[BASELINE].rounds]
    summary: dict[str, dict[str, Any]] = {}
    for label, found in runs.items():
        rps = [run.rps for run in found.rounds]
        shares = drive.ratios_per_round(values=rps, baseline=hello) if rps else []
        summary[label] = {
            "path": found.path,
            "rps_rounds": [round(value, 1) for value in rps],
            "rps_median": round(drive.median(rps), 1),
            "share_of_hello_rounds": [round(value, 4) for value in shares],
            "share_of_hello": round(drive.median(shares), 4) if shares else None,
            "p50_ms_median": round(drive.median(run.p50_ms for run in found.rounds), 2),
            "p99_ms_median": round(drive.median(run.p99_ms for run in found.rounds), 2),
            "requests": sum(run.requests for run in found.rounds),
            "cpu_ms_per_request": found.cpu_per_request(),
            "server_timing": found.server_timing,
            "sample_status": found.sample_status,
            "warmup_statuses": found.warmup_statuses,
            "errors": found.errors,
            "rounds": [asdict(run) for run in found.rounds],
        }
    return summary


def table(summary: dict[str, dict[str, Any]]) -> str:
    header = (
        "| endpoint | req/s | share of hello | app CPU ms/req | pg ms/req | redis ms/req "
        "| total ms/req | cpu;dur ms | queries | cache h/m | errors |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, row in summary.items():
        cpu, timing = row["cpu_ms_per_request"], row["server_timing"]
        share = row["share_of_hello"]
        hits, misses = timing.get("cache_hits"), timing.get("cache_misses")
        lines.append(
            f"| {label} | {row['rps_median']:,.0f} "
            f"| {'-' if share is None else f'{share:.3f}'} "
            f"| {cpu.get('app', 0.0):.2f} | {cpu.get('postgres', 0.0):.2f} "
            f"| {cpu.get('redis', 0.0):.2f} | {cpu.get('total', 0.0):.2f} "
            f"| {_num(timing.get('cpu_ms'))} | {_num(timing.get('queries'), digits=0)} "
            f"| {'-' if hits is None else f'{hits}/{misses}'} | {row['errors']} |"
        )
    return "\n".join(lines)


def _num(value: float | int | None, *, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --- the run ------------------------------------------------------------------------------------


def targets_find(args: argparse.Namespace) -> drive.LabTargets:
    """The persona and ids to drive, from a database seeded at ``--scale``."""
    targets = drive.lab_targets(username=args.user, password=args.password)
    if targets.scale not in (args.scale, "unknown"):
        raise DriveError(
            f"the database is seeded at {targets.scale!r}, not {args.scale!r}; "
            f"pass SCALE={targets.scale} or point DATABASE_URL at a {args.scale} database"
        )
    say(
        f"persona {targets.username}; post {targets.post_id}, profile {targets.profile}, "
        f"#{targets.hashtag}, place {targets.place_id}"
    )
    return targets


def meter_for(server: drive.Server) -> CpuMeter:
    """A CPU meter on the app server, PostgreSQL and Redis; it warns of a role it cannot find."""
    meter = CpuMeter.for_servers(
        app_pid=server.http_pid,
        database_url=drive.database_url(),
        redis_url=drive.redis_url(),
    )
    missing = [role for role, found in meter.found().items() if not found]
    if missing:
        say(f"warning: no process found for {', '.join(missing)}; its CPU reads 0")
    return meter


def warm_up(
    args: argparse.Namespace,
    server: drive.Server,
    runs: dict[str, EndpointRuns],
    headers: dict[str, str],
) -> list[str]:
    """Warm every endpoint with wrk and sample one response; the labels to drive, hello first.

    An endpoint whose sample is not a 200 is named and left out; without hello there is no
    yardstick, so the run stops.
    """
    for label, found in runs.items():
        warm = drive.wrk_run(
            base_url=server.base_url,
            path=found.path,
            headers=headers,
            seconds=args.warmup,
            connections=args.connections,
            threads=args.threads,
            count_statuses=True,
        )
        found.warmup_statuses = warm.statuses
        sample = drive.http_get(base_url=server.base_url, path=found.path, headers=headers)
        found.sample_status = sample.status
        found.server_timing = drive.server_timing(sample)
        say(
            f"warm {label:<13} {found.path}  HTTP {sample.status}  "
            f"statuses {warm.statuses}  {found.server_timing['raw']}"
        )
    ready = [label for label, found in runs.items() if found.sample_status == 200]
    failing = [label for label in runs if label not in ready]
    if failing:
        say(f"not driven (sample was not a 200): {', '.join(failing)}; {server.log_hint()}")
    if BASELINE not in ready:
        raise DriveError(f"{ENDPOINTS[BASELINE]} does not answer 200")
    return ready


def rounds_drive(
    args: argparse.Namespace,
    server: drive.Server,
    runs: dict[str, EndpointRuns],
    ready: list[str],
    headers: dict[str, str],
    meter: CpuMeter,
) -> None:
    """``--rounds`` interleaved rounds over the ready endpoints, each run's CPU metered."""
    for round_no in range(1, args.rounds + 1):
        for label in ready:
            found = runs[label]
            meter.start()
            run = drive.wrk_run(
                base_url=server.base_url,
                path=found.path,
                headers=headers,
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
            )
            spent = meter.stop()
            found.rounds.append(run)
            found.cpu_seconds.append(spent)
            cpu = per_request_ms(spent, run.requests)
            say(
                f"round {round_no}/{args.rounds} {label:<13} {run.rps:>8,.0f} req/s  "
                f"p50 {run.p50_ms:6.1f} ms  app {cpu['app']:.2f} pg {cpu['postgres']:.2f} "
                f"redis {cpu['redis']:.2f} ms/req  errors {run.errors}  "
                f"load {drive.loadavg()[0]}"
            )


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start or attach to the server, warm up, drive the rounds; the report without timings."""
    drive.services_ensure()
    targets = targets_find(args)
    load_before = drive.loadavg()
    server = (
        drive.server_attach(base_url=args.base_url)
        if args.base_url
        else drive.server_start(port=args.port, ws_port=args.ws_port, workers=args.workers)
    )
    try:
        meter = meter_for(server)
        token = drive.login(
            base_url=server.base_url, username=targets.username, password=targets.password
        )
        headers = drive.request_headers(token=token, strategy=args.strategy)
        runs = {
            label: EndpointRuns(label=label, path=targets.path(ENDPOINTS[label]))
            for label in args.labels
        }
        ready = warm_up(args, server, runs, headers)
        rounds_drive(args, server, runs, ready, headers, meter)
    finally:
        server.stop()
    failing = [label for label in runs if label not in ready]
    return report_build(args, targets, summarise(runs=runs), failing, load_before)


def report_build(
    args: argparse.Namespace,
    targets: drive.LabTargets,
    summary: dict[str, dict[str, Any]],
    failing: list[str],
    load_before: list[float],
) -> dict[str, Any]:
    """The JSON report: when, where, with which settings, and each endpoint's summary."""
    return {
        "benchmark": "endpoints",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": drive.commit(),
        "machine": drive.machine(),
        "loadavg_before": load_before,
        "loadavg_after": drive.loadavg(),
        "settings": {
            "scale": args.scale,
            "strategy": args.strategy,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "server": "attached " + args.base_url
            if args.base_url
            else f"split, {args.workers} workers",
            "env": {k: v for k, v in drive.PRODUCTION_ENV.items() if k != "SECRET_KEY"},
        },
        "persona": targets.username,
        "targets": {k: v for k, v in asdict(targets).items() if k != "password"},
        "endpoints": summary,
        "failing": failing,
        "errors": sum(row["errors"] for row in summary.values()) + len(failing),
    }


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.monotonic()
    try:
        drive.wrk_require(command="`make bench-endpoints`")
        report = measure(args)
    except DriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    text = table(report["endpoints"])
    report["markdown"] = text
    out = args.out or drive.ROOT / "benchmarks" / "results" / f"endpoints-{args.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print()
    print(
        f"endpoints at {args.scale}, {args.connections} connections, {args.rounds} rounds of "
        f"{args.seconds:g} s, strategy {args.strategy or 'default'}, commit {report['commit']}, "
        f"load {report['loadavg_before'][0]} -> {report['loadavg_after'][0]}"
    )
    print(text)
    print(f"saved {out.relative_to(drive.ROOT) if out.is_relative_to(drive.ROOT) else out}")
    if report["errors"]:
        print(
            f"FLAGGED: {report['errors']} failed responses or endpoints "
            f"({', '.join(report['failing']) or 'see errors column'}); the numbers are suspect",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
