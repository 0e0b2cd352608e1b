"""The signed-in user's row in Redis, so that a warm request authenticates without PostgreSQL.

Loading the user through the ORM on every request was 19 % of a cached feed request's CPU
(docs/experiments/hotpaths.md). The row is kept as an orjson list of its columns, read in
the same round trip as a per-user generation counter. Every write to a user row bumps the
generation and drops the copy on commit (:func:`user_changed`); a reader that filled the
cache from SQL stores its copy only if the generation it saw first is still current, so a
fill racing a write can never leave the old row behind. ``last_login`` and ``date_joined``
are left out (deferred): no request path reads them, and login writes ``last_login``.

Redis errors never fail a request here: the caller falls back to SQL, and while the breaker
is open (app/core/degrade.py) Redis is not asked at all. Invalidations are outbox effects, so
a write during an outage drops its copies once Redis is back, before any process reads them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

import orjson
from django.db.models.fields.files import FieldFile

from app.accounts.models import User
from app.core import degrade, outbox, redisroles
from app.lab import stats
from app.lab.cache import raw_key

logger = logging.getLogger(__name__)

# A safety net only: writes invalidate at once.
TTL = 3600
_SKIPPED = frozenset({"last_login", "date_joined"})
FIELDS: tuple[str, ...] = tuple(
    field.attname for field in User._meta.concrete_fields if field.attname not in _SKIPPED
)
_VERSION = "v1"
# Store the fill only while the generation is the one read before the SQL read began.
_FILL = """
local gen = redis.call('GET', KEYS[2]) or '0'
if gen == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


def _row_key(user_id: int) -> str:
    return raw_key("acct", "u", _VERSION, user_id)


def _gen_key(user_id: int) -> str:
    return raw_key("acct", "gen", user_id)


def _connection() -> Any:
    return redisroles.connection("cache")


def _decode(raw: bytes) -> User:
    return User.from_db("default", FIELDS, orjson.loads(raw))


def _column(user: User, name: str) -> Any:
    value = getattr(user, name)
    # A file field reads back as a FieldFile; the column holds its name.
    return value.name if isinstance(value, FieldFile) else value


def _encode(user: User) -> bytes:
    return orjson.dumps([_column(user, name) for name in FIELDS])


# The row and generation the session middleware read with the session, for this request only
# (see session_with_user): user_get takes them instead of asking Redis again.
_prefetched: contextvars.ContextVar[dict[int, tuple[bytes | None, bytes | None]] | None] = (
    contextvars.ContextVar("usercache_prefetched", default=None)
)


def user_get(user_id: int) -> User | None:
    """The user, from Redis when warm (0 SQL), else from PostgreSQL (then cached); None if
    there is no such user."""
    reachable = True
    prefetched = _prefetched.get()
    if prefetched is not None and user_id in prefetched:
        raw, seen = prefetched.pop(user_id)
    elif not degrade.redis_up():
        raw, seen, reachable = None, None, False
    else:
        try:
            with _connection().pipeline(transaction=False) as pipe:
                pipe.get(_row_key(user_id))
                pipe.get(_gen_key(user_id))
                raw, seen = pipe.execute()
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
            raw, seen, reachable = None, None, False
    stats.cache_count(hits=int(raw is not None), misses=int(raw is None))
    if raw is not None:
        return _decode(raw)
    user = User.objects.filter(pk=user_id).only(*FIELDS).first()
    if user is None or not reachable:
        return user
    generation = seen if seen is not None else b"0"
    try:
        _connection().eval(
            _FILL, 2, _row_key(user_id), _gen_key(user_id), generation, _encode(user), TTL
        )
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)
    return user


@outbox.effect("accounts.users_forget")
def _forget(*, user_ids: list[int]) -> None:
    with _connection().pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.incr(_gen_key(user_id))
            pipe.expire(_gen_key(user_id), TTL)
            pipe.delete(_row_key(user_id))
        pipe.execute()


def user_changed(*user_ids: int) -> None:
    """Call inside the transaction that writes these users' rows: the copies go on commit
    (and at once too, so a reader inside the same transaction never sees the old row)."""
    if not user_ids:
        return
    if degrade.redis_up():
        try:
            _forget(user_ids=list(user_ids))
        except degrade.REDIS_ERRORS as exc:
            # Readers in this process now skip Redis; the on-commit drop is deferred.
            degrade.redis_failed(exc)
    outbox.after_commit("accounts.users_forget", user_ids=list(user_ids))


