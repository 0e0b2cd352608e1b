"""`make run`'s server runner: HTTP, /ws/ and the job worker as one supervised command.

Run as ``python -m app.lab.serve``. Environment: SERVER (split | granian-asgi | uvicorn |
gunicorn), HOST, PORT, WS_PORT, WORKERS, WS_WORKERS, JOB_WORKERS. The measurements behind the
default are in docs/serving.md (``make bench-serving``), and so is supervision: a child that
exits on its own is restarted with backoff while the others keep serving. Free of Django
imports: it only starts processes.
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[2]
VAR = Path(os.environ.get("LAB_VAR_DIR", ROOT / "var")).resolve()

DEFAULT_SETUP = "split"
WSGI_APP = "app.wsgi:application"
ASGI_APP = "app.asgi:application"
# Chat frames are small JSON; uvicorn's 16 MiB default only helps a memory-exhaustion attack.
WS_MAX_SIZE = 64 * 1024
WS_PING_INTERVAL = 20.0
WS_PING_TIMEOUT = 20.0
# Granian's WSGI default is backlog/2 = 256 threads per worker: under the GIL they only
# contend. On the quiet 2-core box, 4 served 1.4x the database-backed requests of 8 and
# 15 % more hello-world ones, with a lower p99; 2 did as well as 4 but leaves less room for
# requests that wait on I/O (docs/serving.md). Below the per-process DB pool (DB_POOL_MAX 8),
# so no thread waits for a connection.
GRANIAN_WSGI_THREADS = 4
STOP_TIMEOUT = 10.0
# More processes than this on one machine is a typo, not a configuration.
MAX_WORKERS = 64
UVICORN_SHUTDOWN_TIMEOUT = 3
READY_TIMEOUT = 60.0
# The queues of settings.RQ_QUEUES, in priority order: a worker takes fan-out before a
# training run, which holds it for minutes at `medium` (docs/experiments/recs.md).
JOB_QUEUES = ("default", "fanout", "training")
MAX_JOB_WORKERS = 8
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

REASONS = {
    "split": (
        "HTTP on granian WSGI, the fastest server measured for Django's sync views; /ws/ on "
        "uvicorn with Channels, because WSGI cannot carry WebSockets (docs/serving.md)"
    ),
    "granian-asgi": "everything, /ws/ included, on granian ASGI: one port, slower HTTP",
    "uvicorn": "everything, /ws/ included, on uvicorn ASGI: one port, the slowest HTTP measured",
    "gunicorn": "HTTP on gunicorn sync workers (the classic baseline); /ws/ on uvicorn",
}
SETUPS = tuple(REASONS)
# Binds that listen on every interface; a browser opens the loopback address instead.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]"})


class ServeError(ValueError):
    """The environment asks for something the runner cannot start."""


@dataclass(frozen=True)
class ServeConfig:
    setup: str
    host: str
    port: int
    ws_port: int
    workers: int
    ws_workers: int = 1
    job_workers: int = 1
    debug: bool = True


@dataclass(frozen=True)
class ServerProcess:
    """One child process to start: what it serves, where (None: no port), and its argv."""

    role: str
    argv: tuple[str, ...]
    port: int | None


def _int_env(
    environ: Mapping[str, str], name: str, default: int, *, low: int = 1, high: int = 65535
) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServeError(f"{name}={raw!r} is not an integer") from None
    if value < low or value > high:
        raise ServeError(f"{name}={value} is out of range ({low} to {high})")
    return value


def _bool_env(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """Parsed as app/settings.py parses it, so the banner names the mode the children run in."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


