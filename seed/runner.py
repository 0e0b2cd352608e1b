"""The seed run: safety checks, one atomic transaction of COPY phases, manifest and summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django_redis import get_redis_connection

from app.search.services import search_documents_rebuild
from seed.copy import (
    app_tables,
    secondary_objects_drop,
    sequences_reset,
    tables_truncate,
    tables_with_rows,
)
from seed.generate import phases_load
from seed.images import pool_ensure, pool_store
from seed.loader import Loader, PhaseStat
from seed.manifest import (
    manifest_complete,
    manifest_default_path,
    manifest_read,
    manifest_write,
)
from seed.plan import Plan, anchor_now, plan_build
from seed.presets import LAB_PASSWORD, SCALES

LOCK_WAIT_SECONDS = 30

# Every table the phases fill; their secondary indexes and constraints are rebuilt after.
LOADED = [
    "accounts_user",
    "accounts_follow",
    "posts_place",
    "posts_hashtag",
    "posts_post",
    "posts_postimage",
    "posts_posthashtag",
    "posts_mention",
    "posts_like",
    "posts_save",
    "posts_comment",
    "chat_room",
    "chat_membership",
    "chat_message",
    "search_searchquery",
]


class SeedError(Exception):
    """A seed cannot start; the message says why and what to do."""


@dataclass
class SeedResult:
    scale: str
    seed: int
    tables: dict[str, int]
    phases: list[PhaseStat]
    seconds: float
    manifest: Path
    cleaned_interrupted: bool


def redis_clear() -> int:
    """Delete this app's keys (timelines, caches, recommendations, sessions); nothing else."""
    conn = get_redis_connection("default")
    deleted = 0
    batch: list[Any] = []
    for key in conn.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += conn.delete(*batch)
            batch = []
    if batch:
        deleted += conn.delete(*batch)
    return deleted


@contextmanager
def _lock_wait_limited(pg: psycopg.Connection[Any]) -> Iterator[None]:
    """The load locks tables only at its start (the emptiness check and TRUNCATE). A wait
    there means another session holds them, typically an interrupted seed whose statement the
    server is still finishing: say so instead of hanging."""
    pg.execute(f"SET lock_timeout = '{LOCK_WAIT_SECONDS}s'")
    try:
        yield
    except psycopg.errors.LockNotAvailable as exc:
        raise SeedError(
            f"the app's tables stayed locked for {LOCK_WAIT_SECONDS} s: another session is "
            "using them (a seed still running, or an interrupted one whose statement the "
            "server is still finishing). Find it with SELECT pid, state, query FROM "
            "pg_stat_activity, then wait or end it with SELECT pg_terminate_backend(pid)."
        ) from exc
    finally:
        pg.execute("SET lock_timeout = 0")


def database_is_empty() -> bool:
    connection.ensure_connection()
    return not tables_with_rows(connection.connection, app_tables())


def _refuse_if_not_empty(pg: psycopg.Connection[Any], tables: list[str]) -> None:
    busy = tables_with_rows(pg, tables)
    if busy:
        raise SeedError(
            f"database {connection.settings_dict['NAME']!r} is not empty "
            f"({', '.join(busy[:4])}{', ...' if len(busy) > 4 else ''} have rows). "
            "Rerun with --reset (make seed RESET=1) to replace its data."
        )


def _load(
    pg: psycopg.Connection[Any], out: Loader, plan: Plan, tables: list[str], password_hash: str
) -> None:
    """Truncate, COPY every phase, rebuild documents and indexes, analyse: one transaction.

    An interrupted seed rolls back to nothing, and COPY into tables truncated in the same
    transaction skips WAL (wal_level=minimal) and writes frozen rows.
    """
    with transaction.atomic():
        with out.phase("reset", 0), pg.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
            # The search triggers would rebuild a post's document per row; one set-based
            # rebuild after the load is far cheaper (app/search/migrations/0002).
            cur.execute("SET LOCAL instalab.search_sync = 'off'")
            # Sessions too: ids restart after a reset, so an old session would log in as
            # whichever seeded user now holds its id.
            tables_truncate(pg, [*tables, "django_session"])
            deferred = secondary_objects_drop(pg, LOADED)
        phases_load(plan, out, password_hash)
        # Set-based (one hash join), so before the indexes: the GIN index is then built
        # once from finished documents instead of maintained row by row.
        with out.phase("documents", 0):
            search_documents_rebuild()
        with out.phase("indexes", 0), pg.cursor() as cur:
            for item in deferred:
                cur.execute(item.create_sql())
            sequences_reset(pg, LOADED)
        with out.phase("analyze", 0), pg.cursor() as cur:
            cur.execute(f"ANALYZE {', '.join(LOADED)}")
        # The commit flushes the unlogged-by-WAL relation files to disk; timed on its own.
        commit_started = time.perf_counter()
    out.phases.append(PhaseStat("commit", 0, time.perf_counter() - commit_started))


