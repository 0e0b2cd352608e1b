"""In-process A/B of the warm cached feed page vs /lab/hello: before and after optimisation.

"Before" re-installs the previous code paths in this same process (redis-py's pure-Python
RESP3 parser, the withscores callback, ``cache.get_many`` with a fresh unpickle of every body,
and ninja's JSON renderer); "after" is the code as committed. Blocks of requests alternate,
so both see the same box. Run against a seeded database (see docs/experiments/feed.md):

    DATABASE_URL=... REDIS_URL=... REDIS_KEY_PREFIX=... DEBUG=0 SECRET_KEY=... \\
        .venv/bin/python -m benchmarks.feed.cached_path
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.test import Client  # noqa: E402
from ninja.renderers import JSONRenderer  # noqa: E402
from redis._parsers import _HiredisParser, _RESP3Parser  # noqa: E402

from app.accounts.models import User  # noqa: E402
from app.feed import api as feed_api  # noqa: E402
from app.feed import selectors, store  # noqa: E402
from app.feed import strategies as feed_strategies  # noqa: E402
from seed.presets import LAB_PASSWORD  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ROUNDS, BLOCK = 12, 40


def _viewer() -> User:
    """The benchmark's viewer (benchmarks/feed/test_feed_bench.py): median following count
    among users with a feed of 12 pages."""
    users = list(
        User.objects.filter(following_count__gte=20).order_by("following_count", "id")[:400]
    )
    for user in users[len(users) // 2 :]:
        if len(selectors.feed_keys(viewer_id=user.pk, after=None, limit=240)) >= 240:
            return user
    raise SystemExit("no user has a feed of 12 pages: seed the `small` scale first")


class _NinjaJson:
    """The previous renderer behind orjson's call shape."""

    renderer = JSONRenderer()

    def dumps(self, body: Any, default: Any = None, option: Any = None) -> bytes:
        return self.renderer.render(None, body, response_status=200)  # type: ignore[arg-type]


def _old_range(pipe: Any, key: str, top: str, count: int) -> None:
    pipe.zrevrangebyscore(key, top, 0, start=0, num=count, withscores=True)


def _old_fragments(conn: Any, post_ids: list[int]) -> dict[int, Any]:
    keys = {post_id: store.fragment_key(post_id) for post_id in post_ids}
    found = cache.get_many(list(keys.values()))
    return {post_id: found[key] for post_id, key in keys.items() if key in found}


def _parser(parser: type) -> None:
    pool = store.connection().connection_pool
    pool.connection_kwargs["parser_class"] = parser
    pool.disconnect()


@contextlib.contextmanager
def _before() -> Iterator[None]:
    saved = (feed_api.orjson, feed_strategies._range, feed_strategies._pairs, store.fragments_get)
    _parser(_RESP3Parser)
    feed_api.orjson = _NinjaJson()  # type: ignore[assignment]
    feed_strategies._range = _old_range
    feed_strategies._pairs = lambda raw: raw
    store.fragments_get = _old_fragments  # type: ignore[assignment]
    try:
        yield
    finally:
        feed_api.orjson, feed_strategies._range, feed_strategies._pairs = saved[:3]
        store.fragments_get = saved[3]
        _parser(_HiredisParser)


def _timed(call: Callable[[], Any], times: list[float]) -> None:
    for _ in range(BLOCK):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)


def main() -> None:
    viewer = _viewer()
    client = Client()
    login = client.post(
        "/api/auth/login",
        {"username": viewer.username, "password": LAB_PASSWORD},
        content_type="application/json",
    )
    headers = {
        "HTTP_AUTHORIZATION": f"Bearer {login.json()['token']}",
        "HTTP_X_LAB_STRATEGY": "feed=cached",
    }

    def feed() -> bytes:
        response = client.get("/api/feed", **headers)
        assert response.status_code == 200, response.content[:200]
        return response.content

    def hello() -> None:
        assert client.get("/lab/hello").status_code == 200

    results: dict[str, Any] = {}
    default_every = settings.FEED_RECOMMENDED_EVERY
    for label, every in (("feed only", 0), ("feed + recommended", default_every)):
        settings.FEED_RECOMMENDED_EVERY = every
        with _before():
            old_body = json.loads(feed())
        assert json.loads(feed()) == old_body, "the optimised body differs"
        times: dict[str, list[float]] = {"before": [], "after": [], "hello": []}
        for _ in range(ROUNDS):
            with _before():
                _timed(feed, times["before"])
            _timed(feed, times["after"])
            _timed(hello, times["hello"])
        medians = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
        medians["hello/before"] = medians["hello"] / medians["before"]
        medians["hello/after"] = medians["hello"] / medians["after"]
        results[f"{label} (every {every})"] = medians
        print(label, {k: round(v, 3) for k, v in medians.items()})
    settings.FEED_RECOMMENDED_EVERY = default_every
    out = ROOT / "benchmarks/results" / f"feed-cached-path-{dt.datetime.now(tz=dt.UTC).date()}.json"
    record = {"viewer": viewer.username, "rounds": ROUNDS, "block": BLOCK}
    record |= {"machine": f"{platform.node()} {platform.processor()} {os.cpu_count()} cpus"}
    out.write_text(json.dumps(record | {"median_ms": results}, indent=2) + "\n")
    print("wrote", out.relative_to(ROOT))


if __name__ == "__main__":
    main()
