"""``python -m benchmarks.capacity measure``: the per-request costs the plan turns into hardware.

Four sources, written together to benchmarks/results/capacity-costs.json:

- **reads**: app, PostgreSQL and Redis CPU milliseconds per request of each hot GET endpoint,
  and its Server-Timing db time and queries, taken from a `make bench-endpoints` report
  (``--endpoints``; its wrk rounds against the production-mode server, CPU metered by
  loadtests/cpu.py).
- **writes**: each write service (like, comment, follow, chat message, a post with one
  1080x1080 JPEG) called in this process ``--writes`` times on the seeded database, jobs run
  inline (LAB_TESTING=1, so a post's fan-out is counted), with this process's CPU as the app's
  plus the HTTP overhead of the report's /lab/hello, and the PostgreSQL and Redis servers' CPU
  from the same meter. It writes rows: run it on a database of its own.
- **storage**: Redis bytes per active user (MEMORY USAGE of the keys one user's feed read
  creates: timeline, following set, like/save flags, recommendations, session), and bytes per
  row of each big table (pg_total_relation_size / rows), hence bytes per write.
- **sockets**: CPU milliseconds per chat message and KiB per idle socket, from a committed
  `make chat-load` report (``--chat``).
"""

from __future__ import annotations

import io
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import drive
from loadtests.cpu import CpuMeter

# Write label -> the tables one such write adds a row to (a post's satellites per post).
WRITE_TABLES: dict[str, tuple[str, ...]] = {
    "like": ("posts_like",),
    "comment": ("posts_comment",),
    "follow": ("accounts_follow",),
    "message": ("chat_message",),
    "post": ("posts_post", "posts_postimage", "posts_posthashtag", "posts_mention"),
}
# Tables whose rows are counted per post, not per write of their own.
PER_POST = {"posts_postimage", "posts_posthashtag", "posts_mention"}
BIG_TABLES = (
    "posts_like",
    "posts_post",
    "accounts_follow",
    "posts_posthashtag",
    "posts_comment",
    "posts_postimage",
    "chat_message",
    "posts_save",
    "accounts_user",
    "search_searchquery",
    "posts_hashtag",
    "chat_membership",
    "posts_mention",
    "chat_room",
)
# Redis key kinds one active user owns, as (kind, how to find the key for a user id).
USER_KEY_KINDS = ("timeline", "following", "flags", "recommendations", "session")


