"""Redis by role: which server each kind of Redis traffic goes to (docs/scaling.md).

Four roles, each with its own URL in app/settings.py, all REDIS_URL unless set:

- ``cache``: the Django caches (alias "default", and the sessions) and the apps' own cached
  structures (feed timelines, inbox pages, user rows, view counts, suggestions);
- ``limits``: rate limits, chat's room locks and throttles, and presence (alias "limits",
  declared only when its server is not the cache's);
- ``queues``: RQ's job queues (``RQ_QUEUES``);
- the channel layer, on one or several servers (``CHANNEL_LAYERS``; app/core/realtime.py
  finds a group's server).

A role on the cache's server *is* the "default" alias: the same client, pool and pipelines,
so one server costs exactly the round trips it did before the roles existed. A
:class:`Batch` keeps that when one step writes for several roles: one pipeline per server.

One breaker (app/core/degrade.py) guards them all: an error from any role's server opens it,
and it closes again only once every server takes the probe write (app/core/outbox.py).
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import redis
from django.conf import settings
from django_redis import get_redis_connection

Role = Literal["cache", "limits", "queues"]

# Seconds, as the caches' SOCKET_CONNECT_TIMEOUT / SOCKET_TIMEOUT (app/settings.py).
SOCKET_TIMEOUT = 2

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def url(role: Role) -> str:
    """The URL of the role's server."""
    if role == "queues":
        return str(settings.RQ_QUEUES["default"]["URL"])
    return str(settings.CACHES[alias(role)]["LOCATION"])


def alias(role: Literal["cache", "limits"]) -> str:
    """The django-redis cache alias of a role: the cache's unless it has its own server."""
    return "limits" if role == "limits" and "limits" in settings.CACHES else "default"


def connection(role: Role) -> Any:
    """A client of the role's server (the cache's own client when they share one)."""
    if role == "queues":
        return connection_at(url("queues"))
    return get_redis_connection(alias(role))


def connection_at(server: str) -> Any:
    """A client of the server at ``server``: a role's client when a role lives there, else
    one client per URL for this process (a channel-layer shard's)."""
    for role in ("cache", "limits"):
        if url(role) == server:
            return get_redis_connection(alias(role))
    client = _clients.get(server)
    if client is None:
        with _lock:
            client = _clients.get(server)
            if client is None:
                client = redis.Redis.from_url(
                    server, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
                )
                _clients[server] = client
    return client


def servers() -> list[str]:
    """Each distinct server of the cache, limits and queues roles, the cache's first."""
    found: list[str] = []
    for role in ("cache", "limits", "queues"):
        server = url(role)
        if server not in found:
            found.append(server)
    return found


class Batch:
    """Commands for several roles, one pipeline per server: with one Redis, one round trip.

    Pipelines run in the order they were first asked for, each in the order of its commands,
    so what a caller queues first (a PUBLISH before the release of the lock that orders it)
    still reaches its server first.
    """

    def __init__(self) -> None:
        self._pipes: dict[str, Any] = {}
        self._replies: dict[str, list[Any]] = {}

    def pipe(self, role: Role) -> Any:
        """The pipeline of the role's server."""
        return self.pipe_at(url(role))

    def pipe_at(self, server: str) -> Any:
        """The pipeline of the server at ``server``."""
        pipe = self._pipes.get(server)
        if pipe is None:
            pipe = connection_at(server).pipeline(transaction=False)
            self._pipes[server] = pipe
        return pipe

    def execute(self) -> None:
        for server, pipe in self._pipes.items():
            self._replies[server] = pipe.execute() if len(pipe) else []

    def replies(self, role: Role, start: int = 0) -> list[Any]:
        """After :meth:`execute`: the replies of the role's server, from its ``start``th
        command (the length of ``pipe(role)`` before the caller queued its own)."""
        return self._replies[url(role)][start:]
