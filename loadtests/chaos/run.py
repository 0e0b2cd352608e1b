"""The chaos runner behind `make chaos SCENARIO=... [DURATION=short]`.

Starts its own PostgreSQL and Redis under var/chaos/ (seeded `tiny` once, reused after), the
app on free ports (DEBUG=0, production-like, as `make loadtest` does), runs a steady mixed
Locust load with tracked chat senders, injects the fault at a fixed time, restores it, and
writes reports/<UTC timestamp>-chaos-<scenario>/. Probes /healthz and /readyz four times a
second throughout. Stops everything it started. Exit status: 0 every check passed, 1 a check
failed, 2 the run itself could not be made.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtests import run as loadrun
from loadtests import runtime
from loadtests.chaos import analysis
from loadtests.chaos.faults import (
    DEFAULT_VAR,
    FAULTS,
    SCENARIOS,
    Fault,
    FaultError,
    PrivateServices,
    free_port,
)
from loadtests.chaos.ledger import request_record
from loadtests.chaos.report import chaos_report_write
from loadtests.cpu import CpuMeter
from loadtests.generator import locust_env, locust_run
from loadtests.personas import ManifestError, population_load
from loadtests.runtime import ROOT, RunError, verdict
from loadtests.server import Server, data_ensure
from loadtests.summary import process_files_read, summary_build

# The outage length; a killed worker's window is as long, so its failure ratio is
# taken over the same span of traffic.
FAULT_SECONDS = 15
# DURATION: seconds of load before the fault and after its window.
# short is CI's: recovery is measurable up to 10 s after the restore (STAYS_GOOD_SECONDS).
DURATIONS = {"full": (30, 45), "short": (10, 15)}
PROBE_EVERY = 0.25
PROBE_TIMEOUT = 5.0


def say(message: str) -> None:
    runtime.say(f"chaos: {message}")


def duration_parse(raw: str) -> tuple[int, int]:
    """``short``, ``full`` or a total like ``120s``: seconds before the fault and after it."""
    if raw in DURATIONS:
        return DURATIONS[raw]
    total = loadrun.seconds_parse(raw)
    rest = total - FAULT_SECONDS
    if rest < 20:
        raise argparse.ArgumentTypeError(
            f"DURATION must leave 20 s around the {FAULT_SECONDS} s fault"
        )
    return rest // 3, rest - rest // 3


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.chaos", description=__doc__)
    parser.add_argument("--scenario", choices=SCENARIOS, required=True)
    parser.add_argument("--duration", type=duration_parse, default=DURATIONS["full"])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--spawn", type=float, default=15.0)
    parser.add_argument("--think", type=float, default=0.5, help="think-time multiplier")
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--personas-per-tier", type=int, default=5)
    parser.add_argument("--warmup", type=loadrun.seconds_parse, default=None)
    parser.add_argument("--var-dir", type=Path, default=DEFAULT_VAR)
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: a free one)")
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--name", help="report folder name")
    parser.add_argument(
        "--keep-services", action="store_true", help="leave the lab's PostgreSQL and Redis up"
    )
    args = parser.parse_args(argv)
    if args.users < 1 or args.spawn <= 0:
        parser.error("USERS and SPAWN must be positive")
    args.before, args.after = args.duration
    args.port = args.port or free_port()
    args.ws_port = args.ws_port or free_port()
    if args.warmup is None:
        # The phase before the fault is the baseline; a short run spends no time on a warm-up.
        args.warmup = 0 if args.duration == DURATIONS["short"] else 10
    return args


def load_namespace(args: argparse.Namespace) -> argparse.Namespace:
    """What the load test's Server, locust_run and description_base read."""
    return argparse.Namespace(
        scenario="chaos",
        shape="steady",
        users=args.users,
        spawn=args.spawn,
        duration=args.before + FAULT_SECONDS + args.after,
        warmup=args.warmup,
        think=args.think,
        workers=0,
        remote_workers=0,
        master_bind="127.0.0.1",
        master_port=0,
        app_host="127.0.0.1",
        steps=1,
        scale=args.scale,
        seed=args.seed,
        server="split",
        server_workers=2,
        port=args.port,
        ws_port=args.ws_port,
    )


