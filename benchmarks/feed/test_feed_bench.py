"""Home feed: naive vs optimized vs cached on a seeded database, freshness, Redis memory.

Run with ``make bench-feed`` (see docs/experiments/feed.md). Needs a seeded database in
DATABASE_URL (``python -m seed --scale small --seed 42``), REDIS_URL and REDIS_KEY_PREFIX.
The last test writes every number of the run to benchmarks/results/feed-<date>.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from app.accounts.models import Follow, User
from app.feed import selectors, store
from app.feed import services as feed_services
from app.feed.page import feed_page
from app.feed.strategies import _timeline_rebuild
from app.lab import stats
from app.posts import viewcache
from app.posts.models import Post

ROOT = Path(__file__).resolve().parents[2]
RESULTS: dict[str, Any] = {"strategies": {}, "pages": {}}
STRATEGIES = ("naive", "optimized", "cached")
PAGE_SIZE = 20
MIN_FEED = 12 * PAGE_SIZE  # the viewer must have a page 10 and some to spare

pytestmark = pytest.mark.usefixtures("seeded")


def _viewer() -> User:
    """A typical active user: the median following count among users with a page 10."""
    candidates = list(
        User.objects.filter(following_count__gte=20).order_by("following_count", "id")[:400]
    )
    for user in candidates[len(candidates) // 2 :]:
        if len(selectors.feed_keys(viewer_id=user.pk, after=None, limit=MIN_FEED)) >= MIN_FEED:
            return user
    raise pytest.skip("no user has a feed of 10 pages: seed the `small` scale first")


@pytest.fixture(scope="module")
def viewer(django_db_blocker) -> User:
    conn = viewcache.connection()
    prefix = settings.REDIS_KEY_PREFIX
    # Only the feed's own keys (timelines, sets, bodies): sessions and others' keys stay.
    for pattern in (f"{prefix}:feed:*", f"{prefix}:*:feed:post:*"):
        stale = list(conn.scan_iter(match=pattern, count=1000))
        if stale:
            conn.delete(*stale)
    with django_db_blocker.unblock():
        user = _viewer()
        cursors: dict[int, str | None] = {1: None}
        cursor = None
        for number in range(2, 11):
            cursor = feed_page(viewer=user, cursor=cursor, limit=PAGE_SIZE, strategy="optimized")[
                "next_cursor"
            ]
            cursors[number] = cursor
        user.bench_cursors = cursors  # type: ignore[attr-defined]
        RESULTS["viewer"] = {
            "id": user.pk,
            "username": user.username,
            "following": user.following_count,
        }
        return user


def _counted(viewer: User, strategy: str, cursor: str | None) -> dict[str, Any]:
    """One call with the Server-Timing counters: queries and cache hits/misses."""
    token = stats.begin()
    try:
        with CaptureQueriesContext(connection) as queries:
            page = feed_page(viewer=viewer, cursor=cursor, limit=PAGE_SIZE, strategy=strategy)
        current = stats.current()
        assert current is not None
        return {
            "queries": len(queries.captured_queries),
            "cache_hits": current.cache_hits,
            "cache_misses": current.cache_misses,
            "ids": [item.id for item in page["items"]],
        }
    finally:
        stats.end(token)


@pytest.mark.parametrize("page_number", [1, 10])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_feed_page(benchmark, viewer, strategy, page_number):
    cursor = viewer.bench_cursors[page_number]
    _counted(viewer, strategy, cursor)  # cached: warm the timeline, bodies and flags
    counts = _counted(viewer, strategy, cursor)
    benchmark.extra_info.update({k: v for k, v in counts.items() if k != "ids"})
    benchmark.pedantic(
        feed_page,
        kwargs={"viewer": viewer, "cursor": cursor, "limit": PAGE_SIZE, "strategy": strategy},
        rounds=15 if strategy == "naive" else 60,
        warmup_rounds=2,
    )
    RESULTS["pages"].setdefault(str(page_number), {})[strategy] = {
        "median_ms": benchmark.stats.stats.median * 1000,
        "mean_ms": benchmark.stats.stats.mean * 1000,
        "rounds": benchmark.stats.stats.rounds,
        **counts,
    }


@pytest.mark.parametrize("page_number", [1, 10])
def test_every_strategy_served_the_same_posts(viewer, page_number):
    """Fetched here, for every strategy, so it checks the same when it runs alone or under -k."""
    cursor = viewer.bench_cursors[page_number]
    ids = {strategy: tuple(_counted(viewer, strategy, cursor)["ids"]) for strategy in STRATEGIES}
    assert len(ids[STRATEGIES[0]]) == PAGE_SIZE
    assert len(set(ids.values())) == 1, f"page {page_number}: {ids}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wrk(port: int, path: str, headers: dict[str, str], seconds: int) -> float:
    argv = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    non2xx = [line for line in out.splitlines() if "Non-2xx" in line]
    assert not non2xx, out
    line = next(line for line in out.splitlines() if line.startswith("Requests/sec"))
    return float(line.split()[1])


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk")
def test_throughput_against_a_trivial_view(viewer):
    """granian WSGI with 2 workers, wrk -c32 on the same box, rounds interleaved."""
    client = Client()
    client.force_login(viewer)
    token = client.session.session_key
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,  # the session auth hash is keyed by it
        "LAB_EXPERIMENTS": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LAB_TESTING": "",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--blocking-threads",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
            "app.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}"}
        targets = {
            "trivial": ("/lab/hello", {}),
            "cached": ("/api/feed", {**auth, "X-Lab-Strategy": "feed=cached"}),
            "optimized": ("/api/feed", {**auth, "X-Lab-Strategy": "feed=optimized"}),
        }
        for path, headers in targets.values():
            _wrk(port, path, headers, 2)  # warm both workers: caches, pools, imports
        runs: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(3):
            for name, (path, headers) in targets.items():
                runs[name].append(_wrk(port, path, headers, 8))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    RESULTS["throughput"] = {
        "server": "granian WSGI, 2 workers, 1 blocking thread each; wrk -t2 -c32, 3 x 8 s",
        "rps": runs,
        "median_rps": medians,
        "cached_over_trivial": medians["cached"] / medians["trivial"],
        "optimized_over_trivial": medians["optimized"] / medians["trivial"],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "rqworker",
            "fanout",
            "--worker-class",
            "rq.worker.SimpleWorker",
        ],
        cwd=ROOT,
        env={**env, "LAB_TESTING": ""},
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def _author_near(followers: int, *, above: bool) -> User:
    users = User.objects.order_by("-follower_count")
    if above:
        return users.filter(follower_count__gt=store.fanout_threshold()).first() or pytest.skip(
            "no author above the threshold"
        )
    nearest = users.filter(follower_count__lte=followers).first()
    assert nearest is not None
    return nearest


def _publish_and_wait(author: User, followers: list[int], keys: list[str]) -> list[float]:
    """Seconds from commit until the new post is in each of ``keys`` (one post)."""
    with transaction.atomic():
        post = Post.objects.create(author=author, caption="freshness probe")
        feed_services.feed_post_created(post_id=post.pk)
    committed = time.perf_counter()
    member = store.member_of(post.pk)
    conn = viewcache.connection()
    seen: dict[str, float] = {}
    deadline = committed + 30
    while len(seen) < len(keys) and time.perf_counter() < deadline:
        waiting = [key for key in keys if key not in seen]
        with conn.pipeline(transaction=False) as pipe:
            for key in waiting:
                pipe.zscore(key, member)
            scores = pipe.execute()
        now = time.perf_counter()
        for key, score in zip(waiting, scores, strict=True):
            if score is not None:
                seen[key] = now - committed
        time.sleep(0.002)
    Post.objects.filter(pk=post.pk).delete()
    store.remove(conn, keys, [post.pk])
    assert len(seen) == len(keys), f"{len(keys) - len(seen)} timelines never got the post"
    return list(seen.values())


def test_freshness_of_fanout(monkeypatch):
    """A real RQ worker; every follower's timeline warm; five posts per author."""
    import django_rq.settings

    monkeypatch.setitem(django_rq.settings.QUEUES["fanout"], "ASYNC", True)
    conn = viewcache.connection()
    worker = _worker(dict(os.environ))
    try:
        pushed = _author_near(1000, above=False)
        follower_ids = list(
            Follow.objects.filter(followee=pushed).values_list("follower_id", flat=True)
        )
        started = time.perf_counter()
        for follower_id in follower_ids:
            if conn.zscore(store.timeline_key(follower_id), store.SENTINEL) != store.COMPLETE:
                _timeline_rebuild(conn, follower_id)
        warm_seconds = time.perf_counter() - started
        keys = [store.timeline_key(follower_id) for follower_id in follower_ids]
        push: list[float] = []
        for _ in range(5):
            push += _publish_and_wait(pushed, follower_ids, keys)
        celeb = _author_near(0, above=True)
        some_follower = Follow.objects.filter(followee=celeb).values_list("follower_id", flat=True)[
            0
        ]
        feed_page(
            viewer=User.objects.get(pk=some_follower), cursor=None, limit=20, strategy="cached"
        )  # builds the celebrity's pulled list
        pull: list[float] = []
        for _ in range(5):
            pull += _publish_and_wait(celeb, [], [store.author_key(celeb.pk)])
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    RESULTS["freshness"] = {
        "threshold": store.fanout_threshold(),
        "push": {
            "author": pushed.username,
            "followers": pushed.follower_count,
            "timelines_written_per_post": len(keys),
            "p50_ms": statistics.median(push) * 1000,
            "p95_ms": _percentile(push, 0.95) * 1000,
            "max_ms": max(push) * 1000,
            "warm_all_follower_timelines_s": warm_seconds,
        },
        "pull": {
            "author": celeb.username,
            "followers": celeb.follower_count,
            "timelines_written_per_post": 0,
            "p50_ms": statistics.median(pull) * 1000,
            "p95_ms": _percentile(pull, 0.95) * 1000,
        },
    }


