"""The serving runner's supervision: start the children, restart any that exits on its own
with backoff while the others keep serving, count the restarts, stop them all on a signal.

ops/serve.py decides what to run (the command lines, from the environment) and hands the
processes to ``Runner``. Free of Django imports: it only starts processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from app.core.embedded import ROOT

STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0
# Restart backoff: 0.5 s, doubling to 30 s for a child that keeps dying; one that stayed up
# this long is treated as healthy again, so a rare crash costs half a second, not 30.
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0
BACKOFF_RESET_AFTER = 60.0
TICK = 0.2
# How often the runner looks for worker processes a server replaced on its own.
WORKER_SCAN_EVERY = 1.0
RESTARTS_METRIC = "instalab_process_restarts"
RESTARTS_HELP = "Processes restarted after exiting on their own, by role"


@dataclass(frozen=True)
class ServerProcess:
    """One child process to start: what it serves, where (None: no port), and its argv."""

    role: str
    argv: tuple[str, ...]
    port: int | None


def restart_backoff(*, failures: int, uptime: float) -> tuple[int, float]:
    """A child died after ``uptime`` seconds, ``failures`` quick deaths in a row before this
    one: the new count of quick deaths, and the seconds to wait before restarting it."""
    failures = 1 if uptime >= BACKOFF_RESET_AFTER else failures + 1
    # The exponent stops growing past the cap, so a child that fails all week cannot overflow.
    return failures, min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** min(failures - 1, 16))


def _die_with_parent() -> None:
    """Children get SIGTERM if the runner is killed outright, so no server outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _child_pids(pid: int) -> frozenset[int]:
    """A process's children, from the kernel's own list (no walk over all of /proc)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found.update(int(child) for child in (task / "children").read_text().split())
    return frozenset(found)


def say(message: str) -> None:
    # stderr: the load-test runner keeps the runner's stderr in its report log.
    print(message, file=sys.stderr, flush=True)


class RestartCounter:
    """instalab_process_restarts_total{role}, in a multiprocess file of the runner's own.

    The file sits in the children's PROMETHEUS_MULTIPROC_DIR, so /metrics (app/lab/metrics.py)
    sums it in with theirs. The runner builds the multiprocess value store explicitly rather
    than through Counter, whose store prometheus-client picks once, at its first import.
    """

    def __init__(self, *, roles: Iterable[str]) -> None:
        from prometheus_client import values

        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            raise RuntimeError("PROMETHEUS_MULTIPROC_DIR must be set to count restarts")
        value_class = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        name = RESTARTS_METRIC
        # Created at 0, so a dashboard sees every role before its first restart.
        self._values = {
            role: value_class("counter", name, f"{name}_total", ("role",), (role,), RESTARTS_HELP)
            for role in roles
        }

    def inc(self, *, role: str, amount: int = 1) -> None:
        self._values[role].inc(amount)


def worker_role(role: str) -> str:
    """The metric role of the worker processes a server restarts by itself."""
    return f"{role}-worker"


def counted_roles(*, specs: Iterable[ServerProcess]) -> list[str]:
    roles = [spec.role for spec in specs]
    return roles + [worker_role(spec.role) for spec in specs if spec.port is not None]


@dataclass
class Child:
    """One supervised child: its current process and its restart state."""

    spec: ServerProcess
    process: subprocess.Popen[bytes]
    started: float
    # Quick deaths in a row (restart_backoff), and when the pending restart is due.
    failures: int = 0
    restart_at: float | None = None
    # Set after a restart until the child's port answers again.
    down_since: float | None = None
    workers: frozenset[int] = field(default_factory=frozenset)


class Runner:
    """Starts the children, restarts any that exits on its own, and stops all on a signal."""

    def __init__(
        self,
        *,
        specs: Iterable[ServerProcess],
        host: str,
        url: str,
        env: dict[str, str],
        restarts: RestartCounter | None = None,
    ) -> None:
        """``host`` is where the children's ports are checked; ``url`` is the ready line's."""
        self.specs = list(specs)
        self.host = host
        self.url = url
        self.env = env
        self.restarts = restarts
        self.children: list[Child] = []
        self.stop_signal: int | None = None
        self.next_worker_scan = 0.0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum

    def _spawn(self, spec: ServerProcess) -> subprocess.Popen[bytes]:
        # Own process group: Ctrl-C reaches only the runner, which then stops each child
        # (and its workers) in order and waits for it.
        return subprocess.Popen(
            spec.argv,
            cwd=ROOT,
            env=self.env,
            process_group=0,
            # Safe here: the runner has started no threads.
            preexec_fn=_die_with_parent,
        )

    def start(self) -> None:
        now = time.monotonic()
        self.children = [Child(spec, self._spawn(spec), now) for spec in self.specs]

    def ports_open(self) -> bool:
        return all(
            port_open(self.host, child.spec.port)
            for child in self.children
            if child.spec.port is not None
        )

    def tick(self, *, now: float) -> None:
        """One round of supervision: restart what is due, notice deaths, count worker churn."""
        scan_workers = now >= self.next_worker_scan
        if scan_workers:
            self.next_worker_scan = now + WORKER_SCAN_EVERY
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._restart(child, now=now)
                continue
            code = child.process.poll()
            if code is not None:
                self._schedule_restart(child, code=code, now=now)
                continue
            port = child.spec.port
            if child.down_since is not None and port and port_open(self.host, port):
                downtime = now - child.down_since
                say(f"  {child.spec.role} is serving again, {downtime:.1f} s after it died")
                child.down_since = None
            if scan_workers and child.spec.port is not None:
                self._count_replaced_workers(child)

    def _schedule_restart(self, child: Child, *, code: int, now: float) -> None:
        # Workers and helpers it left in its group would hold its port or its job.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)
        uptime = now - child.started
        child.failures, delay = restart_backoff(failures=child.failures, uptime=uptime)
        child.restart_at = now + delay
        child.down_since = now if child.down_since is None else child.down_since
        child.workers = frozenset()
        say(
            f"  {child.spec.role} exited on its own (code {code}) after {uptime:.1f} s; "
            f"restarting it in {delay:g} s ({child.failures} quick exit(s) in a row)"
        )

    def _restart(self, child: Child, *, now: float) -> None:
        child.process = self._spawn(child.spec)
        child.started = now
        child.restart_at = None
        if child.spec.port is None:
            child.down_since = None
        if self.restarts is not None:
            self.restarts.inc(role=child.spec.role)
        say(f"  {child.spec.role} restarted (pid {child.process.pid})")

    def _count_replaced_workers(self, child: Child) -> None:
        """granian (--respawn-failed-workers), gunicorn and a multi-process uvicorn replace a
        dead worker themselves; the runner sees it only as a child pid that went away."""
        current = _child_pids(child.process.pid)
        gone = child.workers - current
        if gone and child.process.poll() is None:
            if self.restarts is not None:
                self.restarts.inc(role=worker_role(child.spec.role), amount=len(gone))
            say(
                f"  {child.spec.role}: {len(gone)} worker process(es) exited; "
                f"{child.spec.role} replaces its own"
            )
        child.workers = current

    def stop(self) -> None:
        for child in self.children:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    if child.spec.port is None:
                        # The RQ worker alone: a warm shutdown lets the job in hand finish,
                        # within STOP_TIMEOUT (its work-horse would die at once on SIGTERM).
                        os.kill(child.process.pid, signal.SIGTERM)
                    else:
                        os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"  {child.spec.role} did not stop in {STOP_TIMEOUT:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        # Workers a server left behind in its group (it should have reaped them).
        for child in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.start()
            started = time.monotonic()
            ready = False
            while self.stop_signal is None:
                now = time.monotonic()
                self.tick(now=now)
                if not ready and self.ports_open():
                    ready = True
                    print(f"ready. Open {self.url} (Ctrl-C stops everything)", flush=True)
                elif not ready and now - started > READY_TIMEOUT:
                    ready = True  # warn once; supervision goes on
                    say(f"warning: not every port answers after {READY_TIMEOUT:.0f} s")
                time.sleep(TICK)
            print(f"\nstopping ({signal.Signals(self.stop_signal).name})", flush=True)
            return 0
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
