"""The load generator: Locust headless against the running server, with the personas' sessions
and the run's settings in its environment, and a once-a-second resource sampler beside it.

With ``--workers N`` it is distributed as across machines, on this one: a ``locust --master``
process bound to 127.0.0.1 on a free TCP port, and N ``locust --worker`` processes, each started
on its own, that connect to it. The master writes the merged CSV and JSON stats; the workers'
tallies reach it inside their stats reports (loadtests/lab.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import psutil

from loadtests.cpu import CpuMeter
from loadtests.runtime import PYTHON, ROOT, RunError, say
from loadtests.server import Server

MASTER_HOST = "127.0.0.1"
# How long a master waits for its workers to connect: a worker that cannot start fails the run.
# Workers on other machines are started by hand, after the runner prints how.
WORKERS_WAIT_S = 60
REMOTE_WAIT_S = 600
# What a worker on another machine reads (paths relative to its checkout): the runner writes
# them before the measured run's master starts.
WORKER_ENV = Path("var") / "loadtest-worker.env"
WORKER_TOKENS = Path("var") / "loadtest-worker-tokens.json"


class Sampler(threading.Thread):
    """Once a second: CPU of the Locust processes (the master's and every worker's, or the one
    standalone process) and the server's, server RSS, machine CPU."""

    def __init__(self, *, generator_pids: list[int], server_pid: int | None) -> None:
        super().__init__(daemon=True)
        self.generator_pids, self.server_pid = generator_pids, server_pid
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
            generator = [p for pid in self.generator_pids for p in self._tree(pid)]
            server = self._tree(self.server_pid)
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


def without_remote(args: argparse.Namespace) -> argparse.Namespace:
    """The same run with the local workers only (the warm-up, the profiling pass)."""
    return argparse.Namespace(**{**vars(args), "remote_workers": 0})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((MASTER_HOST, 0))
        return int(sock.getsockname()[1])


def scenario_file(args: argparse.Namespace) -> str:
    return str(ROOT / "loadtests" / "scenarios" / f"{args.scenario}.py")


def locust_argv(
    args: argparse.Namespace,
    *,
    host: str,
    out: Path,
    users: int,
    seconds: int,
    shape: str,
    master_port: int | None = None,
) -> list[str]:
    """The headless Locust command: the scenario (and shape) files, CSV, HTML and JSON output;
    with ``args.workers``, a master on ``master_port`` that waits for that many workers."""
    files = [scenario_file(args)]
    if shape != "steady":
        files.append(str(ROOT / "loadtests" / "shapes" / f"{shape}.py"))
    argv = [PYTHON, "-m", "locust", "-f", ",".join(files), "--headless", "--host", host]
    argv += ["-u", str(users), "-r", str(args.spawn), "-t", f"{seconds}s", "--stop-timeout", "5"]
    argv += ["--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "locust.html")]
    argv += ["--json-file", str(out / "locust"), "--only-summary", "--loglevel", "WARNING"]
    argv += ["--exit-code-on-error", "0"]
    if master_port is not None:
        wait = REMOTE_WAIT_S if args.remote_workers else WORKERS_WAIT_S
        argv += ["--master", "--master-bind-host", args.master_bind, "--master-bind-port"]
        argv += [str(master_port), "--expect-workers", str(args.workers + args.remote_workers)]
        argv += ["--expect-workers-max-wait", str(wait)]
    return argv


def worker_argv(args: argparse.Namespace, *, master_host: str, master_port: int) -> list[str]:
    """One worker: the scenario file, and the master to connect to over TCP. The users, the
    time, the host and the shape come from the master."""
    argv = [PYTHON, "-m", "locust", "-f", scenario_file(args), "--worker", "--master-host"]
    return [*argv, master_host, "--master-port", str(master_port)]


class Generator:
    """The Locust processes of one run: a standalone one, or a master and its workers."""

    def __init__(self, args: argparse.Namespace, *, argv: list[str], out: Path) -> None:
        self.args, self.argv, self.out = args, argv, out
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[str]] = []

    def start(self, env: dict[str, str], master_port: int | None) -> None:
        self._spawn(self.argv, env, "locust.log")
        bind = self.args.master_bind
        master = MASTER_HOST if bind in ("", "*", "0.0.0.0") else bind
        for index in range(self.args.workers if master_port is not None else 0):
            argv = worker_argv(self.args, master_host=master, master_port=master_port or 0)
            self._spawn(argv, env, f"locust-worker-{index + 1}.log")

    def _spawn(self, argv: list[str], env: dict[str, str], log_name: str) -> None:
        log = (self.out / log_name).open("w")
        self.logs.append(log)
        self.processes.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log))

    def wait(self, timeout: float) -> int:
        """The master's (or standalone process's) exit status; its workers quit when it does."""
        master, *workers = self.processes
        try:
            code = master.wait(timeout=timeout)
            for index, worker in enumerate(workers, start=1):
                if worker.wait(timeout=30) not in (0, 1):
                    log = self.out / f"locust-worker-{index}.log"
                    raise RunError(f"Locust worker {index} failed ({worker.returncode}); see {log}")
        except subprocess.TimeoutExpired:
            raise RunError("Locust did not finish in time") from None
        return code

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()


