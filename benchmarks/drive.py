"""What the HTTP lab instruments share: the production-mode server, a persona, real ids, wrk.

`make bench-endpoints` (benchmarks/endpoints.py) and `make profile` (benchmarks/profile.py) both
start `python -m ops.serve` as production runs it (DEBUG=0, granian WSGI, 2 workers) on
their own ports, or attach to a server already running, log a seeded persona in over HTTP, and
drive one path at a time with wrk at a fixed concurrency.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from loadtests.servertiming import header_parse

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
WRK_INSTALL = "apt-get install -y wrk (Debian/Ubuntu) or brew install wrk (macOS)"

# label -> path; {placeholders} are filled from LabTargets. Kept in the order the table prints.
ENDPOINTS: dict[str, str] = {
    "hello": "/lab/hello",
    "me": "/api/me",
    "feed": "/api/feed?limit=20",
    "explore": "/api/explore?limit=20",
    "post": "/api/posts/{post_id}",
    "profile": "/api/users/{profile}",
    "profile_posts": "/api/users/{profile}/posts",
    "inbox": "/api/chat/rooms",
    "hashtag": "/api/hashtags/{hashtag}",
    "place": "/api/places/{place_id}",
    "suggest": "/api/search/suggest?q={prefix}",
    "search_all": "/api/search?q={word}&type=all",
}
BASELINE = "hello"
# Seed manifest tiers to take the persona from, most active first.
PERSONA_TIERS = ("active", "heavy_posters", "celebrity_followers", "casual")

# Prints wrk's own counters as one JSON line, so nothing is scraped from its text report.
# Only the warm-up defines response(): wrk then hands every response to Lua, which costs wrk
# CPU on the same two cores, so measured runs count errors with wrk's built-in counters.
WRK_LUA = """
%(headers)s
%(status_counter)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "bytes": %%d, "status_errors": %%d, '
    .. '"connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, "timeouts": %%d, '
    .. '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, "statuses": {%%s}}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, statuses_json()))
end
"""
WRK_STATUS_COUNTER = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) statuses = {} end
response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
statuses_json = function()
  local merged, parts = {}, {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses") or {}) do merged[code] = (merged[code] or 0) + n end
  end
  for code, n in pairs(merged) do table.insert(parts, string.format('"%d": %d', code, n)) end
  return table.concat(parts, ", ")
end
"""
WRK_NO_STATUS_COUNTER = 'statuses_json = function() return "" end'


class DriveError(RuntimeError):
    """The run cannot be made: a tool is missing, the server did not start, a login failed."""


_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr, with the seconds since the command started."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def wrk_require(*, command: str) -> None:
    if shutil.which("wrk") is None:
        raise DriveError(
            f"wrk is not installed. Install it with `{WRK_INSTALL}`, then rerun {command}."
        )


# --- the machine and the checkout ------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = "absent"
    if shutil.which("wrk"):
        found = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        wrk = (found.stdout or found.stderr).split("\n", 1)[0].split(" Copyright")[0].strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk,
    }


