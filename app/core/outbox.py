"""Effects of a committed write on Redis (cache drops, fan-out jobs): never a 500, never lost.

A write registers its effects by name inside its transaction with :func:`after_commit`. On
commit each one runs at once, as before; if Redis is down (or refuses writes), the effect is
stored in the outbox table instead (one INSERT) and the request still succeeds, since its
write is committed. The breaker (app/core/degrade.py) replays the outbox with :func:`drain`
before a process uses Redis again, so no cache outlives a write it missed.

Effects must be idempotent (a replay may follow a partial run) and take JSON-able keyword
arguments. A rolled-back write registers nothing: on_commit callbacks are dropped with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction

from app.core import degrade, redisroles
from app.core.keys import raw_key
from app.core.models import DeferredEffect

logger = logging.getLogger(__name__)

Effect = Callable[..., None]
_REGISTRY: dict[str, Effect] = {}
DRAIN_BATCH = 500


def effect(name: str) -> Callable[[Effect], Effect]:
    """Register ``function`` under ``name``; the name is what the outbox stores."""

    def register(function: Effect) -> Effect:
        if _REGISTRY.get(name, function) is not function:
            raise ValueError(f"effect {name!r} is registered twice")
        _REGISTRY[name] = function
        return function

    return register


def run(name: str, **kwargs: Any) -> None:
    """Run an effect now, or defer it if Redis cannot take it."""
    function = _REGISTRY[name]
    if degrade.redis_up():
        try:
            function(**kwargs)
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
        else:
            return
    _defer(name, kwargs)


def after_commit(name: str, **kwargs: Any) -> None:
    """Run the effect once the current transaction commits (at once in autocommit)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown effect {name!r}")
    transaction.on_commit(partial(run, name, **kwargs))


def _defer(name: str, kwargs: dict[str, Any]) -> None:
    try:
        DeferredEffect.objects.create(effect=name, kwargs=kwargs)
    except degrade.DB_ERRORS:
        # Both stores down between the commit and here: nothing left to write it to.
        logger.exception("effect %s(%s) lost: neither Redis nor PostgreSQL took it", name, kwargs)
    else:
        logger.warning("effect %s deferred until Redis is back", name)


def pending() -> int:
    return DeferredEffect.objects.count()


def drain(*, batch: int = DRAIN_BATCH) -> int:
    """Replay deferred effects, oldest first; returns how many ran. A Redis error rolls the
    batch back (every effect is idempotent) and propagates to the caller (the breaker)."""
    done = 0
    while True:
        with transaction.atomic():
            rows = list(DeferredEffect.objects.select_for_update(skip_locked=True)[:batch])
            ran = []
            for row in rows:
                function = _REGISTRY.get(row.effect)
                if function is None:
                    # Registered by a module this process has not imported (yet): left for a
                    # process that has, never dropped.
                    logger.error("deferred effect %s is not registered here", row.effect)
                    continue
                function(**row.kwargs)
                ran.append(row.pk)
            DeferredEffect.objects.filter(pk__in=ran).delete()
        done += len(ran)
        if len(rows) < batch or not ran:
            if done:
                logger.warning("replayed %d deferred effects", done)
            return done


def recover() -> None:
    """The breaker's half-open step: a write to each role's server proves Redis is back (a
    read-only replica fails it too), then the outbox is replayed. Either raising keeps the
    breaker open."""
    for server in redisroles.servers():
        redisroles.connection_at(server).set(raw_key("core", "probe"), 1, px=1000)
    drain()
