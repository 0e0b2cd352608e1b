"""The load generator: Locust headless against the running server, with the personas' sessions
and the run's settings in its environment, and a once-a-second resource sampler beside it."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from loadtests.cpu import CpuMeter
from loadtests.runtime import PYTHON, ROOT, RunError
from loadtests.server import Server


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


def locust_argv(
    args: argparse.Namespace, *, host: str, out: Path, users: int, seconds: int, shape: str
) -> list[str]:
    """The headless Locust command: the scenario (and shape) files, CSV, HTML and JSON output."""
    files = [str(ROOT / "loadtests" / "scenarios" / f"{args.scenario}.py")]
    if shape != "steady":
        files.append(str(ROOT / "loadtests" / "shapes" / f"{shape}.py"))
    argv = [PYTHON, "-m", "locust", "-f", ",".join(files), "--headless", "--host", host]
    argv += ["-u", str(users), "-r", str(args.spawn), "-t", f"{seconds}s", "--stop-timeout", "5"]
    argv += ["--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "locust.html")]
    argv += ["--json-file", str(out / "locust"), "--only-summary", "--loglevel", "WARNING"]
    argv += ["--exit-code-on-error", "0"]
    if args.workers:
        argv += ["--processes", str(args.workers)]
    return argv


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
    argv = locust_argv(args, host=server.base, out=out, users=users, seconds=seconds, shape=shape)
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
