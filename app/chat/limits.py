"""Chat socket limits (frames per socket, syncs and sockets per user) and the refusals that
carry a retry time; Redis-backed where a limit spans processes, per process while Redis is
unreachable.

- **Frames per socket** (``CHAT_FRAME_RATE`` per second, bursts of ``CHAT_FRAME_BURST``): a
  socket lives in one process, so its bucket is a plain object on the consumer; no Redis.
- **Syncs per user** (``CHAT_SYNC_PER_MINUTE``, bursts of ``CHAT_SYNC_BURST``): a token bucket
  in Redis, the script the send path uses, shared by every socket of the user everywhere.
- **Sockets per user** (``CHAT_SOCKETS_PER_USER``): a sorted set of leases in Redis, one member
  per socket scored by its expiry. The consumer renews its lease while it is open and drops it
  on disconnect; a process that dies without disconnecting loses its sockets' slots when their
  leases run out (``SOCKET_LEASE_SECONDS``), so a crash never locks a user out for long.

While Redis is unreachable (an error, or this process's breaker in app/core/degrade.py is
open) the per-user limits fall back to this process's own buckets and lease table: the same
caps, enforced per process instead of across them.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from redis.commands.core import Script

from app.core import degrade, redisroles
from app.lab.api import ApiError
from app.lab.cache import raw_key

# A socket renews its lease every RENEW seconds; a lease not renewed for LEASE seconds (its
# process died) stops counting.
SOCKET_LEASE_SECONDS = 90.0
SOCKET_RENEW_SECONDS = 30.0
# What an ``unavailable`` refusal tells the client to wait before retrying.
UNAVAILABLE_RETRY_SECONDS = 1.0
# The fallback's tables are pruned past this many users (full buckets, expired leases).
LOCAL_PRUNE_AT = 10_000

# A token bucket: refill by elapsed time, take one token if there is one (``allowed``). The
# caller passes the time, so the script stays deterministic for replication.
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'v')
local last = tonumber(state[1])
local tokens = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = burst
  last = now
end
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(now), 'v', tostring(tokens))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
"""
# One token: returns {allowed, tokens left} (a string: Lua numbers reach Redis as integers).
_TAKE = TOKEN_BUCKET + "return {allowed, tostring(tokens)}\n"
# Admit a socket: drop expired leases, refuse at the cap unless this socket holds one already,
# else (re)take its lease. ARGV: now, socket, lease seconds, cap. Returns 1 when admitted.
_SOCKET_ADMIT = """
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[2])
    and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 1000))
return 1
"""


@cache
def script(source: str) -> Script:
    """A Lua script object, made once per process; calls pass the client (or a pipeline)."""
    return Script(None, source.encode())  # type: ignore[arg-type]


