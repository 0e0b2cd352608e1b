"""The production-mode server the HTTP lab instruments drive, started or attached to.

`python -m ops.serve` as production runs it (DEBUG=0, granian WSGI, 2 workers) on ports of
its own, in its own process group; or a server someone else started, found through the pid
that listens on its port. Also the error and progress line every driver shares. Callers use
these through benchmarks/drive.py.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEFAULT_PORT = 8110
DEFAULT_WS_PORT = 8111
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
# Never the app's own secret: the server only needs one to start with DEBUG=0.
BENCH_SECRET = "bench-drive-" + "s" * 48
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": BENCH_SECRET,
    "LAB_EXPERIMENTS": "1",
    "SILK": "0",
    "LOG_LEVEL": "ERROR",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
}


class DriveError(RuntimeError):
    """The run cannot be made: a tool is missing, the server did not start, a login failed."""


_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr, with the seconds since the command started."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_busy(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.3):
        return True
    return False


def listener_pid(port: int) -> int | None:
    """The pid that holds a listening TCP socket on ``port`` (root sees every process's)."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if (
                conn.pid is not None
                and conn.status == psutil.CONN_LISTEN
                and conn.laddr
                and conn.laddr[1] == port
            ):
                return int(conn.pid)
    return None


def server_root(pid: int) -> int:
    """The HTTP server's main process: granian's or gunicorn's, above the worker that listens."""
    try:
        process = psutil.Process(pid)
        name = _server_name(process)
        parent = process.parent()
        while parent is not None and name and _server_name(parent) == name:
            process, parent = parent, parent.parent()
        return int(process.pid)
    except psutil.Error:
        return pid


def _server_name(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        argv = process.cmdline()
        for known in ("granian", "gunicorn", "uvicorn"):
            if any(known in part for part in argv[:3]):
                return known
    return ""


def worker_pids(root: int) -> list[int]:
    """The processes that run the app's Python code: the main process's children (or itself)."""
    try:
        children = psutil.Process(root).children(recursive=False)
    except psutil.Error:
        return []
    return sorted(child.pid for child in children) or [root]


@dataclass
class Server:
    """A production-mode `python -m ops.serve` in its own process group, or one attached."""

    base_url: str
    http_pid: int
    runner: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    metrics_dir: Path | None = None
    argv: list[str] = field(default_factory=list)

    @property
    def started_here(self) -> bool:
        return self.runner is not None

    def log_hint(self) -> str:
        if self.log_path is None:
            return "see the server's own log"
        return f"the server's log (tracebacks) is {self.log_path}"

    def workers(self) -> list[int]:
        return worker_pids(self.http_pid)

    def stop(self) -> None:
        if self.runner is None or self.runner.poll() is not None:
            return
        # SIGTERM to the runner's group: it stops granian and uvicorn (each in their own group)
        # in order and waits for them, as on Ctrl-C under `make run`.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.runner.pid, signal.SIGTERM)
        try:
            self.runner.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.runner.pid, signal.SIGKILL)
            self.runner.wait()
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        say("server stopped")


def server_start(
    *,
    port: int | None,
    ws_port: int | None,
    workers: int = 2,
    environ: dict[str, str] | None = None,
    root: Path = ROOT,
    module: str = "ops.serve",
) -> Server:
    """Start the production-mode server; None ports: 8110/8111, or free ones when those are busy.

    ``root`` and ``module``: another checkout's runner (benchmarks/commits.py serves two
    revisions side by side, the older one's runner being ``app.lab.serve``)."""
    if port is None:
        port = DEFAULT_PORT if not port_busy(DEFAULT_PORT) else free_port()
    if ws_port is None:
        ws_port = DEFAULT_WS_PORT if not port_busy(DEFAULT_WS_PORT) else free_port()
    for wanted in (port, ws_port):
        if port_busy(wanted):
            raise DriveError(f"port {wanted} is in use; pass --port/--ws-port")
    metrics_dir = Path(tempfile.mkdtemp(prefix=f"bench-prometheus-{port}-"))
    base = dict(environ if environ is not None else os.environ)
    env = {
        **base,
        **PRODUCTION_ENV,
        "SECRET_KEY": base.get("SECRET_KEY") or BENCH_SECRET,
        # The setup `make run` serves: granian WSGI for HTTP, uvicorn for /ws/.
        "SERVER": "split",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WS_PORT": str(ws_port),
        "WORKERS": str(workers),
        "WS_WORKERS": "1",
        # Reads only: a job worker would add its idle polling to the app's CPU, and take
        # jobs off the dev server's queues.
        "JOB_WORKERS": "0",
        # Not var/prometheus: that belongs to `make run`, which this must not disturb.
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log_path = Path(tempfile.mkstemp(prefix=f"bench-serve-{port}-", suffix=".log")[1])
    base_url = f"http://127.0.0.1:{port}"
    say(f"starting the production-mode server (split, {workers} workers) on {base_url}")
    with log_path.open("ab") as log:
        runner = subprocess.Popen(
            [PYTHON, "-m", module],
            cwd=root,
            env=env,
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(
        base_url=base_url,
        http_pid=0,
        runner=runner,
        log_path=log_path,
        metrics_dir=metrics_dir,
        argv=[PYTHON, "-m", module],
    )
    try:
        _ready_wait(server=server, ws_port=ws_port)
        pid = listener_pid(port)
        if pid is None:
            raise DriveError(f"nothing listens on port {port} although /readyz answered")
        server.http_pid = server_root(pid)
    except BaseException:
        server.stop()
        raise
    say(f"ready: HTTP server pid {server.http_pid}, workers {server.workers()}")
    return server


def _ready_wait(*, server: Server, ws_port: int) -> None:
    assert server.runner is not None
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.runner.poll() is not None:
            tail = server.log_path.read_text()[-2000:] if server.log_path else ""
            raise DriveError(
                f"the server exited during start-up ({server.runner.returncode}):\n{tail}"
            )
        status = http_get(base_url=server.base_url, path="/readyz", timeout=2.0).status
        if status == 200 and port_busy(ws_port):
            return
        time.sleep(0.3)
    raise DriveError(f"{server.base_url}/readyz did not answer 200 within {READY_TIMEOUT:.0f} s")


def server_attach(*, base_url: str) -> Server:
    """A server someone else started; its CPU is metered through the pid listening on its port."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
        raise DriveError("--base-url must be http://127.0.0.1:<port> on this machine")
    pid = listener_pid(parts.port)
    if pid is None:
        raise DriveError(f"no process listens on port {parts.port}")
    if http_get(base_url=base_url, path="/readyz", timeout=5.0).status != 200:
        raise DriveError(f"{base_url}/readyz does not answer 200")
    server = Server(base_url=base_url.rstrip("/"), http_pid=server_root(pid))
    say(f"attached to {server.base_url}: HTTP server pid {server.http_pid}")
    return server


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(
    *, base_url: str, path: str, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> Response:
    """One GET without following redirects (a 3xx must show up as one); status 0: no answer."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return Response(
            status=answer.status,
            headers={key.lower(): value for key, value in answer.getheaders()},
            body=answer.read(),
        )
    except OSError:
        return Response(status=0, headers={}, body=b"")
    finally:
        conn.close()