def remote_workers_invite(
    args: argparse.Namespace, *, env: dict[str, str], master_port: int
) -> None:
    """Write what a worker on another machine reads, and say how to start one there."""
    shutil.copyfile(env["LAB_TOKENS"], ROOT / WORKER_TOKENS)
    manifest = Path(env["LAB_MANIFEST"])
    manifest = manifest.relative_to(ROOT) if manifest.is_relative_to(ROOT) else manifest
    keys = ("LAB_WS_URL", "LAB_THINK", "LAB_PERSONAS_PER_TIER", "LAB_API_PATHS", "LAB_STRATEGY")
    lines = [f"{key}={shlex.quote(env[key])}" for key in keys]
    lines += [f"LAB_MANIFEST={manifest}", f"LAB_TOKENS={WORKER_TOKENS}"]
    (ROOT / WORKER_ENV).write_text("\n".join(lines) + "\n")
    bind = args.master_bind
    master = "MASTER_HOST" if bind in ("", "*", "0.0.0.0") else bind
    say(
        f"waiting up to {REMOTE_WAIT_S} s for {args.remote_workers} remote worker(s); on each, "
        f"copy {WORKER_ENV}, {WORKER_TOKENS} and {manifest} into its checkout and run there:"
    )
    print(
        f"set -a && . {WORKER_ENV} && set +a && .venv/bin/python -m locust "
        f"-f loadtests/scenarios/{args.scenario}.py --worker --master-host {master} "
        f"--master-port {master_port}",
        file=sys.stderr,
        flush=True,
    )


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
    distributed = args.workers + args.remote_workers > 0
    port = (args.master_port or free_port()) if distributed else None
    argv = locust_argv(
        args, host=server.base, out=out, users=users, seconds=seconds, shape=shape, master_port=port
    )
    child_env = {
        **env,
        "LAB_STRATEGY": strategy,
        "LAB_OUT": str(out / "raw"),
        "LAB_USERS": str(users),
        "LAB_SPAWN": str(args.spawn),
        "LAB_SECONDS": str(seconds),
        "LAB_STEPS": str(args.steps),
    }
    if args.remote_workers and port is not None:
        remote_workers_invite(args, env=child_env, master_port=port)
    generator = Generator(args, argv=argv, out=out)
    try:
        generator.start(child_env, port)
        sampler = Sampler(
            generator_pids=[process.pid for process in generator.processes],
            server_pid=server.process.pid if server.process else None,
        )
        sampler.start()
        if meter is not None:
            meter.start()
        started = time.monotonic()
        try:
            wait = REMOTE_WAIT_S if args.remote_workers else WORKERS_WAIT_S if port else 0
            code = generator.wait(timeout=seconds + 120 + wait)
        finally:
            spent = meter.stop() if meter is not None else None
            sampler.stopped.set()
            sampler.join()
    finally:
        generator.stop()
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