class RateLimited(ApiError):
    """A 429 ``rate_limited`` that says when to retry (seconds)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(429, "rate_limited", message)
        self.retry_after = retry_seconds(retry_after)


class Unavailable(ApiError):
    """A 503 ``unavailable``: a server the request needs (Redis) is unreachable; retry."""

    def __init__(self, message: str = "chat is briefly unavailable; retry shortly") -> None:
        super().__init__(503, "unavailable", message)
        self.retry_after = UNAVAILABLE_RETRY_SECONDS


def retry_seconds(seconds: float) -> float:
    """Rounded up to the next hundredth, and never 0 (a client would retry at once)."""
    return max(0.01, math.ceil(seconds * 100) / 100)


@dataclass
class TokenBucket:
    """An in-process token bucket (not thread-safe: one owner, or a caller's lock)."""

    rate: float
    burst: int
    tokens: float = math.nan
    at: float = 0.0

    def take(self, now: float) -> float:
        """0 when a token was taken; otherwise the seconds until the next one is due."""
        if math.isnan(self.tokens):
            self.tokens, self.at = float(self.burst), now
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        return math.isnan(self.tokens) or self.tokens + (now - self.at) * self.rate >= self.burst


def frame_bucket() -> TokenBucket:
    """A new socket's frame allowance: every frame takes a token, pings and bad frames too."""
    return TokenBucket(
        rate=float(settings.CHAT_FRAME_RATE),
        burst=int(settings.CHAT_FRAME_BURST),
    )


def frame_refusal(retry_after: float) -> RateLimited:
    rate = float(settings.CHAT_FRAME_RATE)
    return RateLimited(f"too many frames; at most {rate:g} a second", retry_after=retry_after)


# --- The fallback while Redis is unreachable -----------------------------------------------

_local_lock = threading.Lock()
_local_syncs: dict[int, TokenBucket] = {}
_local_sockets: dict[int, dict[str, float]] = {}


def _local_sync_take(*, user_id: int, rate: float, burst: int, now: float) -> float:
    with _local_lock:
        if len(_local_syncs) > LOCAL_PRUNE_AT:
            for uid in [uid for uid, b in _local_syncs.items() if b.full(now)]:
                del _local_syncs[uid]
        bucket = _local_syncs.setdefault(user_id, TokenBucket(rate=rate, burst=burst))
        return bucket.take(now)


def _local_socket_admit(*, user_id: int, socket: str, cap: int, now: float) -> bool:
    with _local_lock:
        if len(_local_sockets) > LOCAL_PRUNE_AT:
            for uid in [uid for uid, ls in _local_sockets.items() if max(ls.values()) < now]:
                del _local_sockets[uid]
        leases = _local_sockets.setdefault(user_id, {})
        for name in [name for name, expiry in leases.items() if expiry < now]:
            del leases[name]
        if socket not in leases and len(leases) >= cap:
            return False
        leases[socket] = now + SOCKET_LEASE_SECONDS
        return True


def _local_socket_release(*, user_id: int, socket: str) -> None:
    with _local_lock:
        leases = _local_sockets.get(user_id)
        if leases is not None:
            leases.pop(socket, None)
            if not leases:
                del _local_sockets[user_id]


def local_reset() -> None:
    """Forget the fallback's state (tests)."""
    with _local_lock:
        _local_syncs.clear()
        _local_sockets.clear()


# --- Per user, across processes ------------------------------------------------------------


def sync_admit(*, user_id: int) -> None:
    """Take one of the user's sync tokens; raises RateLimited when there is none."""
    rate = float(settings.CHAT_SYNC_PER_MINUTE) / 60
    burst = int(settings.CHAT_SYNC_BURST)
    now = time.time()
    wait = None
    if degrade.redis_up():
        try:
            allowed, tokens = script(_TAKE)(
                keys=[raw_key("chat", "sync-rate", user_id)],
                args=[rate, burst, f"{now:.6f}"],
                client=redisroles.connection("limits"),
            )
            wait = 0.0 if allowed else (1 - float(tokens)) / rate
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
    if wait is None:
        wait = _local_sync_take(user_id=user_id, rate=rate, burst=burst, now=now)
    if wait > 0:
        per_minute = rate * 60
        raise RateLimited(f"too many syncs; at most {per_minute:g} a minute", retry_after=wait)


def _sockets_key(user_id: int) -> str:
    return raw_key("chat", "sockets", user_id)


def socket_cap() -> int:
    return int(settings.CHAT_SOCKETS_PER_USER)


def socket_admit(*, user_id: int, socket: str) -> bool:
    """Take a lease for a new socket; False when the user already has the cap open."""
    now, cap = time.time(), socket_cap()
    if degrade.redis_up():
        try:
            admitted = script(_SOCKET_ADMIT)(
                keys=[_sockets_key(user_id)],
                args=[f"{now:.6f}", socket, SOCKET_LEASE_SECONDS, cap],
                client=redisroles.connection("limits"),
            )
            return bool(admitted)
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
    return _local_socket_admit(user_id=user_id, socket=socket, cap=cap, now=now)


def socket_renew(*, user_id: int, socket: str) -> None:
    """Extend an open socket's lease; it keeps its slot even if the cap filled meanwhile."""
    now = time.time()
    if degrade.redis_up():
        try:
            pipe = redisroles.connection("limits").pipeline(transaction=False)
            pipe.zadd(_sockets_key(user_id), {socket: now + SOCKET_LEASE_SECONDS})
            pipe.pexpire(_sockets_key(user_id), math.ceil(SOCKET_LEASE_SECONDS * 1000))
            pipe.execute()
            return
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
    with _local_lock:
        _local_sockets.setdefault(user_id, {})[socket] = now + SOCKET_LEASE_SECONDS


def socket_release(*, user_id: int, socket: str) -> None:
    """Give the socket's slot back (on disconnect)."""
    _local_socket_release(user_id=user_id, socket=socket)
    if not degrade.redis_up():
        return  # its Redis lease, if it has one, expires on its own
    try:
        redisroles.connection("limits").zrem(_sockets_key(user_id), socket)
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)