def commit() -> str:
    """The short commit, with ``+dirty`` when tracked files differ from it."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--"], cwd=ROOT, capture_output=True, check=False
    ).returncode
    return f"{head or 'unknown'}{'+dirty' if dirty == 1 else ''}"


def loadavg() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


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
) -> Server:
    """Start the production-mode server; None ports: 8110/8111, or free ones when those are busy."""
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
            [PYTHON, "-m", "ops.serve"],
            cwd=ROOT,
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
        argv=[PYTHON, "-m", "ops.serve"],
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


def login(*, base_url: str, username: str, password: str) -> str:
    """A bearer token for ``username`` (the password hash costs the server about 0.5 s)."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        body = json.dumps({"username": username, "password": password})
        conn.request("POST", "/api/auth/login", body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        data = answer.read()
    except OSError as exc:
        raise DriveError(f"login as {username} failed: {exc}") from None
    finally:
        conn.close()
    try:
        token = json.loads(data)["token"] if answer.status == 200 else None
    except (ValueError, KeyError, TypeError):
        token = None
    if not token:
        raise DriveError(f"login as {username} failed: HTTP {answer.status} {data[:200]!r}")
    return str(token)


def request_headers(*, token: str | None, strategy: str) -> dict[str, str]:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if strategy:
        headers["X-Lab-Strategy"] = strategy
    return headers


def server_timing(response: Response) -> dict[str, Any]:
    """The Server-Timing header of one response, raw and parsed into numbers."""
    raw = response.headers.get("server-timing", "")
    metrics = header_parse(raw) if raw else {}

    def dur(name: str) -> float | None:
        # A server from before a metric existed (``cpu``) simply lacks it.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return float(metrics[name]["dur"])
        return None

    db_desc = metrics.get("db", {}).get("desc", "")
    cache_desc = metrics.get("cache", {}).get("desc", "").split()
    queries = db_desc.split()[0] if db_desc else ""
    return {
        "raw": raw,
        "app_ms": dur("app"),
        "cpu_ms": dur("cpu"),
        "db_ms": dur("db"),
        "queries": int(queries) if queries.isdigit() else None,
        "cache_hits": int(cache_desc[0])
        if len(cache_desc) >= 3 and cache_desc[0].isdigit()
        else None,
        "cache_misses": int(cache_desc[2])
        if len(cache_desc) >= 4 and cache_desc[2].isdigit()
        else None,
        "strategy": metrics.get("strategy", {}).get("desc", ""),
    }


# --- personas and real ids --------------------------------------------------------------------


@dataclass(frozen=True)
class LabTargets:
    """Who logs in, and the real ids the endpoints' paths are filled with."""

    scale: str
    username: str
    password: str
    post_id: int
    profile: str
    hashtag: str
    place_id: int
    prefix: str
    word: str

    def path(self, template: str) -> str:
        values = {
            "post_id": self.post_id,
            "profile": urllib.parse.quote(self.profile, safe=""),
            "hashtag": urllib.parse.quote(self.hashtag, safe=""),
            "place_id": self.place_id,
            "prefix": urllib.parse.quote(self.prefix, safe=""),
            "word": urllib.parse.quote(self.word, safe=""),
        }
        return template.format(**values)


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    import django

    django.setup()


def services_ensure() -> None:
    """The embedded PostgreSQL and Redis, when no URLs are set and they are not running yet."""
    from ops import services

    if services.embedded_enabled() and not services.is_running():
        say("starting the embedded PostgreSQL and Redis")
        services.start(quiet=True)


def database_url() -> str:
    from ops import services

    return os.environ.get("DATABASE_URL") or services.database_url()


def redis_url() -> str:
    from ops import services

    return os.environ.get("REDIS_URL") or services.redis_url()


def lab_targets(*, username: str | None = None, password: str | None = None) -> LabTargets:
    """A persona from the seed manifest's most active tiers who follows people, and hot ids.

    Read with the ORM of this process, from the database the server uses (DATABASE_URL or the
    embedded default). The manifest is checked against the database, since it can go stale.
    """
    django_setup()
    from app.accounts.models import User
    from app.posts.models import Hashtag, Place, Post
    from seed.manifest import manifest_default_path, manifest_read
    from seed.presets import LAB_PASSWORD

    manifest = manifest_read(manifest_default_path()) or {}
    tiers: dict[str, list[str]] = manifest.get("tiers", {}) if isinstance(manifest, dict) else {}
    scale = str(manifest.get("scale", "unknown"))
    found: str | None = None
    # The most active tier first; within it, whoever follows the most people (the fullest feed).
    for tier in PERSONA_TIERS if username is None else ():
        found = (
            User.objects.filter(username__in=tiers.get(tier, []), following_count__gt=0)
            .filter(is_active=True)
            .order_by("-following_count", "id")
            .values_list("username", flat=True)
            .first()
        )
        if found is not None:
            break
    if username is None:
        if found is None:
            # No usable manifest: the user who follows the most people is the fullest feed.
            found = (
                User.objects.filter(following_count__gt=0, is_active=True)
                .order_by("-following_count", "id")
                .values_list("username", flat=True)
                .first()
            )
        if found is None:
            raise DriveError("no user in the database follows anyone; seed first (make seed)")
        username = found
    if password is None:
        password = str(manifest.get("password") or LAB_PASSWORD)
    post = (
        Post.objects.filter(author__is_private=False, comment_count__gt=0)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    profile = (
        User.objects.filter(is_private=False, post_count__gt=0)
        .order_by("-follower_count", "id")
        .values_list("username", flat=True)
        .first()
    )
    hashtag = Hashtag.objects.order_by("-post_count", "id").values_list("name", flat=True).first()
    place = Place.objects.order_by("-post_count", "id").values_list("id", flat=True).first()
    if post is None or profile is None or hashtag is None or place is None:
        raise DriveError("the database lacks posts, public users, hashtags or places; seed first")
    return LabTargets(
        scale=scale,
        username=username,
        password=password,
        post_id=int(post),
        profile=str(profile),
        hashtag=str(hashtag),
        place_id=int(place),
        # Typeahead as after two keystrokes; a full search for a vocabulary word.
        prefix=str(hashtag)[:2],
        word=str(hashtag),
    )


# --- wrk -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkRun:
    """wrk's own counters for one run at a fixed concurrency."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    # wrk counts a response with a status of 400 or more as a status error; 3xx is checked
    # before the run by one sampled request, which must be a 200.
    status_errors: int
    socket_errors: int
    statuses: dict[str, int]

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors


def lua_string(text: str) -> str:
    """A Lua string literal for any text (decimal escapes for everything unusual)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def wrk_script(*, headers: dict[str, str], count_statuses: bool) -> str:
    lines = [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    return WRK_LUA % {
        "headers": "\n".join(lines),
        "status_counter": WRK_STATUS_COUNTER if count_statuses else WRK_NO_STATUS_COUNTER,
    }


def wrk_run(
    *,
    base_url: str,
    path: str,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    threads: int = 2,
    count_statuses: bool = False,
) -> WrkRun:
    """``count_statuses`` counts every response by status in Lua: right for a warm-up only."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-wrk-") as script:
        script.write(wrk_script(headers=headers, count_statuses=count_statuses))
        script.flush()
        argv = [
            "wrk",
            f"-t{max(1, min(threads, connections))}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base_url.rstrip("/") + path,
        ]
        # Bounded: wrk stops itself after -d; the timeout catches a wedged one.
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise DriveError(f"wrk gave no summary:\n{result.stdout}\n{result.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    duration = raw["duration_us"] / 1e6
    return WrkRun(
        requests=raw["requests"],
        seconds=round(duration, 3),
        rps=raw["requests"] / duration if duration else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        status_errors=raw["status_errors"],
        socket_errors=raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"],
        statuses={str(k): int(v) for k, v in raw["statuses"].items()},
    )


# --- small statistics -------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    found = list(values)
    return statistics.median(found) if found else 0.0


def ratios_per_round(*, values: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """value/baseline for each round, paired by position (a round with a 0 baseline is skipped)."""
    return [v / b for v, b in zip(values, baseline, strict=True) if b > 0]


def strategy_check(parser: argparse.ArgumentParser, strategy: str | None) -> None:
    """Reject an ``X-Lab-Strategy`` value the server would answer with 400, before starting."""
    if not strategy:
        return
    from app.lab.strategies import StrategyError, parse_header

    try:
        parse_header(strategy)
    except StrategyError as exc:
        parser.error(str(exc))