def seed_run(
    *,
    scale: str,
    seed: int,
    reset: bool = False,
    progress: bool = True,
    media_root: Path | None = None,
    manifest_path: Path | None = None,
    echo: Callable[[str], None] = print,
    anchor_us: int | None = None,
) -> SeedResult:
    """Fill the configured database with the ``scale`` preset, every timestamp before
    ``anchor_us`` (default: now); the same seed and anchor, the same bytes."""
    if scale not in SCALES:
        raise SeedError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if seed < 0:
        raise SeedError(f"seed must be an integer >= 0, got {seed}")
    preset = SCALES[scale]
    end_us = anchor_now() if anchor_us is None else anchor_us
    started = time.perf_counter()
    path = manifest_path or manifest_default_path()
    previous = manifest_read(path)
    interrupted = bool(previous and previous.get("status") == "in_progress")
    if interrupted:
        echo(
            f"A previous seed (scale={previous and previous.get('scale')}) was interrupted; "
            "resetting the database before seeding."
        )
        reset = True
    tables = app_tables()
    connection.ensure_connection()
    pg = connection.connection
    with _lock_wait_limited(pg):
        if not reset:
            _refuse_if_not_empty(pg, tables)
        manifest_write(
            path,
            {
                "status": "in_progress",
                "scale": scale,
                "seed": seed,
                "started_at": datetime.now(UTC).isoformat(),
            },
        )
        redis_clear()
        out = Loader(pg=pg, progress=progress, chunk_rows=preset.chunk)
        with out.phase("images", 0):
            pool = pool_ensure(Path(media_root or settings.MEDIA_ROOT))
            pool_store(pool, Path(media_root or settings.MEDIA_ROOT))
        with out.phase("plan", 0):
            plan = plan_build(preset, seed, pool, end_us=end_us)
            # Hashed once: a million users share one hash instead of a million slow hashes. The
            # salt is fixed by the seed so the rows stay byte-identical; the password is public.
            password_hash = make_password(LAB_PASSWORD, salt=f"instalabseed{seed}")
        _load(pg, out, plan, tables, password_hash)
        redis_clear()
        seconds = time.perf_counter() - started
        manifest_write(
            path, manifest_complete(plan, tables=out.tables, phases=out.phases, seconds=seconds)
        )
        return SeedResult(scale, seed, dict(out.tables), out.phases, seconds, path, interrupted)


def summary_table(result: SeedResult) -> str:
    total = sum(result.tables.values())
    lines = [f"seeded scale={result.scale} seed={result.seed} in {result.seconds:.1f} s", ""]
    lines.append(f"{'table':<22}{'rows':>14}")
    for table, rows in sorted(result.tables.items()):
        lines.append(f"{table:<22}{rows:>14,}")
    lines += ["", f"{'phase':<22}{'rows':>14}{'seconds':>10}{'rows/s':>12}"]
    for phase in result.phases:
        rate = f"{phase.rows / phase.seconds:,.0f}" if phase.rows and phase.seconds else "-"
        lines.append(f"{phase.name:<22}{phase.rows:>14,}{phase.seconds:>10.2f}{rate:>12}")
    lines.append(
        f"{'total':<22}{total:>14,}{result.seconds:>10.2f}{total / result.seconds:>12,.0f}"
    )
    lines.append(f"\nmanifest: {result.manifest}   password: {LAB_PASSWORD}")
    return "\n".join(lines)
