"""The load-test runner behind `make loadtest` and `make loadtest-compare`.

Ensures services and seeded data, starts the app on its own ports (production-like: DEBUG=0,
granian WSGI + uvicorn /ws/ by default), warms up, runs Locust headless, stops what it started,
and writes reports/<UTC timestamp>-<scenario>/ with summary.json, report.md and report.html.
Exit status: 0 ok, 1 a threshold failed, 2 the run itself could not be made.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from loadtests import history
from loadtests import report as reports
from loadtests.compare import compare_headline, compare_write
from loadtests.cpu import CpuMeter, describe
from loadtests.personas import ManifestError, population_load
from loadtests.summary import DEFAULT_P95_TARGET_MS, summary_build
from loadtests.thresholds import Check, ThresholdError, thresholds_check, thresholds_load

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SCENARIOS = ("feed", "search", "chat", "mixed")
SHAPES = ("steady", "ramp", "spike", "soak")
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
# Unique enough, and never the app's own secret: the server only needs one to start with DEBUG=0.
LOADTEST_SECRET = "loadtest-" + "k" * 48


# Sign-in tries per persona before the run gives up on it.
LOGIN_ATTEMPTS = 30


class RunError(RuntimeError):
    """The run could not be made (services, seed, server or Locust failed)."""


STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[loadtest {time.monotonic() - STARTED:5.1f}s] {message}", file=sys.stderr, flush=True)


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
    return args


# --- services, data and the server -----------------------------------------------------------


def _python(*argv: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, *argv], cwd=ROOT, env=env, text=True, capture_output=capture, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:] if capture else ""
        raise RunError(f"`python {' '.join(argv)}` failed ({result.returncode}) {detail}")
    return result.stdout if capture else ""


def data_ensure(*, scale: str, seed: int, reseed: bool) -> Path:
    """Services up, migrated, seeded at ``scale`` (reused when the manifest says so)."""
    say("services and migrations")
    _python("-m", "ops.services", "start")
    _python("manage.py", "migrate", "--no-input", "-v", "0")
    out = _python(
        "-c",
        "import django; django.setup(); from seed.manifest import manifest_default_path; "
        "print(manifest_default_path())",
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "app.settings"},
        capture=True,
    )
    manifest = Path(out.strip().splitlines()[-1])
    current = None
    with contextlib.suppress(OSError, ValueError):
        current = json.loads(manifest.read_text())
    if current and current.get("status") == "complete" and current.get("scale") == scale:
        say(f"reusing the {scale} data ({manifest.name})")
        return manifest
    if not reseed:
        raise RunError(f"{manifest} is not a complete {scale} seed and --no-seed was given")
    say(f"seeding {scale} (seed {seed}) with reset: the manifest is missing or another scale")
    _python("-m", "seed", "--scale", scale, "--seed", str(seed), "--reset", "--no-progress")
    return manifest


def _database_name() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return "instalab (embedded)"
    return urllib.parse.urlsplit(url).path.lstrip("/") or "?"


class Server:
    """`python -m ops.serve` on the load-test ports, in its own process group."""

    def __init__(self, args: argparse.Namespace, *, log: Path, silk: bool = False) -> None:
        self.args = args
        self.base = f"http://127.0.0.1:{args.port}"
        # Only `split` and `gunicorn` serve /ws/ from a second process on its own port.
        self.ws_port = args.ws_port if args.server in ("split", "gunicorn") else args.port
        self.ws = f"ws://127.0.0.1:{self.ws_port}/ws/"
        self.metrics_dir = ROOT / "var" / f"prometheus-loadtest-{args.port}"
        self.env = {
            **os.environ,
            "SERVER": args.server,
            "HOST": "127.0.0.1",
            "PORT": str(args.port),
            "WS_PORT": str(args.ws_port),
            # The runner's WORKERS means Locust workers; the server's count is its own.
            "WORKERS": str(args.server_workers),
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or LOADTEST_SECRET,
            "LAB_EXPERIMENTS": "1",
            "SILK": "1" if silk else "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Not var/prometheus: that belongs to `make run`, which the runner must not disturb.
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        self.process: subprocess.Popen[bytes] | None = None
        # The app's own log (warnings, tracebacks) goes to the report, not the runner's output.
        self.log_path = log

    def start(self) -> None:
        for port in (self.args.port, self.args.ws_port):
            if _port_busy(port):
                raise RunError(f"port {port} is in use; pass LOADTEST_PORT/LOADTEST_WS_PORT")
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        say(f"starting the app ({self.args.server}) on {self.base} and {self.ws}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "ops.serve"],
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RunError(f"the app exited during start-up ({self.process.returncode})")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as response,
            ):
                if response.status == 200 and _port_busy(self.ws_port):
                    return
            time.sleep(0.3)
        raise RunError(f"{self.base}/readyz did not answer 200 within {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        say("app stopped")

    def cpu_meter(self) -> CpuMeter:
        """The app's process tree, and the PostgreSQL and Redis servers its URLs name."""
        from ops import services

        return CpuMeter.for_servers(
            app_pid=self.process.pid if self.process else None,
            database_url=self.env.get("DATABASE_URL") or services.database_url(),
            redis_url=self.env.get("REDIS_URL") or services.redis_url(),
        )

    def api_paths(self) -> list[str]:
        with urllib.request.urlopen(f"{self.base}/api/openapi.json", timeout=10) as response:
            return sorted(json.load(response).get("paths", {}))

    def login_all(
        self, usernames: list[str], password: str, *, cache: Path | None = None
    ) -> dict[str, str]:
        """One session per persona, issued before the run: the password hash is slow by design
        (about 0.5 s of server CPU each), so sessions still valid from an earlier run are reused.
        """
        cached: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            cached = json.loads(cache.read_text()) if cache else {}

        def valid(item: tuple[str, str]) -> tuple[str, str | None]:
            request = urllib.request.Request(
                f"{self.base}/api/me", headers={"Authorization": f"Bearer {item[1]}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    ok = response.status == 200 and json.load(response).get("username") == item[0]
            except (OSError, urllib.error.URLError, ValueError):
                ok = False
            return item[0], item[1] if ok else None

        def login(username: str) -> tuple[str, str | None]:
            body = json.dumps({"username": username, "password": password}).encode()
            request = urllib.request.Request(
                f"{self.base}/api/auth/login",
                data=body,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            for _ in range(LOGIN_ATTEMPTS):
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        return username, json.load(response)["token"]
                except urllib.error.HTTPError as exc:
                    # 503 busy: the server hashes one password at a time per process
                    # (docs/reliability.md); come back when it says.
                    if exc.code != 503:
                        return username, None
                    time.sleep(float(exc.headers.get("Retry-After") or 1))
                except (OSError, ValueError, KeyError):
                    return username, None
            return username, None

        wanted = [(name, cached[name]) for name in usernames if name in cached]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(pool.map(valid, wanted))
            missing = [name for name in usernames if not results.get(name)]
            results.update(pool.map(login, missing))
        tokens = {name: token for name, token in results.items() if token}
        if not tokens:
            raise RunError("no persona could log in; is the seeded lab password right?")
        if cache is not None:
            cache.write_text(json.dumps(tokens))
            cache.chmod(0o600)
        say(f"{len(tokens)} personas signed in ({len(missing)} fresh logins)")
        return tokens


def _port_busy(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.3):
        return True
    return False


# --- Locust -----------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Once a second: CPU of the Locust processes and the server's, server RSS, machine CPU."""

    def __init__(self, *, generator_pid: int, server_pid: int | None) -> None:
        super().__init__(daemon=True)
        self.generator_pid, self.server_pid = generator_pid, server_pid
        self.samples: list[dict[str, float]] = []
        self.stopped = threading.Event()
        self.known: dict[int, psutil.Process] = {}

    def _tree(self, pid: int | None) -> list[psutil.Process]:
        if pid is None:
            return []
        try:
            root = psutil.Process(pid)
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        # Keep one Process object per pid: cpu_percent() measures since its previous call.
        return [self.known.setdefault(p.pid, p) for p in found]

    def run(self) -> None:
        psutil.cpu_percent()
        start = time.monotonic()
        while not self.stopped.wait(1.0):
            sample: dict[str, float] = {"t": time.monotonic() - start}
            generator, server = self._tree(self.generator_pid), self._tree(self.server_pid)
            gen_cpu = [self._cpu(p) for p in generator]
            sample["generator_cpu"] = sum(gen_cpu)
            sample["generator_process_max_cpu"] = max(gen_cpu, default=0.0)
            sample["server_cpu"] = sum(self._cpu(p) for p in server)
            sample["server_rss_mb"] = sum(self._rss(p) for p in server) / 2**20
            sample["machine_cpu"] = psutil.cpu_percent()
            self.samples.append(sample)

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            return float(process.cpu_percent())
        except psutil.Error:
            return 0.0

    @staticmethod
    def _rss(process: psutil.Process) -> float:
        try:
            return float(process.memory_info().rss)
        except psutil.Error:
            return 0.0


def locust_env(
    args: argparse.Namespace, *, server: Any, manifest: Path, population: Any, scratch: Path
) -> dict[str, str]:
    """Sign the personas in on the running ``server`` (sessions cached beside the manifest)
    and return the environment a Locust process of this run reads."""
    tokens = server.login_all(
        population.usernames(),
        population.password,
        cache=manifest.with_name(f"loadtest-sessions-{manifest.stem}.json"),
    )
    (scratch / "tokens.json").write_text(json.dumps(tokens))
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        "LAB_MANIFEST": str(manifest),
        "LAB_TOKENS": str(scratch / "tokens.json"),
        "LAB_WS_URL": server.ws,
        "LAB_THINK": str(args.think),
        "LAB_PERSONAS_PER_TIER": str(args.personas_per_tier),
        "LAB_API_PATHS": ",".join(server.api_paths()),
    }


def locust_run(
    args: argparse.Namespace,
    *,
    server: Server,
    out: Path,
    strategy: str,
    env: dict[str, str],
    users: int,
    seconds: int,
    shape: str,
    meter: CpuMeter | None = None,
) -> tuple[list[dict[str, float]], dict[str, Any] | None]:
    """One headless Locust run into ``out``: the resource samples taken during it, and what
    ``meter`` measured over the run (CPU seconds by server role), if one was given."""
    out.mkdir(parents=True, exist_ok=True)
    files = [str(ROOT / "loadtests" / "scenarios" / f"{args.scenario}.py")]
    if shape != "steady":
        files.append(str(ROOT / "loadtests" / "shapes" / f"{shape}.py"))
    argv = [
        PYTHON,
        "-m",
        "locust",
        "-f",
        ",".join(files),
        "--headless",
        "--host",
        server.base,
        "-u",
        str(users),
        "-r",
        str(args.spawn),
        "-t",
        f"{seconds}s",
        "--stop-timeout",
        "5",
        "--csv",
        str(out / "locust"),
        "--csv-full-history",
        "--html",
        str(out / "locust.html"),
        "--json-file",
        str(out / "locust"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    if args.workers:
        argv += ["--processes", str(args.workers)]
    child_env = {
        **env,
        "LAB_STRATEGY": strategy,
        "LAB_OUT": str(out / "raw"),
        "LAB_USERS": str(users),
        "LAB_SPAWN": str(args.spawn),
        "LAB_SECONDS": str(seconds),
        "LAB_STEPS": str(args.steps),
    }
    log = (out / "locust.log").open("w")
    process = subprocess.Popen(argv, cwd=ROOT, env=child_env, stdout=log, stderr=log)
    sampler = Sampler(
        generator_pid=process.pid,
        server_pid=server.process.pid if server.process else None,
    )
    sampler.start()
    if meter is not None:
        meter.start()
    started = time.monotonic()
    try:
        code = process.wait(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise RunError("Locust did not finish in time") from None
    finally:
        spent = meter.stop() if meter is not None else None
        sampler.stopped.set()
        sampler.join()
        log.close()
    if code not in (0, 1) or not (out / "locust_stats.csv").exists():
        tail = (out / "locust.log").read_text()[-2000:]
        raise RunError(f"Locust failed ({code}); see {out / 'locust.log'}:\n{tail}")
    if meter is None or spent is None:
        return sampler.samples, None
    metered = {
        "seconds": spent,
        "found": meter.found(),
        "excluded_seconds": dict(meter.excluded),
        "window_s": round(time.monotonic() - started, 1),
    }
    return sampler.samples, metered


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
        "locust_workers": args.workers,
        "scale": args.scale,
        "seed": args.seed,
        "manifest": str(manifest.relative_to(ROOT) if manifest.is_relative_to(ROOT) else manifest),
        "database": _database_name(),
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
            "host": "127.0.0.1",
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
            locust_run(
                args,
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
    _python("manage.py", "migrate", "--no-input", "-v", "0", env={**os.environ, "SILK": "1"})
    server = Server(args, log=out / "server.log", silk=True)
    server.env["SILK_PERCENT"] = os.environ.get("SILK_PERCENT", "100")
    try:
        server.start()
        locust_run(
            args,
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
    for check in checks:
        print(check.line())
    say(f"report: {report_dir / 'report.html'}")
    failed = [check for check in checks if not check.ok]
    if failed:
        say(f"{len(failed)} threshold(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
