"""Login flood: other endpoints' p95 with 32 parallel wrong-password clients, against unloaded.

Run as ``make bench-login-flood`` (``python -m benchmarks.login_flood``). It starts the
production-mode server (DEBUG=0, granian WSGI, 2 workers, as benchmarks/drive.py does) with a
Redis key prefix of its own, so the flood's counters and cold caches touch neither `make run`
nor another run. A probe walks a few endpoints in turn (hello, a post, a profile, its grid, a
search and /api/me as a seeded persona), first alone, then while a second process keeps 32
connections each sending a wrong password for one real account as fast as the server answers
(an attacker ignores Retry-After). Each endpoint's p95 under the flood is divided by its
unloaded p95; issue 13's target is at most 2. Reported for the whole flood and for its steady
state (from STEADY_AFTER seconds after the flood began, when the account's window is used up
and the wrong passwords it let through have been hashed), with a per-2-second timeline and the
flood client's own CPU (it runs on the same box). Writes benchmarks/results/login-flood.json.
Exit status: 0 within target, 1 over it or when a probe failed, 2 when the run could not be
made.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import drive
from benchmarks.drive import PYTHON, ROOT, DriveError, say

OUT = ROOT / "benchmarks" / "results" / "login-flood.json"
PREFIX = "bench-login-flood"
CLIENTS = 32
TARGET_RATIO = 2.0
# Probe paths, filled from the seeded database (drive.LabTargets).
PROBES = {
    "hello": "/lab/hello",
    "post": "/api/posts/{post_id}",
    "profile": "/api/users/{profile}",
    "grid": "/api/users/{profile}/posts",
    "search": "/api/search?q={word}",
    "me": "/api/me",
}
PROBE_PAUSE = 0.005
RAMP = 2.0
STEADY_AFTER = 6.0
BUCKET = 2.0


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.login_flood", description=__doc__)
    parser.add_argument("--seconds", type=float, default=12.0, help="per phase (default 12)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="flooding connections")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    # Internal: the flooding process.
    parser.add_argument("--flood", nargs=3, metavar=("BASE_URL", "USERNAME", "SECONDS"))
    return parser.parse_args(argv)


# --- the flood (its own process, so its CPU is not the probe's GIL) ---------------------------


async def _flood_client(
    host: str, port: int, body: bytes, until: float, statuses: dict[str, int]
) -> None:
    request = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < until:
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:  # the server closed the connection: open another
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            code = status_line.split()[1].decode()
            statuses[code] = statuses.get(code, 0) + 1
    finally:
        writer.close()


async def _flood(base_url: str, username: str, seconds: float, clients: int) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(base_url)
    body = json.dumps({"username": username, "password": "not-the-password"}).encode()
    statuses: dict[str, int] = {}
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(
        *(
            _flood_client(parts.hostname or "127.0.0.1", parts.port or 80, body, until, statuses)
            for _ in range(clients)
        ),
        return_exceptions=True,
    )
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    return {
        "requests": total,
        "rps": round(total / elapsed, 1),
        "statuses": statuses,
        # One core is 1.0: what the load generator took from the two the server shares.
        "client_cpu_cores": round(time.process_time() / elapsed, 2),
    }


def flood_start(*, base_url: str, username: str, seconds: float, clients: int) -> Any:
    argv = [PYTHON, "-m", "benchmarks.login_flood", "--clients", str(clients)]
    argv += ["--flood", base_url, username, str(seconds)]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)


# --- the probe ----------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


Samples = dict[str, list[tuple[float, float]]]


def probe(*, base_url: str, paths: dict[str, str], token: str, seconds: float) -> Samples:
    """Round-robin over ``paths`` on one keep-alive connection for ``seconds``; per endpoint
    (seconds since the start, latency in ms) of each request, and -1 ms for a status but 200."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    samples: Samples = {name: [] for name in paths}
    headers = {"Authorization": f"Bearer {token}"}
    begin = time.monotonic()
    try:
        while time.monotonic() < begin + seconds:
            for name, path in paths.items():
                started = time.perf_counter()
                conn.request("GET", path, headers=headers)
                answer = conn.getresponse()
                answer.read()
                ms = (time.perf_counter() - started) * 1000
                samples[name].append((time.monotonic() - begin, ms if answer.status == 200 else -1))
                time.sleep(PROBE_PAUSE)
    finally:
        conn.close()
    return samples


