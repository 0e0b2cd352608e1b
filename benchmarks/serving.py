"""HTTP servers side by side in one run: granian WSGI, gunicorn, granian ASGI, uvicorn.

Run as ``make bench-serving`` (``python -m benchmarks.serving``). All four servers are started
at once with the exact command lines ``make run`` uses (ops.serve), each on its own port,
and wrk drives them in interleaved rounds, so a noisy neighbour on this shared box hits every
setup alike and the ratios to granian WSGI stay comparable. Each round also meters the server
CPU it cost per request (the server under test's process tree, PostgreSQL and Redis; see
loadtests/cpu.py). Writes reports/baselines/serving-<date>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.wrk import summary_read, wrk_lua
from loadtests.cpu import ROLES, CpuMeter, per_request_ms
from ops import serve

ROOT = Path(__file__).resolve().parents[1]

# name -> the SERVER setup whose HTTP process it is
SETUPS = {
    "granian-wsgi": "split",
    "gunicorn-sync": "gunicorn",
    "granian-asgi": "granian-asgi",
    "uvicorn-asgi": "uvicorn",
}
BASELINE = "granian-wsgi"
BENCH_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "LAB_EXPERIMENTS": "1",
    "SILK": "0",
    "LOG_LEVEL": "ERROR",
}
# Each request takes the target's next path in turn; wrk's own counters come from
# benchmarks/wrk.py's ``done``.
WRK_REQUESTS = """
local paths = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
"""


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    paths: list[str]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": (wrk.stdout or wrk.stderr).split("\n", 1)[0].strip(),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("django", "granian", "gunicorn", "uvicorn")}


def commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_data(*, posts: int) -> list[Target]:
    """Populate the bench data and pick the endpoints that exist right now."""
    subprocess.run(
        [sys.executable, "-m", "seed.bench", "--posts", str(posts)],
        cwd=ROOT,
        check=True,
    )
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    django.setup()
    from django.urls import Resolver404, resolve

    from app.accounts.models import User
    from app.posts.models import Post

    targets = [Target("hello", "/lab/hello: full middleware, no database", ["/lab/hello"])]
    post_ids = list(
        Post.objects.filter(author__username__startswith="bench_")
        .order_by("id")
        .values_list("id", flat=True)[:posts]
    )

    def exists(path: str) -> bool:
        try:
            resolve(path)
        except Resolver404:
            return False
        return True

    if post_ids and exists(f"/api/posts/{post_ids[0]}"):
        targets.append(
            Target(
                "post-detail",
                f"GET /api/posts/{{id}}, anonymous, rotating over {len(post_ids)} posts "
                "with 3 images, likes and comments each",
                [f"/api/posts/{pk}" for pk in post_ids],
            )
        )
    else:
        names = list(
            User.objects.filter(username__startswith="bench_")
            .order_by("id")
            .values_list("username", flat=True)
        )
        print("note: GET /api/posts/{id} does not exist yet; measuring /api/users/{username}")
        if names and exists(f"/api/users/{names[0]}"):
            targets.append(
                Target(
                    "user-profile",
                    f"GET /api/users/{{username}}, anonymous, rotating over {len(names)} users",
                    [f"/api/users/{name}" for name in names],
                )
            )
        else:
            print("note: /api/users/{username} does not exist either; measuring hello only")
    return targets


class Fleet:
    """All four HTTP servers at once, each in its own process group."""

    def __init__(self, *, workers: int) -> None:
        self.workers = workers
        self.ports: dict[str, int] = {}
        self.argv: dict[str, list[str]] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))

    def start(self) -> None:
        for name, setup in SETUPS.items():
            port = free_port()
            config = serve.ServeConfig(
                setup=setup, host="127.0.0.1", port=port, ws_port=free_port(), workers=self.workers
            )
            http = serve.serve_commands(config=config)[0]
            metrics_dir = self.tmp / name
            metrics_dir.mkdir()
            env = serve.child_environment(
                config=config, environ={**os.environ, **BENCH_ENV}, metrics_dir=metrics_dir
            )
            log = (self.tmp / f"{name}.log").open("wb")
            self.ports[name] = port
            self.argv[name] = list(http.argv[1:])
            self.processes[name] = subprocess.Popen(
                http.argv, cwd=ROOT, env=env, stdout=log, stderr=log, process_group=0
            )

    def meters(self) -> dict[str, CpuMeter]:
        """One CPU meter per server: its process tree, and the database and Redis it uses."""
        from django.conf import settings

        return {
            name: CpuMeter.for_servers(
                app_pid=process.pid,
                database_url=settings.DATABASE_URL,
                redis_url=settings.REDIS_URL,
            )
            for name, process in self.processes.items()
        }

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for name, port in self.ports.items():
            while True:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited; see {self.tmp / (name + '.log')}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                        break
                except (urllib.error.URLError, OSError):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} not ready in {timeout:.0f} s") from None
                    time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_same_answers(*, fleet: Fleet, targets: list[Target]) -> None:
    """Every server must give the same status and body, or the race is meaningless."""
    for target in targets:
        answers = {}
        for name, port in fleet.ports.items():
            url = f"http://127.0.0.1:{port}{target.paths[0]}"
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    answers[name] = (response.status, json.loads(response.read()))
            except urllib.error.HTTPError as exc:
                answers[name] = (exc.code, exc.read().decode(errors="replace")[:200])
        statuses = {status for status, _ in answers.values()}
        bodies = {json.dumps(body, sort_keys=True) for _, body in answers.values()}
        if statuses != {200} or len(bodies) != 1:
            raise RuntimeError(f"{target.name}: servers disagree or fail: {answers}")


def wrk_once(
    *,
    port: int,
    target: Target,
    seconds: int,
    connections: int,
    script: Path,
    meter: CpuMeter | None = None,
) -> dict[str, Any]:
    argv = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    if meter is not None:
        meter.start()
    # Bounded: wrk itself stops after -d, the subprocess timeout catches a wedged wrk.
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 20)
    finally:
        spent = meter.stop() if meter is not None else {}
    raw = summary_read(result.stdout)
    if raw is None:
        raise RuntimeError(f"wrk gave no summary:\n{result.stdout}\n{result.stderr}")
    # wrk's status errors: every response of 400 or more (the report has called them non2xx).
    non2xx = raw["status_errors"]
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "requests": raw["requests"],
        "errors": non2xx
        + raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"],
        "non2xx": non2xx,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "cpu_seconds": {role: round(v, 4) for role, v in spent.items()} if spent else None,
        "cpu_ms_per_request": per_request_ms(spent, raw["requests"]) if spent else None,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": round(statistics.median(r["rps"] for r in runs), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "errors": sum(r["errors"] for r in runs),
        "rounds_rps": [round(r["rps"], 1) for r in runs],
        "cpu_ms_per_request": cpu_per_request(runs),
    }


def cpu_per_request(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """CPU of all rounds over the requests of all rounds, per role and in total (not a median
    of ratios, in which a slow round's few requests would weigh as much as a fast one's)."""
    metered = [r for r in runs if r.get("cpu_seconds")]
    if not metered:
        return None
    spent = {role: sum(r["cpu_seconds"].get(role, 0.0) for r in metered) for role in ROLES}
    return per_request_ms(spent, sum(r["requests"] for r in metered))


def markdown(results: dict[str, dict[str, dict[str, Any]]], targets: list[Target]) -> str:
    lines = []
    for target in targets:
        rows = results[target.name]
        base = rows[BASELINE]["rps"]
        lines += [
            f"**{target.name}**: {target.description}",
            "",
            "| server (2 workers) | req/s (median of rounds) | p50 ms | p99 ms | vs granian WSGI "
            "| CPU ms/req app | postgres | redis | total | errors | rounds req/s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, row in rows.items():
            cpu = row.get("cpu_ms_per_request") or {}
            cpu_cells = " | ".join(f"{cpu[k]:.3f}" if k in cpu else "-" for k in (*ROLES, "total"))
            lines.append(
                f"| {name} | {row['rps']:,.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
                f"| {row['rps'] / base:.2f}x | {cpu_cells} | {row['errors']} "
                f"| {', '.join(f'{r:,.0f}' for r in row['rounds_rps'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2, help="seconds per server and target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--posts", type=int, default=2000, help="bench posts to populate")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: dated)")
    return parser.parse_args(argv)


def scripts_write(*, fleet: Fleet, targets: list[Target]) -> dict[str, Path]:
    """One wrk script per target, cycling through its paths."""
    scripts = {}
    for target in targets:
        script = fleet.tmp / f"{target.name}.lua"
        paths = ", ".join(json.dumps(p) for p in target.paths)
        script.write_text(wrk_lua(setup=WRK_REQUESTS % paths, count_statuses=False))
        scripts[target.name] = script
    return scripts


def target_race(
    *,
    fleet: Fleet,
    target: Target,
    script: Path,
    meters: dict[str, CpuMeter],
    args: argparse.Namespace,
) -> dict[str, list[dict[str, Any]]]:
    """Every server on one target: a warm-up each, then the rounds, each round's order rotated."""
    print(f"== {target.name}: {target.description}", flush=True)
    names = list(SETUPS)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for name in names:
        wrk_once(
            port=fleet.ports[name],
            target=target,
            seconds=args.warmup,
            connections=args.connections,
            script=script,
        )
    for round_no in range(args.rounds):
        # Rotate the order so no server always runs first (or last) in a round.
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in order:
            run = wrk_once(
                port=fleet.ports[name],
                target=target,
                seconds=args.seconds,
                connections=args.connections,
                script=script,
                meter=meters[name],
            )
            runs[name].append(run)
            cpu = run["cpu_ms_per_request"] or {}
            print(
                f"  round {round_no + 1} {name:<13} {run['rps']:>8,.0f} req/s  "
                f"p50 {run['p50_ms']:6.1f} ms  p99 {run['p99_ms']:7.1f} ms  "
                f"CPU {cpu.get('app', 0):.3f} app / {cpu.get('total', 0):.3f} total "
                f"ms/req  errors {run['errors']}  load {run['loadavg_1m']}",
                flush=True,
            )
    return runs