def serve_config(*, environ: Mapping[str, str]) -> ServeConfig:
    """Read SERVER, HOST, PORT, WS_PORT, the worker counts and DEBUG; reject what cannot work."""
    setup = environ.get("SERVER", "").strip() or DEFAULT_SETUP
    if setup not in REASONS:
        raise ServeError(f"SERVER={setup!r} is unknown; choose one of {', '.join(SETUPS)}")
    config = ServeConfig(
        setup=setup,
        host=environ.get("HOST", "").strip() or "127.0.0.1",
        port=_int_env(environ, "PORT", 8000),
        ws_port=_int_env(environ, "WS_PORT", 8001),
        workers=_int_env(environ, "WORKERS", 2, high=MAX_WORKERS),
        ws_workers=_int_env(environ, "WS_WORKERS", 1, high=MAX_WORKERS),
        job_workers=_int_env(environ, "JOB_WORKERS", 1, low=0, high=MAX_JOB_WORKERS),
        debug=_bool_env(environ, "DEBUG", True),
    )
    if serves_ws_separately(config=config) and config.port == config.ws_port:
        raise ServeError(f"PORT and WS_PORT are both {config.port}; they must differ")
    return config


def serves_ws_separately(*, config: ServeConfig) -> bool:
    return config.setup in ("split", "gunicorn")


def _granian(*, python: str, interface: str, app: str, config: ServeConfig) -> tuple[str, ...]:
    threads = ("--blocking-threads", str(GRANIAN_WSGI_THREADS)) if interface == "wsgi" else ()
    return (
        python,
        "-m",
        "granian",
        "--interface",
        interface,
        "--host",
        config.host,
        "--port",
        str(config.port),
        "--workers",
        str(config.workers),
        "--log-level",
        "warning",
        "--no-access-log",
        # Without it granian exits when one worker dies, and all of HTTP is down until the
        # runner has restarted it; with it only that worker's in-flight requests fail (4
        # under wrk, docs/reliability.md). A worker that dies again within 5.5 s of its
        # respawn makes granian exit ("crash loop"), and then the runner restarts granian
        # with backoff.
        "--respawn-failed-workers",
        *threads,
        app,
    )


def _uvicorn(*, python: str, port: int, workers: int, config: ServeConfig) -> tuple[str, ...]:
    return (
        python,
        "-m",
        "uvicorn",
        "--host",
        config.host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        # Channels' ProtocolTypeRouter has no lifespan handler.
        "--lifespan",
        "off",
        "--ws-max-size",
        str(WS_MAX_SIZE),
        "--ws-ping-interval",
        str(WS_PING_INTERVAL),
        "--ws-ping-timeout",
        str(WS_PING_TIMEOUT),
        # Chat frames are a few hundred bytes: permessage-deflate bought no latency and cost
        # 34 KiB more per socket (94.5 against 60.3 KiB, docs/experiments/chat.md). Browsers
        # always offer it, so the server's answer decides.
        "--ws-per-message-deflate",
        "false",
        # A consumer still parked in the channel layer's blocking read can hold shutdown for
        # the whole read timeout; bound it below the runner's own STOP_TIMEOUT.
        "--timeout-graceful-shutdown",
        str(UVICORN_SHUTDOWN_TIMEOUT),
        "--no-access-log",
        "--log-level",
        "warning",
        ASGI_APP,
    )


