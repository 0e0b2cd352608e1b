"""`make run`'s server runner: HTTP, /ws/ and the job worker as one supervised command.

Run as ``python -m ops.serve``. Environment: SERVER (split | granian-asgi | uvicorn |
gunicorn), HOST, PORT, WS_PORT, WORKERS, WS_WORKERS, JOB_WORKERS. The measurements behind the
default are in docs/serving.md (``make bench-serving``), and so is supervision: a child that
exits on its own is restarted with backoff while the others keep serving (ops/runner.py).
This module turns the environment into command lines; it imports no Django: it only starts
processes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.core.embedded import ROOT, VAR
from ops.runner import (
    BACKOFF_CAP,
    BACKOFF_FIRST,
    RestartCounter,
    Runner,
    ServerProcess,
    counted_roles,
    port_open,
)

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
# More processes than this on one machine is a typo, not a configuration.
MAX_WORKERS = 64
UVICORN_SHUTDOWN_TIMEOUT = 3
# The queues of settings.RQ_QUEUES, in priority order: a worker takes fan-out before a
# training run, which holds it for minutes at `medium` (docs/experiments/recs.md).
JOB_QUEUES = ("default", "fanout", "training")
MAX_JOB_WORKERS = 8
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
    # the browser still sends the session cookie (cookies are not port-scoped). A load
    # balancer in front (ops/nodes.py) names its own.
    env["LAB_WS_URL"] = environ.get("LAB_WS_URL") or ws_url
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
        if spec.port is not None and port_open(config.host, spec.port)
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
    specs = [*serve_commands(config=config), *job_commands(config=config)]
    restarts = RestartCounter(roles=counted_roles(specs=specs))
    runner = Runner(
        specs=specs, host=config.host, url=browse_url(config=config), env=env, restarts=restarts
    )
    print(banner(config=config), flush=True)
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
