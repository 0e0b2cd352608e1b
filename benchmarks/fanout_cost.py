"""What one pushed post costs per follower timeline: the feed's fan-out Lua
(``app.feed.store.add_if_exists``, 500 timelines a call as ``app/feed/jobs.py`` sends them) on
timelines full at the cap, so each add also trims. Bounded: ``--timelines`` sets of
``FEED_TIMELINE_CAP`` ids are made under keys of its own on the configured Redis, and deleted
at the end.

    python -m benchmarks.fanout_cost --timelines 2000 --posts 20 \
        --out benchmarks/results/fanout-cost.json

docs/scaling.md ("Fan-out at a million followers") reads the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def measure(*, timelines: int, posts: int, batch: int = 500) -> dict[str, Any]:
    from app.feed import store
    from app.posts import viewcache

    conn = viewcache.connection()
    keys = [f"bench:fanout:{os.getpid()}:{index}" for index in range(timelines)]
    cap = store.timeline_cap()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    full = {
        store.member_of(10_000_000 + j): store.score_of(base + timedelta(seconds=j))
        for j in range(cap)
    }
    try:
        with conn.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zadd(key, full)
            pipe.execute()
        calls, per_post = [], []
        for post in range(posts):
            rows = [(20_000_000 + post, base + timedelta(days=30, seconds=post))]
            began = time.perf_counter()
            for start in range(0, timelines, batch):
                call = time.perf_counter()
                store.add_if_exists(conn, keys[start : start + batch], rows)
                calls.append(time.perf_counter() - call)
            per_post.append(time.perf_counter() - began)
    finally:
        for start in range(0, timelines, 1000):
            conn.delete(*keys[start : start + 1000])
    post_ms = statistics.median(per_post) * 1000
    return {
        "timelines": timelines,
        "posts": posts,
        "cap": cap,
        "batch": batch,
        "post_ms_median": round(post_ms, 2),
        "us_per_timeline": round(post_ms * 1000 / timelines, 1),
        "call_ms_median": round(statistics.median(calls) * 1000, 2),
        "call_ms_max": round(max(calls) * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timelines", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    import django

    django.setup()
    result = measure(timelines=args.timelines, posts=args.posts)
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
