"""`make run`'s server runner: HTTP and /ws/ as one command, the server setup picked by SERVER.

Run as ``python -m app.lab.serve``. Environment: SERVER (split | granian-asgi | uvicorn |
gunicorn), HOST, PORT, WS_PORT, WORKERS, WS_WORKERS. The measurements behind the default are in
docs/serving.md (``make bench-serving``). Free of Django imports: it only starts processes.
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
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ServerProcess:
    """One child process to start: what it serves, where, and its argv."""

    role: str
    argv: tuple[str, ...]
    port: int


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


def serve_config(*, environ: Mapping[str, str]) -> ServeConfig:
    """Read SERVER, HOST, PORT, WS_PORT, WORKERS and WS_WORKERS; reject what cannot work."""
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


def serve_urls(*, config: ServeConfig) -> tuple[str, str]:
    """The HTTP base URL and the WebSocket URL a browser should use."""
    ws_port = config.ws_port if serves_ws_separately(config=config) else config.port
    return f"http://{config.host}:{config.port}", f"ws://{config.host}:{ws_port}/ws/"


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
        "CSRF_TRUSTED_ORIGINS", f"{http_url},http://localhost:{config.port},http://127.0.0.1:8000"
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


class Runner:
    """Starts the children, watches them, and stops them all on a signal or a death."""

    def __init__(self, *, config: ServeConfig, env: dict[str, str]) -> None:
        self.config = config
        self.env = env
        self.children: list[tuple[ServerProcess, subprocess.Popen[bytes]]] = []
        self.stop_signal: int | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum

    def start(self) -> None:
        for spec in serve_commands(config=self.config):
            # Own process group: Ctrl-C reaches only the runner, which then stops each server
            # (and its workers) in order and waits for it.
            process = subprocess.Popen(
                spec.argv,
                cwd=ROOT,
                env=self.env,
                process_group=0,
                # Safe here: the runner has started no threads.
                preexec_fn=_die_with_parent,
            )
            self.children.append((spec, process))

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        pending = [spec for spec, _ in self.children]
        while pending and time.monotonic() < deadline and self.stop_signal is None:
            if self.dead_child() is not None:
                return False
            pending = [spec for spec in pending if not _port_open(self.config.host, spec.port)]
            if pending:
                time.sleep(0.1)
        return not pending

    def dead_child(self) -> tuple[ServerProcess, int] | None:
        for spec, process in self.children:
            code = process.poll()
            if code is not None:
                return spec, code
        return None

    def stop(self) -> None:
        for _, process in self.children:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for spec, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"  {spec.role} server did not stop in {STOP_TIMEOUT:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Workers a server left behind in its group (it should have reaped them).
        for _, process in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.start()
            if self.wait_ready():
                print("ready. Ctrl-C stops both servers.", flush=True)
            while self.stop_signal is None:
                dead = self.dead_child()
                if dead is not None:
                    spec, code = dead
                    print(
                        f"error: the {spec.role} server exited on its own (code {code}); "
                        "stopping the rest",
                        file=sys.stderr,
                        flush=True,
                    )
                    return code if code > 0 else 1
                time.sleep(0.2)
            print(f"\nstopping ({signal.Signals(self.stop_signal).name})", flush=True)
            return 0
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def banner(*, config: ServeConfig) -> str:
    http_url, ws_url = serve_urls(config=config)
    specs = serve_commands(config=config)
    lines = [
        f"instalab serving with SERVER={config.setup}",
        f"  HTTP       {http_url}",
        f"  WebSocket  {ws_url}",
        f"  why        {REASONS[config.setup]}",
    ]
    lines += [f"  {spec.role:<10} {' '.join(spec.argv[1:])}" for spec in specs]
    others = ", ".join(name for name in SETUPS if name != config.setup)
    lines.append(f"  other setups: SERVER={{{others}}}")
    return "\n".join(lines)


def main() -> int:
    try:
        config = serve_config(environ=os.environ)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics_dir = fresh_metrics_dir(environ=os.environ)
    env = child_environment(config=config, environ=os.environ, metrics_dir=metrics_dir)
    print(banner(config=config), flush=True)
    return Runner(config=config, env=env).run()


if __name__ == "__main__":
    sys.exit(main())