def serve_commands(*, config: ServeConfig, python: str = sys.executable) -> list[ServerProcess]:
    """The processes one setup needs; the first serves HTTP (and /ws/ when it is alone)."""
    # One async process held 2,000 sockets and 200 msg/s at 2.1 ms of CPU per message
    # (docs/experiments/chat.md); WS_WORKERS adds processes, which the pub/sub channel layer
    # lets share every user's group.
    ws_argv = _uvicorn(python=python, port=config.ws_port, workers=config.ws_workers, config=config)
    ws = ServerProcess("ws", ws_argv, config.ws_port)
    if config.setup == "split":
        http = _granian(python=python, interface="wsgi", app=WSGI_APP, config=config)
        return [ServerProcess("http", http, config.port), ws]
    if config.setup == "gunicorn":
        http = (
            python,
            "-m",
            "gunicorn",
            "--bind",
            f"{config.host}:{config.port}",
            "--workers",
            str(config.workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
            WSGI_APP,
        )
        return [ServerProcess("http", http, config.port), ws]
    if config.setup == "granian-asgi":
        # "asginl": ASGI without lifespan, which Channels' router would reject with a warning.
        both = _granian(python=python, interface="asginl", app=ASGI_APP, config=config)
        return [ServerProcess("http+ws", both, config.port)]
    both = _uvicorn(python=python, port=config.port, workers=config.workers, config=config)
    return [ServerProcess("http+ws", both, config.port)]


def job_commands(*, config: ServeConfig, python: str = sys.executable) -> list[ServerProcess]:
    """The RQ workers for fan-out and training; without one the "fanout" queue only grows."""
    # WARNING, like the servers: INFO logs every job, and every new post queues one.
    argv = (python, "manage.py", "rqworker", "--verbosity", "0", *JOB_QUEUES)
    count = config.job_workers
    return [
        ServerProcess("jobs" if count == 1 else f"jobs-{index}", argv, None)
        for index in range(1, count + 1)
    ]


def restart_backoff(*, failures: int, uptime: float) -> tuple[int, float]:
    """A child died after ``uptime`` seconds, ``failures`` quick deaths in a row before this
    one: the new count of quick deaths, and the seconds to wait before restarting it."""
    failures = 1 if uptime >= BACKOFF_RESET_AFTER else failures + 1
    # The exponent stops growing past the cap, so a child that fails all week cannot overflow.
    return failures, min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** min(failures - 1, 16))


def browse_host(*, config: ServeConfig) -> str:
    """The host a browser on this machine opens: a wildcard bind (0.0.0.0, ::) is no address
    to open, so it is the loopback address; an IPv6 address gets its brackets."""
    host = "127.0.0.1" if config.host in WILDCARD_HOSTS else config.host
    return f"[{host}]" if ":" in host else host


def browse_url(*, config: ServeConfig) -> str:
    """The URL to open in a browser: the banner's, the ready line's and the demo login's."""
    return f"http://{browse_host(config=config)}:{config.port}"


def serve_urls(*, config: ServeConfig) -> tuple[str, str]:
    """The HTTP base URL and the WebSocket URL a browser should use."""
    ws_port = config.ws_port if serves_ws_separately(config=config) else config.port
    return browse_url(config=config), f"ws://{browse_host(config=config)}:{ws_port}/ws/"


def child_environment(
    *, config: ServeConfig, environ: Mapping[str, str], metrics_dir: Path
) -> dict[str, str]:
    env = dict(environ)
    http_url, ws_url = serve_urls(config=config)
    env.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # Pages learn where the socket lives; with `split` it is another port of the same host, so
    # the browser still sends the session cookie (cookies are not port-scoped).
    env["LAB_WS_URL"] = ws_url
    env.setdefault(
        "CSRF_TRUSTED_ORIGINS",
        f"{http_url},http://localhost:{config.port},http://127.0.0.1:{config.port}",
    )
    return env


def fresh_metrics_dir(*, environ: Mapping[str, str]) -> Path:
    """prometheus-client's multiprocess files must not outlive the processes that wrote them."""
    path = Path(environ.get("PROMETHEUS_MULTIPROC_DIR") or VAR / "prometheus")
    path.mkdir(parents=True, exist_ok=True)
    # Only its own files: the directory may be one a person pointed us at.
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