def report_build(
    *,
    args: argparse.Namespace,
    targets: list[Target],
    commands: dict[str, list[str]],
    results: dict[str, dict[str, dict[str, Any]]],
    raw: dict[str, dict[str, list[dict[str, Any]]]],
    wall_seconds: float,
    table: str,
) -> dict[str, Any]:
    return {
        "benchmark": "serving",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "versions": versions(),
        "settings": {
            "connections": args.connections,
            "workers": args.workers,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "posts": args.posts,
            "env": {k: v for k, v in BENCH_ENV.items() if k != "SECRET_KEY"},
        },
        "commands": commands,
        "targets": {t.name: t.description for t in targets},
        "baseline": BASELINE,
        "results": results,
        "ratios": {
            target: {
                name: round(row["rps"] / rows[BASELINE]["rps"], 3) for name, row in rows.items()
            }
            for target, rows in results.items()
        },
        "raw": raw,
        "wall_seconds": wall_seconds,
        "markdown": table,
    }


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if shutil.which("wrk") is None:
        print(
            "error: wrk is not installed. Install it with `apt-get install -y wrk` "
            "(Debian/Ubuntu) or `brew install wrk`, then rerun `make bench-serving`.",
            file=sys.stderr,
        )
        return 2
    for key, value in BENCH_ENV.items():
        os.environ[key] = value
    from ops import services

    if services.embedded_enabled() and not services.is_running():
        services.start(quiet=True)
    targets = prepare_data(posts=args.posts)
    fleet = Fleet(workers=args.workers)
    started = time.time()
    results: dict[str, dict[str, dict[str, Any]]] = {}
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        fleet.start()
        fleet.wait_ready()
        check_same_answers(fleet=fleet, targets=targets)
        meters = fleet.meters()
        scripts = scripts_write(fleet=fleet, targets=targets)
        for target in targets:
            raw[target.name] = target_race(
                fleet=fleet, target=target, script=scripts[target.name], meters=meters, args=args
            )
            results[target.name] = {
                name: summarise(runs) for name, runs in raw[target.name].items()
            }
        commands = dict(fleet.argv)
    finally:
        fleet.stop()
    table = markdown(results, targets)
    print()
    print(table)
    report = report_build(
        args=args,
        targets=targets,
        commands=commands,
        results=results,
        raw=raw,
        wall_seconds=round(time.time() - started, 1),
        table=table,
    )
    today = dt.datetime.now(dt.UTC).date()
    out = args.out or ROOT / "reports" / "baselines" / f"serving-{today}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"saved {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
