"""``python -m benchmarks.capacity validate``: the model's read mix driven for real, CPU metered.

The plan predicts app cores per 1,000 req/s as the mix's mean app CPU per request, each
endpoint's cost measured alone (benchmarks/endpoints.py). This drives the mix itself: one wrk
script cycles through the endpoints' paths, each as often as the model's reads per DAU say
(``weights``), against the production-mode server at ``--workers`` on the database of
``--scale`` (point DATABASE_URL at it). CPU comes from loadtests/cpu.py over each round; the
report is the median round. Writes benchmarks/results/capacity-mix-<scale>-w<workers>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks import drive
from benchmarks.drive import ENDPOINTS, DriveError, say
from benchmarks.wrk import lua_string, summary_read, wrk_lua
from loadtests.cpu import CpuMeter, per_request_ms

RESULTS = drive.ROOT / "benchmarks" / "results"


def weights(reads_per_dau: Mapping[str, float]) -> dict[str, int]:
    """Whole repeats per endpoint in one cycle of the script: the rates in half-request steps."""
    found = {label: round(rate * 2) for label, rate in reads_per_dau.items() if rate > 0}
    unknown = sorted(label for label in found if label not in ENDPOINTS)
    if unknown:
        raise DriveError(f"the model names endpoints wrk cannot drive: {', '.join(unknown)}")
    return {label: n for label, n in found.items() if n > 0}


def mix_script(*, paths: list[str], headers: Mapping[str, str]) -> str:
    """A wrk script whose requests cycle through ``paths`` in order (per wrk thread)."""
    lines = [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    lines.append("local paths = {" + ", ".join(lua_string(p) for p in paths) + "}")
    lines.append(
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end"
    )
    return wrk_lua(setup="\n".join(lines), count_statuses=False)


def cycle(targets: drive.LabTargets, counts: Mapping[str, int]) -> list[str]:
    """The paths of one cycle, interleaved: each endpoint's repeats spread over the cycle."""
    slots: list[tuple[float, str]] = []
    for label, n in counts.items():
        path = targets.path(ENDPOINTS[label])
        slots += [((k + 0.5) / n, path) for k in range(n)]
    return [path for _, path in sorted(slots)]


def wrk_mix(
    *, base_url: str, script: str, seconds: float, connections: int, threads: int = 2
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="capacity-wrk-") as file:
        file.write(script)
        file.flush()
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
        argv += ["--timeout", "10s", "-s", file.name, base_url.rstrip("/") + "/"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    raw = summary_read(result.stdout)
    if raw is None:
        raise DriveError(f"wrk gave no summary:\n{result.stdout}\n{result.stderr}")
    return raw


def _round(raw: dict[str, Any], spent: dict[str, float]) -> dict[str, Any]:
    seconds = raw["duration_us"] / 1e6
    errors = raw["status_errors"] + raw["connect_errors"] + raw["read_errors"]
    errors += raw["write_errors"] + raw["timeouts"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": errors,
        "cpu_seconds": {role: round(value, 3) for role, value in spent.items()},
        "cpu_ms_per_request": per_request_ms(spent, raw["requests"]),
        "loadavg": drive.loadavg(),
    }


def mix_run(args: argparse.Namespace, counts: Mapping[str, int]) -> dict[str, Any]:
    """Start the server, sign the persona in, warm the mix, then the metered rounds."""
    drive.wrk_require(command="`python -m benchmarks.capacity validate`")
    targets = drive.lab_targets()
    paths = cycle(targets, counts)
    server = drive.server_start(port=None, ws_port=None, workers=args.workers)
    rounds: list[dict[str, Any]] = []
    try:
        meter = CpuMeter.for_servers(
            app_pid=server.http_pid,
            database_url=drive.database_url(),
            redis_url=drive.redis_url(),
        )
        token = drive.login(
            base_url=server.base_url, username=targets.username, password=targets.password
        )
        script = mix_script(paths=paths, headers=drive.request_headers(token=token, strategy=""))
        wrk_mix(base_url=server.base_url, script=script, seconds=args.warmup, connections=16)
        for number in range(1, args.rounds + 1):
            meter.start()
            raw = wrk_mix(
                base_url=server.base_url,
                script=script,
                seconds=args.seconds,
                connections=args.connections,
            )
            rounds.append(_round(raw, meter.stop()))
            cpu = rounds[-1]["cpu_ms_per_request"]
            say(
                f"round {number}/{args.rounds}: {rounds[-1]['rps']:,.0f} req/s, app "
                f"{cpu['app']:.3f} ms/req, errors {rounds[-1]['errors']}, load {drive.loadavg()}"
            )
    finally:
        server.stop()
    return {"targets": targets.scale, "persona": targets.username, "rounds": rounds}


def report_build(args: argparse.Namespace, counts: Mapping[str, int]) -> dict[str, Any]:
    load_before = drive.loadavg()
    found = mix_run(args, counts)
    rounds = found["rounds"]
    app = [r["cpu_ms_per_request"]["app"] for r in rounds]
    return {
        "benchmark": "capacity-mix",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": drive.commit(),
        "machine": drive.machine(),
        "loadavg_before": load_before,
        "settings": {
            "scale": args.scale,
            "seed_scale": found["targets"],
            "workers": args.workers,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "connections": args.connections,
            "weights": dict(counts),
        },
        "persona": found["persona"],
        "rounds": rounds,
        "app_ms_per_request_median": round(drive.median(app), 3),
        "cores_per_1000_rps": round(drive.median(app), 3),
        "rps_median": round(drive.median(r["rps"] for r in rounds), 1),
        "errors": sum(r["errors"] for r in rounds),
    }


def out_path(args: argparse.Namespace) -> Path:
    return args.out or RESULTS / f"capacity-mix-{args.scale}-w{args.workers}.json"


def validate(args: argparse.Namespace, reads_per_dau: Mapping[str, float]) -> int:
    report = report_build(args, weights(reads_per_dau))
    path = out_path(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"mix at {args.scale}, {args.workers} workers: {report['rps_median']:,.0f} req/s, "
        f"{report['cores_per_1000_rps']:.3f} app cores per 1,000 req/s (median of "
        f"{args.rounds}); errors {report['errors']}; saved {path}"
    )
    return 1 if report["errors"] else 0