def _die_with_parent() -> None:
    """Children get SIGTERM if the runner is killed outright, so no server outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _port_open(host: str, port: int) -> bool:
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


def _say(message: str) -> None:
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
            raise ServeError("PROMETHEUS_MULTIPROC_DIR must be set to count restarts")
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
        config: ServeConfig,
        env: dict[str, str],
        restarts: RestartCounter | None = None,
    ) -> None:
        self.config = config
        self.env = env
        self.restarts = restarts
        self.specs = [*serve_commands(config=config), *job_commands(config=config)]
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
            _port_open(self.config.host, child.spec.port)
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
            if child.down_since is not None and port and _port_open(self.config.host, port):
                downtime = now - child.down_since
                _say(f"  {child.spec.role} is serving again, {downtime:.1f} s after it died")
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
        _say(
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
        _say(f"  {child.spec.role} restarted (pid {child.process.pid})")

    def _count_replaced_workers(self, child: Child) -> None:
        """granian (--respawn-failed-workers), gunicorn and a multi-process uvicorn replace a
        dead worker themselves; the runner sees it only as a child pid that went away."""
        current = _child_pids(child.process.pid)
        gone = child.workers - current
        if gone and child.process.poll() is None:
            if self.restarts is not None:
                self.restarts.inc(role=worker_role(child.spec.role), amount=len(gone))
            _say(
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
                _say(f"  {child.spec.role} did not stop in {STOP_TIMEOUT:.0f} s; killing it")
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
                    url = browse_url(config=self.config)
                    print(f"ready. Open {url} (Ctrl-C stops everything)", flush=True)
                elif not ready and now - started > READY_TIMEOUT:
                    ready = True  # warn once; supervision goes on
                    _say(f"warning: not every port answers after {READY_TIMEOUT:.0f} s")
                time.sleep(TICK)
            print(f"\nstopping ({signal.Signals(self.stop_signal).name})", flush=True)
            return 0
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def banner(*, config: ServeConfig) -> str:
    http_url, ws_url = serve_urls(config=config)
    specs = serve_commands(config=config)
    jobs = job_commands(config=config)
    mode = "on (development)" if config.debug else "off (production settings)"
    if config.debug:
        headline = (
            "DEVELOPMENT mode (DEBUG=1): tracebacks on error pages and a demo login with a "
            "public password; do not expose it"
        )
    else:
        headline = (
            "PRODUCTION mode (DEBUG=0): no tracebacks, no demo login, /metrics to loopback "
            "or METRICS_TOKEN only"
        )
    bound = f" (bound to {config.host}: every interface)" if config.host in WILDCARD_HOSTS else ""
    lines = [
        headline,
        f"instalab serving with SERVER={config.setup}",
        f"  HTTP       {http_url}{bound}",
        f"  WebSocket  {ws_url}",
        f"  why        {REASONS[config.setup]}",
        f"  DEBUG      {mode}",
    ]
    lines += [f"  {spec.role:<10} {' '.join(spec.argv[1:])}" for spec in specs]
    if jobs:
        count = f" (x{len(jobs)})" if len(jobs) > 1 else ""
        lines.append(f"  {'jobs':<10} {' '.join(jobs[0].argv[1:])}{count}")
    else:
        lines.append(f"  {'jobs':<10} none (JOB_WORKERS=0): queued fan-out and training wait")
    lines.append(
        f"  supervision on: a child that exits is restarted after {BACKOFF_FIRST:g} s, "
        f"doubling to {BACKOFF_CAP:g} s; the others keep serving"
    )
    others = ", ".join(name for name in SETUPS if name != config.setup)
    lines.append(f"  other setups: SERVER={{{others}}}")
    return "\n".join(lines)


def ports_in_use(*, config: ServeConfig) -> list[int]:
    return [
        spec.port
        for spec in serve_commands(config=config)
        if spec.port is not None and _port_open(config.host, spec.port)
    ]


def main() -> int:
    try:
        config = serve_config(environ=os.environ)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Supervision would retry a taken port forever; that mistake is better said once, now.
    busy = ports_in_use(config=config)
    if busy:
        taken = ", ".join(str(port) for port in busy)
        print(f"error: port {taken} is in use (set PORT / WS_PORT)", file=sys.stderr)
        return 2
    metrics_dir = fresh_metrics_dir(environ=os.environ)
    env = child_environment(config=config, environ=os.environ, metrics_dir=metrics_dir)
    # The runner's own restart counter goes where the children write theirs.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    runner = Runner(config=config, env=env)
    runner.restarts = RestartCounter(roles=counted_roles(specs=runner.specs))
    print(banner(config=config), flush=True)
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