class ChaosServer(Server):
    """The load-test server, metered against the lab's own PostgreSQL and Redis."""

    def __init__(self, args: argparse.Namespace, *, log: Path, urls: dict[str, str]) -> None:
        super().__init__(args, log=log)
        self.urls = urls

    def start(self) -> None:
        """Start as `make loadtest` does, with anonymous reads sent meanwhile: a worker opens
        its database pool on its first query, and until then /readyz answers 503 (an app
        bug, reported with the chaos lab), so a server nobody uses would never become ready."""
        stop = threading.Event()
        primer = threading.Thread(target=self._prime, args=(stop,), daemon=True)
        primer.start()
        try:
            super().start()
        finally:
            stop.set()
            primer.join()

    def _prime(self, stop: threading.Event) -> None:
        while not stop.wait(0.3):
            with contextlib.suppress(OSError, urllib.error.URLError):
                urllib.request.urlopen(f"{self.base}/api/search?q=chaos", timeout=5).close()

    def cpu_meter(self) -> CpuMeter:
        return CpuMeter.for_servers(
            app_pid=self.process.pid if self.process else None,
            database_url=self.urls["DATABASE_URL"],
            redis_url=self.urls["REDIS_URL"],
        )


class Prober(threading.Thread):
    """GETs one path every PROBE_EVERY seconds; records as the Locust processes do."""

    def __init__(self, base: str, path: str) -> None:
        super().__init__(daemon=True)
        self.url, self.path = f"{base}{path}", path
        self.records: list[dict[str, Any]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            started = time.perf_counter()
            status: int | None = None
            error: BaseException | None = None
            try:
                with urllib.request.urlopen(self.url, timeout=PROBE_TIMEOUT) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status, error = exc.code, exc
            except (OSError, urllib.error.URLError) as exc:
                error = exc
            spent = time.perf_counter() - started
            self.records.append(
                request_record(
                    at=time.time(),
                    kind="GET",
                    name=self.path,
                    ms=spent * 1000,
                    status=status,
                    exception=error,
                )
            )
            self.stopped.wait(max(0.0, PROBE_EVERY - spent))


class Injector(threading.Thread):
    """Waits ``before`` seconds, injects the fault, holds it FAULT_SECONDS, restores it."""

    def __init__(self, fault: Fault, *, before: float) -> None:
        super().__init__(daemon=True)
        self.fault, self.before = fault, before
        self.result: analysis.Fault | None = None
        self.error: str | None = None

    def run(self) -> None:
        time.sleep(self.before)
        started = time.time()
        try:
            say(f"injecting {self.fault.name}")
            detail = self.fault.inject()
            if self.fault.instant:
                end = started + FAULT_SECONDS
                self.result = analysis.Fault(self.fault.name, started, end, started, detail)
                say(f"{self.fault.name}: {detail}")
                return
            time.sleep(max(0.0, started + FAULT_SECONDS - time.time()))
            say(f"restoring after {FAULT_SECONDS} s")
            detail |= self.fault.restore()
            restored = time.time()
            detail["restore_took_s"] = round(restored - started - FAULT_SECONDS, 2)
            self.result = analysis.Fault(self.fault.name, started, restored, restored, detail)
            say(f"restored: {detail}")
        except Exception as exc:  # reported, and the run then fails as not made
            self.error = f"{type(exc).__name__}: {exc}"
            say(f"fault failed: {self.error}")


def measured_run(
    args: argparse.Namespace,
    *,
    load: argparse.Namespace,
    server: ChaosServer,
    private: PrivateServices,
    out: Path,
    env: dict[str, str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Locust run with the fault injected into it; its summary and the chaos analysis."""
    assert server.process is not None
    fault = FAULTS[args.scenario](private=private, app_pid=server.process.pid)
    probers = [Prober(server.base, path) for path in ("/healthz", "/readyz")]
    injector = Injector(fault, before=args.before)
    meter = server.cpu_meter()
    load_start = os.getloadavg()
    started = datetime.now(UTC)
    start = time.time()
    for prober in probers:
        prober.start()
    injector.start()
    try:
        samples, cpu = locust_run(
            load,
            server=server,
            out=out,
            strategy="",
            env=env,
            users=args.users,
            seconds=load.duration,
            shape="steady",
            meter=meter,
        )
    finally:
        injector.join(timeout=FAULT_SECONDS + 60)
        for prober in probers:
            prober.stopped.set()
            prober.join()
    if injector.result is None:
        raise RunError(f"the fault was not injected and restored: {injector.error}")
    end = start + load.duration
    description = {
        **loadrun.description_base(load, manifest=Path(env["LAB_MANIFEST"])),
        "chaos_scenario": args.scenario,
        "database": f"instalab on the chaos lab's own server ({private.var_dir})",
        "strategy": "default",
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    summary = summary_build(out, description=description, samples=samples, cpu=cpu)
    probes = sorted((r for p in probers for r in p.records), key=lambda r: float(r["t"]))
    (out / "raw").mkdir(parents=True, exist_ok=True)
    (out / "raw" / "probes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in probes))
    chaos = analysis.analysis_of(
        analysis.records_read(out / "raw"),
        probes,
        process_files_read(out / "raw", "replies"),
        injector.result,
        start=start,
        end=end,
    )
    return summary, chaos


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    load = load_namespace(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_dir = args.out / (args.name or f"{stamp}-chaos-{args.scenario}")
    private = PrivateServices(args.var_dir)
    scratch = Path(tempfile.mkdtemp(prefix="chaos-"))
    server: ChaosServer | None = None
    checks = []
    try:
        say(f"the lab's own PostgreSQL and Redis under {private.var_dir}")
        private.start()
        # Everything started from here (migrate, seed, the app) uses them, never var/'s.
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
        os.environ["LAB_VAR_DIR"] = str(private.var_dir)
        manifest = data_ensure(scale=args.scale, seed=args.seed, reseed=True)
        population = population_load(manifest, per_tier=args.personas_per_tier)
        server = ChaosServer(load, log=report_dir / "server.log", urls=private.urls())
        server.start()
        env = locust_env(
            args, server=server, manifest=manifest, population=population, scratch=scratch
        )
        if args.warmup:
            say(f"warm-up {args.warmup} s")
            locust_run(
                load,
                server=server,
                out=scratch / "warmup",
                strategy="",
                env=env,
                users=min(args.users, 20),
                seconds=args.warmup,
                shape="steady",
            )
        say(
            f"{args.scenario}: {load.duration} s of load, the fault at {args.before} s "
            f"for {FAULT_SECONDS} s, {args.users} users"
        )
        summary, chaos = measured_run(
            args, load=load, server=server, private=private, out=report_dir, env=env
        )
        server.stop()
        checks = analysis.checks_of(chaos, analysis.LIMITS[args.scenario])
        chaos["checks"] = [check.__dict__ for check in checks]
        summary["chaos"] = chaos
        chaos_report_write(report_dir, summary)
    except (RunError, FaultError, ManifestError, OSError) as exc:
        say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if server is not None:
            server.stop()
        if not args.keep_services:
            try:
                private.stop()
            except FaultError as exc:
                say(f"could not stop the lab's servers: {exc}")
        shutil.rmtree(scratch, ignore_errors=True)
    return verdict(checks, report_dir=report_dir, what="check(s)", echo=say)


if __name__ == "__main__":
    sys.exit(main())
