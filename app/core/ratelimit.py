"""Abuse limits: fixed-window counters in Redis (one script call per check), the client address
they are keyed by, a per-process in-memory fallback for while Redis is unreachable, and
per-process slots for work too expensive to run on every thread at once (password hashes).

A limit is a :class:`Rule` (``"login.account"``, 10 per 15 minutes) applied to an identity (a
username, an address). :func:`attempt` checks every rule of an action at once and, only if none
is exhausted, counts the attempt in each: one Redis round trip, atomic, so 32 parallel attempts
cannot all slip under a limit of 10. :func:`refund` takes an attempt back (a login that
succeeded is not held against its account or its address).

Fallback: when Redis cannot be reached, each process counts in its own memory with the same
rules. The limits then hold per process rather than per server (a few times looser with several
workers), but they still hold: no limit fails open, and no limit fails closed (an outage never
locks everyone out of logging in).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import ipaddress
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_redis import get_redis_connection

from app.core import degrade, redisroles
from app.core.errors import ApiError
from app.core.keys import raw_key

logger = logging.getLogger(__name__)

# Unreachable, timed out, or a replica refusing writes (app/core/degrade.py): the in-memory
# fallback takes over. Any other Redis error is a bug in the script and stays one.
REDIS_ERRORS = degrade.REDIS_ERRORS
# The in-memory fallback forgets expired windows once it holds this many, and everything if
# they are all live (a flood of distinct identities must not grow a worker without bound).
MEMORY_MAX_KEYS = 50_000
WARN_EVERY = 60.0
# The cache alias whose Redis holds the counters; None: the limits role's (app/core/redisroles.py).
# A module constant, so a test can aim the limiter at a server that is not there.
REDIS_ALIAS: str | None = None
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS: one counter per rule; ARGV: limit and window (ms) per key, in the same order.
# Refuses (and counts nothing) when any counter is at its limit, returning a counter's wait in
# ms for each key (0 for one with room); otherwise counts the attempt in every counter and
# returns 0. A counter's window starts at
# its first attempt (PEXPIRE on the INCR that created it), so a refused client never extends it.
_ATTEMPT_LUA = """
local waits = {}
local refused = false
for i, key in ipairs(KEYS) do
  waits[i] = 0
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[2 * i])
      ttl = tonumber(ARGV[2 * i])
    end
    waits[i] = math.max(ttl, 1)
    refused = true
  end