def reads_from_endpoints(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per endpoint of a bench-endpoints report: CPU ms by role and the sampled Server-Timing."""
    rows: dict[str, dict[str, Any]] = {}
    for label, row in report["endpoints"].items():
        cpu, timing = row["cpu_ms_per_request"], row["server_timing"]
        rows[label] = {
            "path": row["path"],
            "app_ms": cpu.get("app", 0.0),
            "pg_ms": cpu.get("postgres", 0.0),
            "redis_ms": cpu.get("redis", 0.0),
            "db_ms_server_timing": timing.get("db_ms"),
            "queries": timing.get("queries"),
            "cache_hits": timing.get("cache_hits"),
            "requests": row["requests"],
            "errors": row["errors"],
        }
    return rows


def chat_costs(report: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Server CPU per sent message (heartbeats of the held sockets included) and socket memory."""
    sent = report["delivery"]["sent"]
    server = report["cpu_seconds_during_send"]["server"]
    return {
        "source": source,
        "sockets_held": report["sockets"]["open"],
        "messages_sent": sent,
        "rate": report["config"]["rate"],
        "cpu_ms_per_message": round(server * 1000 / sent, 3),
        "kib_per_idle_socket": report["memory"]["per_idle_socket_kib"],
        "p99_ms": report["delivery"]["latency_ms"]["p99"],
    }


# --- in-process: Django ----------------------------------------------------------------------


def django_ready() -> None:
    """Jobs inline (a post's fan-out is part of its cost), then Django set up."""
    os.environ["LAB_TESTING"] = "1"
    drive.django_setup()


def _sql(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def storage_measure() -> dict[str, Any]:
    """Rows and bytes (heap, indexes, TOAST) of each big table, and bytes per write."""
    tables: dict[str, dict[str, float]] = {}
    for name in BIG_TABLES:
        rows = _sql(f'SELECT count(*) FROM "{name}"')[0][0]  # our own table names
        size = _sql("SELECT pg_total_relation_size(%s::regclass)", (name,))[0][0]
        tables[name] = {
            "rows": rows,
            "bytes": size,
            "bytes_per_row": round(size / rows, 1) if rows else 0.0,
        }
    posts = tables["posts_post"]["rows"] or 1
    per_write: dict[str, float] = {}
    for label, names in WRITE_TABLES.items():
        per_write[label] = round(
            sum(
                tables[n]["bytes"] / posts if n in PER_POST else tables[n]["bytes_per_row"]
                for n in names
            ),
            1,
        )
    return {"tables": tables, "bytes_per_write": per_write}


def _user_keys(user_id: int, session_cache_key: str) -> dict[str, str]:
    from django.conf import settings
    from django.core.cache import caches

    from app.feed import store
    from app.posts import viewcache
    from app.recs import serving

    return {
        "timeline": store.timeline_key(user_id),
        "following": viewcache.following_key(user_id),
        "flags": viewcache.flags_key(user_id),
        "recommendations": serving.list_key(
            int(serving.connection().get(serving.live_key()) or 0), user_id
        ),
        "session": caches[settings.SESSION_CACHE_ALIAS].make_key(session_cache_key),
    }


def redis_measure(*, sample: int, seed: int = 42) -> dict[str, Any]:
    """Read the feed as ``sample`` active users (timelines built as the app builds them),
    sign each in, then MEMORY USAGE of every key such a user owns."""
    from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
    from django_redis import get_redis_connection

    from app.accounts.models import User
    from app.accounts.sessions import SessionStore
    from app.feed.page import feed_page

    ids = list(
        User.objects.filter(is_active=True, following_count__gt=0)
        .order_by("id")
        .values_list("id", flat=True)
    )
    random.Random(seed).shuffle(ids)
    conn = get_redis_connection("default")
    totals = dict.fromkeys(USER_KEY_KINDS, 0)
    present = dict.fromkeys(USER_KEY_KINDS, 0)
    users = list(User.objects.filter(id__in=ids[:sample]))
    for user in users:
        feed_page(viewer=user, cursor=None, limit=20)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session.save(must_create=True)
        for kind, key in _user_keys(user.pk, session.cache_key).items():
            used = conn.memory_usage(key, samples=0)
            if used:
                totals[kind] += int(used)
                present[kind] += 1
    per_user = {kind: round(totals[kind] / max(1, len(users)), 1) for kind in USER_KEY_KINDS}
    return {
        "sampled_users": len(users),
        "keys_present": present,
        "bytes_per_user_by_kind": per_user,
        "bytes_per_active_user": round(sum(per_user.values()), 1),
    }


@contextmanager
def _metered(meter: CpuMeter) -> Iterator[dict[str, float]]:
    spent: dict[str, float] = {}
    began = time.process_time()
    meter.start()
    try:
        yield spent
    finally:
        spent.update(meter.stop())
        spent["app"] = time.process_time() - began


def _jpeg(side: int = 1080) -> bytes:
    """A photo-like JPEG: smooth gradients with some grain (pure noise would not compress)."""
    from PIL import Image

    ramp = Image.linear_gradient("L").resize((side, side))
    grain = Image.blend(ramp.rotate(90), Image.effect_noise((side, side), 40), 0.25)
    image = Image.merge("RGB", (ramp, grain, Image.radial_gradient("L").resize((side, side))))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _write_calls(count: int) -> dict[str, Callable[[int], Any]]:
    """One function per write label; call ``i`` writes something new each time."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from app.accounts.models import User
    from app.accounts.services import follow_create
    from app.chat.models import Membership
    from app.chat.services import message_send
    from app.posts.models import Post
    from app.posts.services import comment_create, like_set, post_create

    public = list(User.objects.filter(is_active=True, is_private=False).order_by("id")[:2000])
    # Unseeded: a second run must not repeat the first one's pairs (an idempotent no-op).
    rng = random.Random()
    posts = list(
        Post.objects.filter(author__is_private=False).order_by("-id").values_list("id", flat=True)
    )[:5000]
    seats = list(Membership.objects.select_related("user").order_by("id")[: count * 2])
    jpeg = _jpeg()

    def message(i: int) -> Any:
        seat = seats[i % len(seats)]
        return message_send(
            sender=seat.user, room_id=seat.room_id, client_id=uuid.uuid4(), text=f"cap {i}"
        )

    return {
        "like": lambda i: like_set(user=rng.choice(public), post_id=rng.choice(posts), liked=True),
        "comment": lambda i: comment_create(
            author=rng.choice(public), post_id=rng.choice(posts), text=f"capacity {i}"
        ),
        "follow": lambda i: follow_create(follower=rng.choice(public), followee=rng.choice(public)),
        "message": message,
        "post": lambda i: post_create(
            author=rng.choice(public),
            uploads=[SimpleUploadedFile(f"cap{i}.jpg", jpeg, content_type="image/jpeg")],
            caption=f"capacity #daily {i}",
            place_id=None,
        ),
    }


def _media_bytes() -> int:
    from django.conf import settings

    root = Path(settings.MEDIA_ROOT)
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.exists() else 0


def writes_measure(*, count: int, http_app_ms: float) -> dict[str, dict[str, Any]]:
    """Each write ``count`` times (posts a fifth as often: each renders an image), metered."""
    from app.core.errors import ApiError

    meter = CpuMeter.for_servers(
        app_pid=None, database_url=drive.database_url(), redis_url=drive.redis_url()
    )
    rows: dict[str, dict[str, Any]] = {}
    for label, call in _write_calls(count).items():
        n = max(1, count // 5) if label == "post" else count
        refused, media = 0, _media_bytes()
        with _metered(meter) as spent:
            for i in range(n):
                try:
                    call(i)
                except ApiError:
                    refused += 1  # a rate limit or a follow of oneself: still a request
        rows[label] = {
            "calls": n,
            "refused": refused,
            "app_ms": round(spent["app"] * 1000 / n + http_app_ms, 3),
            "app_ms_in_process": round(spent["app"] * 1000 / n, 3),
            "pg_ms": round(spent.get("postgres", 0.0) * 1000 / n, 3),
            "redis_ms": round(spent.get("redis", 0.0) * 1000 / n, 3),
            "media_bytes": round((_media_bytes() - media) / n, 1),
        }
        drive.say(f"write {label:<8} x{n}: {rows[label]}")
    return rows


def seed_scale() -> str:
    from seed.manifest import manifest_default_path, manifest_read

    manifest = manifest_read(manifest_default_path()) or {}
    return str(manifest.get("scale", "unknown"))


def source_name(path: Path) -> str:
    return str(path.relative_to(drive.ROOT)) if path.is_relative_to(drive.ROOT) else str(path)