# --- privacy overrides -------------------------------------------------------------------------
# Cached post bodies record whether their author was private when they were written, and the
# bodies of an author who changes privacy are dropped by a background job. Until it has run,
# this hash (author id -> b"1" private, b"0" public) says what is true now, written on
# commit; readers that filter by privacy from Redis check it in the same round trip.


def privacy_key() -> str:
    """The hash of privacy overrides: user id -> b"1" (private) or b"0" (public)."""
    return raw_key("acct", "privacy")


def privacy_changed(*, user_id: int, private: bool) -> None:
    """Call inside the transaction that changes ``is_private``."""
    outbox.after_commit("accounts.privacy_record", user_id=user_id, private=private)


@outbox.effect("accounts.privacy_record")
def _privacy_record(*, user_id: int, private: bool) -> None:
    _connection().hset(privacy_key(), str(user_id), int(private))


# --- many rows at once (member lists) ---------------------------------------------------------
# A reader that lists other users (an inbox's members) reads their cached rows in its own
# pipeline, fills the missing ones from one query, and gets the same freshness as auth.


def rows_queue(pipe: Any, user_ids: list[int]) -> None:
    """Queue the reads of ``user_ids``' rows and generations (two replies) on a pipeline."""
    pipe.mget([_row_key(user_id) for user_id in user_ids])
    pipe.mget([_gen_key(user_id) for user_id in user_ids])


def rows_parse(
    user_ids: list[int], rows: list[bytes | None], generations: list[bytes | None]
) -> tuple[dict[int, list[Any]], dict[int, bytes]]:
    """The cached rows (column values in FIELDS order) found, and the generation seen for
    each user whose row is missing (what :func:`rows_fill` needs)."""
    found: dict[int, list[Any]] = {}
    missing: dict[int, bytes] = {}
    for user_id, raw, generation in zip(user_ids, rows, generations, strict=True):
        if raw is None:
            missing[user_id] = generation or b"0"
        else:
            found[user_id] = orjson.loads(raw)
    return found, missing


def rows_fill(conn: Any, missing: dict[int, bytes]) -> dict[int, list[Any]]:
    """Read the missing users' rows in one query, cache each (generation-checked, like
    :func:`user_get`) and return them."""
    if not missing:
        return {}
    rows: dict[int, list[Any]] = {}
    with conn.pipeline(transaction=False) as pipe:
        for user in User.objects.filter(pk__in=missing).only(*FIELDS):
            encoded = _encode(user)
            rows[user.pk] = orjson.loads(encoded)
            pipe.eval(
                _FILL, 2, _row_key(user.pk), _gen_key(user.pk), missing[user.pk], encoded, TTL
            )
        pipe.execute()
    return rows


# --- the session and its user in one round trip ---------------------------------------------
# Sessions are cached as JSON (settings.CACHES["sessions"]), so a script can read the user id
# inside and fetch that user's row and generation in the same call: authentication costs one
# Redis round trip instead of two (docs/experiments/hotpaths.md).
# KEYS[1]: the session's cache key. ARGV: the row key and generation key, less the user id.
_SESSION_WITH_USER = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {false} end
local ok, data = pcall(cjson.decode, raw)
if not ok or type(data) ~= 'table' or data['_auth_user_id'] == nil then return {raw} end
local uid = tostring(data['_auth_user_id'])
return {raw, uid, redis.call('GET', ARGV[1] .. uid), redis.call('GET', ARGV[2] .. uid)}
"""
_session_scripts: dict[int, Any] = {}


def session_with_user(cache_key: str) -> bytes | None:
    """The session's cached bytes (None when not cached), reading its user's row in the same
    round trip; the row waits for :func:`user_get` in this request's context. Call within
    :func:`prefetch_scope`. Raises a Redis error for the session store to fall back on."""
    conn = _connection()
    script = _session_scripts.get(id(conn))
    if script is None:
        script = _session_scripts[id(conn)] = conn.register_script(_SESSION_WITH_USER)
    reply = script(keys=[cache_key], args=[_row_key(0)[:-1], _gen_key(0)[:-1]])
    if len(reply) == 4 and reply[1].isdigit():
        prefetched = _prefetched.get()
        if prefetched is not None:
            prefetched[int(reply[1])] = (reply[2], reply[3])
    raw: bytes | None = reply[0]
    # A hit counts here; a miss is counted by the session store, which then reads it itself.
    stats.cache_count(hits=int(raw is not None))
    return raw


@contextlib.contextmanager
def prefetch_scope() -> Iterator[None]:
    """A request's scope for rows read with its session."""
    token = _prefetched.set({})
    try:
        yield
    finally:
        _prefetched.reset(token)