end
if refused then return waits end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
end
return 0
"""
# Takes one attempt back from each counter that still exists; never creates one.
_REFUND_LUA = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 and tonumber(redis.call('DECR', key)) <= 0 then
    redis.call('DEL', key)
  end
end
return 0
"""


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` attempts per identity in any ``window``-second fixed window."""

    name: str
    limit: int
    window: int

    @classmethod
    def parse(cls, name: str, spec: str) -> Rule:
        """``"10/15m"``, ``"30/m"``, ``"5/h"``: a count, then a window in s, m, h or d."""
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(f"{name}: {spec!r} is not a rate like '10/15m'")
        count, amount, unit = match.groups()
        window = int(amount or "1") * _UNIT_SECONDS[unit]
        if int(count) < 1 or window < 1:
            raise ValueError(f"{name}: {spec!r} must allow at least 1 per second or longer")
        return cls(name=name, limit=int(count), window=window)


class Throttled(ApiError):
    """A refusal the client may retry later: 429 (you, slow down) or 503 (we are busy), sent
    with ``Retry-After`` in whole seconds (app/api.py)."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: float) -> None:
        super().__init__(status, code, message)
        self.retry_after = max(1, math.ceil(retry_after))


def rule(name: str) -> Rule:
    """The rule called ``name`` in ``settings.RATE_LIMITS``."""
    return Rule.parse(name, settings.RATE_LIMITS[name])


def _identity_key(rule: Rule, identity: str) -> str:
    # Hashed: a username may be any length and any bytes; the key stays short and printable.
    digest = hashlib.blake2b(identity.encode("utf-8", "surrogatepass"), digest_size=12)
    return raw_key("rl", rule.name, digest.hexdigest())


class MemoryCounters:
    """The fallback: the same fixed windows, in this process only."""

    def __init__(self, *, max_keys: int = MEMORY_MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._windows: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def attempt(self, keys: Sequence[tuple[str, Rule]], *, now: float) -> float:
        with self._lock:
            wait = 0.0
            for key, limit_rule in keys:
                count, ends = self._windows.get(key, (0, 0.0))
                if ends > now and count >= limit_rule.limit:
                    wait = max(wait, ends - now)
            if wait:
                return wait
            if len(self._windows) >= self.max_keys:
                self._forget_expired(now)
            for key, limit_rule in keys:
                count, ends = self._windows.get(key, (0, 0.0))
                if ends <= now:
                    count, ends = 0, now + limit_rule.window
                self._windows[key] = (count + 1, ends)
            return 0.0

    def refund(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                count, ends = self._windows.get(key, (0, 0.0))
                if count > 1:
                    self._windows[key] = (count - 1, ends)
                else:
                    self._windows.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()

    def _forget_expired(self, now: float) -> None:
        self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        if len(self._windows) >= self.max_keys:
            self._windows.clear()


memory = MemoryCounters()
# Identities Redis refused, and until when (monotonic): while a window is used up, a refusal is
# answered from here with no Redis round trip, and a login from a refused address before
# Django runs at all (:func:`early_refusal`). Bounded like the fallback.
_refused: dict[str, float] = {}
_scripts: dict[str, Any] = {}
_last_warning = 0.0


def _script(name: str, source: str) -> Any:
    conn = get_redis_connection(REDIS_ALIAS or redisroles.alias("limits"))
    script = _scripts.get(name)
    if script is None:
        script = _scripts[name] = conn.register_script(source)
    return script, conn


def _redis_failed(exc: BaseException) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= WARN_EVERY:
        _last_warning = now
        logger.warning(
            "rate limits: redis unavailable (%s); counting in memory", type(exc).__name__
        )


def attempt(
    identities: Mapping[str, str], *, code: str = "rate_limited", what: str = "attempts"
) -> None:
    """Count one attempt against every rule named in ``identities`` (rule name -> identity);
    raise 429 ``Throttled`` with the wait, counting nothing, if any of them is exhausted."""
    keys = [(_identity_key(rule(name), ident), rule(name)) for name, ident in identities.items()]
    now = time.monotonic()
    wait = max((_refused.get(key, 0.0) - now for key, _ in keys), default=0.0)
    if wait <= 0:
        try:
            script, conn = _script("attempt", _ATTEMPT_LUA)
            args: list[int] = []
            for _, limit_rule in keys:
                args += [limit_rule.limit, limit_rule.window * 1000]
            answer = script(keys=[key for key, _ in keys], args=args, client=conn)
        except REDIS_ERRORS as exc:
            _redis_failed(exc)
            wait = memory.attempt(keys, now=now)
        else:
            waits = [int(ms) / 1000 for ms in answer] if isinstance(answer, list) else []
            _remember_refusals([key for key, _ in keys], waits, now=now)
            wait = max(waits, default=0.0)
    if wait > 0:
        raise Throttled(
            429, code, f"too many {what}; try again in {math.ceil(wait)} s", retry_after=wait
        )


def _remember_refusals(keys: Sequence[str], waits: Sequence[float], *, now: float) -> None:
    if len(_refused) >= MEMORY_MAX_KEYS:
        expired = [key for key, until in list(_refused.items()) if until <= now]
        for key in expired:
            _refused.pop(key, None)
        if len(_refused) >= MEMORY_MAX_KEYS:
            _refused.clear()
    for key, wait in zip(keys, waits, strict=False):
        if wait > 0:
            _refused[key] = now + wait


def forget_refusals() -> None:
    """Tests: forget what Redis refused (each test starts with an empty Redis)."""
    _refused.clear()
    memory.clear()


def refused_for(name: str, identity: str) -> float:
    """Seconds left on this process's memory of Redis refusing ``identity`` under rule
    ``name``; 0 when it has none."""
    until = _refused.get(_identity_key(rule(name), identity), 0.0)
    return max(0.0, until - time.monotonic())


def refund(identities: Mapping[str, str]) -> None:
    """Take back the attempt :func:`attempt` counted for each rule named in ``identities``."""
    keys = [_identity_key(rule(name), ident) for name, ident in identities.items()]
    try:
        script, conn = _script("refund", _REFUND_LUA)
        script(keys=keys, args=[], client=conn)
    except REDIS_ERRORS as exc:
        _redis_failed(exc)
    # The attempt may have been counted here while Redis was away.
    memory.refund(keys)


class NotRefused(logging.Filter):
    """Drops Django's per-request warning for a refusal by a limit (429, 413): under a flood
    it would be a log line per attempt. /metrics counts them by route and status."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) not in (413, 429)


# --- slots for expensive work -------------------------------------------------------------


class Slots:
    """At most ``running`` holders at once in this process, and at most ``waiting`` more
    queued for a turn; anyone past that is refused at once. Each waiter holds a server thread
    (granian runs 4 per worker), so the queue is short on purpose: a burst of expensive
    requests must leave threads free for everything else."""

    def __init__(self, *, running: int, waiting: int) -> None:
        self._turns = threading.BoundedSemaphore(running)
        self._admitted = 0
        self._capacity = running + waiting
        self._lock = threading.Lock()

    def full(self) -> bool:
        """Whether a newcomer would be refused right now (a cheap look, no reservation)."""
        return self._admitted >= self._capacity

    @contextlib.contextmanager
    def hold(self, *, timeout: float, refused: Throttled) -> Iterator[None]:
        with self._lock:
            if self._admitted >= self._capacity:
                raise refused
            self._admitted += 1
        try:
            if not self._turns.acquire(timeout=timeout):
                raise refused
            try:
                yield
            finally:
                self._turns.release()
        finally:
            with self._lock:
                self._admitted -= 1


@functools.cache
def _slots(name: str, running: int, waiting: int) -> Slots:
    return Slots(running=running, waiting=waiting)


def _password_slots() -> Slots:
    return _slots("password", settings.PASSWORD_HASH_SLOTS, settings.PASSWORD_HASH_QUEUE)


def _busy() -> Throttled:
    return Throttled(
        503, "busy", "the server is checking as many passwords as it can; try again", retry_after=1
    )


def password_slots_full() -> None:
    """503 ``busy`` at once, before anything is counted, when no password slot is free."""
    if _password_slots().full():
        raise _busy()


def password_slot() -> contextlib.AbstractContextManager[None]:
    """Around one password hash (login, signup): ``PASSWORD_HASH_SLOTS`` at once per process,
    ``PASSWORD_HASH_QUEUE`` more waiting up to ``PASSWORD_HASH_WAIT`` seconds; beyond that,
    503 ``busy`` with Retry-After. A hash is about a second of CPU; unbounded, a burst of
    logins took every thread of a worker, and requests of every other kind queued behind."""
    return _password_slots().hold(timeout=settings.PASSWORD_HASH_WAIT, refused=_busy())


# --- the client's address -----------------------------------------------------------------


def client_ip(request: HttpRequest) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address: ``REMOTE_ADDR``, or with ``TRUSTED_PROXY_HOPS`` = n > 0 the n-th
    address from the right of ``X-Forwarded-For`` (the one our first proxy saw). None when
    neither parses."""
    return _client_ip(request.META)


def _client_ip(
    meta: Mapping[str, Any],
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    raw = str(meta.get("REMOTE_ADDR", ""))
    hops: int = settings.TRUSTED_PROXY_HOPS
    if hops > 0:
        chain = [part.strip() for part in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
        chain = [part for part in chain if part]
        if chain:
            # A client can prepend anything; only the entries our own proxies appended count.
            raw = chain[-hops] if len(chain) >= hops else chain[0]
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The address a per-address limit counts: IPv4 as is, IPv6 by its /64 (one subscriber
    usually holds a whole /64 and could rotate through it)."""
    return _address_of(client_ip(request))


def _address_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str:
    if ip is None:
        return "unknown"
    if ip.version == 6:
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# --- refusing a known flood before Django runs --------------------------------------------

LOGIN_PATH = "/api/auth/login"
# A login body is a username and a password; anything longer goes the whole way.
EARLY_BODY_MAX = 4096


def early_refusal(
    environ: dict[str, Any], *, normalize_username: Callable[[str], str]
) -> tuple[str, float, bytes] | None:
    """For a WSGI login request that would be refused anyway, the refusal, made before the
    middleware stack and any Redis round trip (a flood of guesses then costs a fraction of a
    refusal in the view): 503 ``busy`` while this process's password slots are all taken, 429
    for an address or (normalised) account this process already saw Redis refuse, in a window
    that has not ended. The status line, the seconds to wait and the JSON body; None for
    everything else, which is checked in full later. Reading the account means reading the
    body: it is put back for Django."""
    if environ.get("PATH_INFO") != LOGIN_PATH or environ.get("REQUEST_METHOD") != "POST":
        return None
    if _password_slots().full():
        return "503 Service Unavailable", 1.0, _error_body(_busy())
    if not _refused:
        return None
    wait = refused_for("login.address", _address_of(_client_ip(environ)))
    if wait <= 0:
        wait = _refused_account(environ, normalize_username)
    if wait <= 0:
        return None
    message = f"too many login attempts; try again in {math.ceil(wait)} s"
    refusal = Throttled(429, "too_many_attempts", message, retry_after=wait)
    return "429 Too Many Requests", wait, _error_body(refusal)


def _error_body(error: ApiError) -> bytes:
    return json.dumps({"error": {"code": error.code, "message": error.message}}).encode()


def _refused_account(environ: dict[str, Any], normalize_username: Callable[[str], str]) -> float:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0.0
    if not 0 < length <= EARLY_BODY_MAX:
        return 0.0
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        username = json.loads(body)["username"]
        if not isinstance(username, str):
            return 0.0
        return refused_for("login.account", normalize_username(username))
    except (ValueError, KeyError, TypeError):
        return 0.0