def summary(samples: Samples, *, after: float = 0.0) -> dict[str, dict[str, Any]]:
    """Per endpoint: count, p50 and p95 in ms of the samples taken ``after`` seconds on."""
    out = {}
    for name, rows in samples.items():
        values = [ms for at, ms in rows if at >= after and ms >= 0]
        out[name] = {
            "count": len(values),
            "p50_ms": round(sorted(values)[len(values) // 2], 2) if values else 0.0,
            "p95_ms": round(p95(values), 2),
            "not_200": sum(1 for at, ms in rows if at >= after and ms < 0),
        }
    return out


def timeline(samples: Samples) -> list[dict[str, Any]]:
    """p95 of every endpoint's samples together, per BUCKET seconds."""
    rows = [(at, ms) for values in samples.values() for at, ms in values if ms >= 0]
    end = max((at for at, _ in rows), default=0.0)
    buckets = []
    start = 0.0
    while start <= end:
        inside = [ms for at, ms in rows if start <= at < start + BUCKET]
        buckets.append({"from_s": start, "p95_ms": round(p95(inside), 2), "count": len(inside)})
        start += BUCKET
    return buckets


def ratios(quiet: dict[str, dict[str, Any]], loaded: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        name: round(loaded[name]["p95_ms"] / quiet[name]["p95_ms"], 2)
        if quiet[name]["p95_ms"]
        else None
        for name in quiet
    }


def redis_clear(prefix: str) -> None:
    import redis

    conn = redis.Redis.from_url(drive.redis_url())
    keys = list(conn.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        conn.delete(*keys[start : start + 1000])


@dataclass
class Phases:
    """The probe's samples unloaded and under the flood, and the flood client's own figures."""

    quiet: Samples
    loaded: Samples
    flood: dict[str, Any]


def phases_run(
    args: argparse.Namespace, targets: drive.LabTargets, paths: dict[str, str]
) -> Phases:
    """Start the server, warm up, probe it unloaded, then probe it again under the flood."""
    redis_clear(PREFIX)
    server = drive.server_start(
        port=args.port, ws_port=None, environ={**os.environ, "REDIS_KEY_PREFIX": PREFIX}
    )
    try:
        token = drive.login(
            base_url=server.base_url, username=targets.username, password=targets.password
        )
        say("warming the probed endpoints")
        probe(base_url=server.base_url, paths=paths, token=token, seconds=2.0)
        say(f"unloaded: probing {len(paths)} endpoints for {args.seconds:g} s")
        quiet_samples = probe(
            base_url=server.base_url, paths=paths, token=token, seconds=args.seconds
        )
        say(f"flood: {args.clients} wrong-password clients for @{targets.profile}")
        flood = flood_start(
            base_url=server.base_url,
            username=targets.profile,
            seconds=args.seconds + RAMP,
            clients=args.clients,
        )
        time.sleep(RAMP)
        loaded_samples = probe(
            base_url=server.base_url, paths=paths, token=token, seconds=args.seconds
        )
        out, _ = flood.communicate(timeout=args.seconds + 60)
        flood_stats = json.loads(out.strip().splitlines()[-1])
    finally:
        server.stop()
        redis_clear(PREFIX)
    return Phases(quiet=quiet_samples, loaded=loaded_samples, flood=flood_stats)


def report_build(
    args: argparse.Namespace,
    targets: drive.LabTargets,
    phases: Phases,
    load_before: list[float],
) -> dict[str, Any]:
    """The JSON report: each endpoint's p95 unloaded and flooded, their ratios, the timelines."""
    quiet = summary(phases.quiet)
    loaded = summary(phases.loaded)
    steady = summary(phases.loaded, after=STEADY_AFTER - RAMP)
    whole_ratios = ratios(quiet, loaded)
    steady_ratios = ratios(quiet, steady)
    worst = max((r for r in whole_ratios.values() if r is not None), default=0.0)
    worst_steady = max((r for r in steady_ratios.values() if r is not None), default=0.0)
    failed = sum(row["not_200"] for row in (*quiet.values(), *loaded.values()))
    return {
        "benchmark": "login-flood",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": drive.commit(),
        "machine": drive.machine(),
        "loadavg_before": load_before,
        "loadavg_after": drive.loadavg(),
        "server": "split (granian WSGI, 2 workers x 4 threads), DEBUG=0",
        "seconds_per_phase": args.seconds,
        "flood_clients": args.clients,
        "flood_target": targets.profile,
        "flood": phases.flood,
        "unloaded": quiet,
        "flooded": loaded,
        "p95_ratio": whole_ratios,
        "worst_p95_ratio": worst,
        "steady_after_s": STEADY_AFTER,
        "flooded_steady": steady,
        "p95_ratio_steady": steady_ratios,
        "worst_p95_ratio_steady": worst_steady,
        "timeline_unloaded": timeline(phases.quiet),
        "timeline_flooded": timeline(phases.loaded),
        "target_ratio": TARGET_RATIO,
        "within_target": worst <= TARGET_RATIO and failed == 0,
        "probe_failures": failed,
    }


def report_say(report: dict[str, Any], paths: dict[str, str]) -> None:
    """Print the flood's figures and each endpoint's p95 before and during it."""
    flood_stats = report["flood"]
    quiet, loaded, steady = report["unloaded"], report["flooded"], report["flooded_steady"]
    flooded = f"{flood_stats['requests']} logins, {flood_stats['rps']}/s"
    say(f"flood: {flooded}, by status {flood_stats['statuses']}")
    say(f"the flood client used {flood_stats['client_cpu_cores']} of a core")
    for name in paths:
        say(
            f"  {name:<8} p95 {quiet[name]['p95_ms']:7.2f} ms -> {loaded[name]['p95_ms']:7.2f} ms"
            f" x{report['p95_ratio'][name]}; steady {steady[name]['p95_ms']:7.2f} ms"
            f" x{report['p95_ratio_steady'][name]}"
        )
    worst, worst_steady = report["worst_p95_ratio"], report["worst_p95_ratio_steady"]
    say(f"worst p95 ratio x{worst}, steady x{worst_steady} (target <= {TARGET_RATIO:g})")


def run(args: argparse.Namespace) -> int:
    """Measure, write the report and print it; 0 within target, 1 over it or on a failed probe."""
    drive.services_ensure()
    targets = drive.lab_targets()
    paths = {name: targets.path(template) for name, template in PROBES.items()}
    load_before = drive.loadavg()
    phases = phases_run(args, targets, paths)
    report = report_build(args, targets, phases, load_before)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    report_say(report, paths)
    say(f"wrote {args.out}")
    return 0 if report["within_target"] else 1


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.flood:
        base_url, username, seconds = args.flood
        stats = asyncio.run(_flood(base_url, username, float(seconds), args.clients))
        print(json.dumps(stats), flush=True)
        return 0
    try:
        return run(args)
    except DriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