def test_redis_memory_per_timeline(viewer):
    conn = viewcache.connection()
    sizes = []
    for user_id in User.objects.order_by("-following_count").values_list("id", flat=True)[:50]:
        feed_page(viewer=User.objects.get(pk=user_id), cursor=None, limit=20, strategy="cached")
        sizes.append(
            (
                conn.zcount(store.timeline_key(user_id), 0, "+inf"),
                conn.memory_usage(store.timeline_key(user_id)),
                conn.memory_usage(viewcache.following_key(user_id)),
                conn.memory_usage(viewcache.flags_key(user_id)),
            )
        )
    full = [size for size in sizes if size[0] >= store.timeline_cap()]
    fragment = conn.memory_usage(
        settings.CACHES["default"]["KEY_PREFIX"]
        + ":1:"
        + viewcache.fragment_key(_counted(viewer, "cached", None)["ids"][0])
    )
    RESULTS["memory"] = {
        "cap": store.timeline_cap(),
        "sampled_users": len(sizes),
        "mean_posts_per_timeline": statistics.mean(size[0] for size in sizes),
        "mean_timeline_bytes": statistics.mean(size[1] for size in sizes),
        "full_timeline_bytes": statistics.mean(size[1] for size in full) if full else None,
        "mean_following_set_bytes": statistics.mean(size[2] for size in sizes),
        "flags_hash_bytes_after_one_page": statistics.mean(size[3] for size in sizes),
        "post_fragment_bytes": fragment,
    }


