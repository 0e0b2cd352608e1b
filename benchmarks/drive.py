"""What the HTTP lab instruments share: the production-mode server, a persona, real ids, wrk.

`make bench-endpoints` (benchmarks/endpoints.py) and `make profile` (benchmarks/profile.py) both
start `python -m ops.serve` as production runs it (DEBUG=0, granian WSGI, 2 workers) on
their own ports, or attach to a server already running, log a seeded persona in over HTTP, and
drive one path at a time with wrk at a fixed concurrency. The server itself is
benchmarks/prodserver.py and wrk's script benchmarks/wrk.py; their names are offered here
too, so a driver imports this module alone.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from benchmarks.prodserver import DEFAULT_PORT as DEFAULT_PORT
from benchmarks.prodserver import DEFAULT_WS_PORT as DEFAULT_WS_PORT
from benchmarks.prodserver import PRODUCTION_ENV as PRODUCTION_ENV
from benchmarks.prodserver import PYTHON as PYTHON
from benchmarks.prodserver import ROOT as ROOT
from benchmarks.prodserver import DriveError as DriveError
from benchmarks.prodserver import Response as Response
from benchmarks.prodserver import Server as Server
from benchmarks.prodserver import free_port as free_port
from benchmarks.prodserver import http_get as http_get
from benchmarks.prodserver import port_busy as port_busy
from benchmarks.prodserver import say as say
from benchmarks.prodserver import server_attach as server_attach
from benchmarks.prodserver import server_start as server_start
from benchmarks.wrk import lua_string, summary_read, wrk_lua
from loadtests.servertiming import header_parse

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


# --- HTTP ------------------------------------------------------------------------------------


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


def wrk_script(*, headers: dict[str, str], count_statuses: bool) -> str:
    lines = [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    return wrk_lua(setup="\n".join(lines), count_statuses=count_statuses)


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
    raw = summary_read(result.stdout)
    if raw is None:
        raise DriveError(f"wrk gave no summary:\n{result.stdout}\n{result.stderr}")
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