def test_write_results():
    pages = RESULTS["pages"]
    for number, by_strategy in pages.items():
        naive = by_strategy["naive"]["median_ms"]
        optimized = by_strategy["optimized"]["median_ms"]
        RESULTS["strategies"][number] = {
            "optimized_speedup_over_naive": naive / optimized,
            "cached_speedup_over_naive": naive / by_strategy["cached"]["median_ms"],
            "cached_speedup_over_optimized": optimized / by_strategy["cached"]["median_ms"],
            "optimized_over_naive": optimized / naive,
            "cached_over_naive": by_strategy["cached"]["median_ms"] / naive,
        }
        for result in by_strategy.values():
            result.pop("ids", None)
    uname = platform.uname()
    RESULTS["machine"] = {
        "cpus": os.cpu_count(),
        "system": f"{uname.system} {uname.release}",
        "python": platform.python_version(),
        "loadavg_1m_at_end": os.getloadavg()[0],
    }
    RESULTS["commit"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    RESULTS["database"] = connection.settings_dict["NAME"]
    RESULTS["posts"] = Post.objects.count()
    out = (
        ROOT / "benchmarks" / "results" / f"feed-{dt.datetime.now(dt.UTC).date().isoformat()}.json"
    )
    out.write_text(json.dumps(RESULTS, indent=2, default=str) + "\n")
    print(json.dumps(RESULTS, indent=2, default=str))
