"""The session engine: Django's cached_db store, whose cache read also fetches the user's row.

PostgreSQL holds every session; Redis holds a copy. So sign-in survives a Redis outage: while
the breaker is open (app/core/degrade.py) sessions are read from and written to PostgreSQL
only, and a copy that a write could not drop is dropped by the outbox once Redis is back.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.cache import caches

from app.accounts import usercache
from app.core import degrade, outbox


class SessionStore(CachedDBStore):
    """Loads lazily, as Django's does (a request that never reads its session pays nothing),
    but in one Redis round trip with the signed-in user's cached row (usercache)."""

    def load(self) -> dict[str, Any]:
        if not degrade.redis_up():
            return DBStore.load(self)
        cache: Any = self._cache  # type: ignore[attr-defined]
        try:
            raw = usercache.session_with_user(cache.make_key(self.cache_key))
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
            return DBStore.load(self)
        if raw is not None:
            try:
                data: dict[str, Any] = cache.client.decode(raw)
            except ValueError:
                # Not JSON (cached before sessions were): reloaded from the database below.
                pass
            else:
                return data
        try:
            return super().load()
        except degrade.REDIS_ERRORS as exc:
            # The database read worked; only caching it failed.
            degrade.redis_failed(exc)
            return self._session_cache if hasattr(self, "_session_cache") else {}

    def exists(self, session_key: str) -> bool:
        if degrade.redis_up():
            try:
                return super().exists(session_key)
            except degrade.REDIS_ERRORS as exc:
                degrade.redis_failed(exc)
        return DBStore.exists(self, session_key)

    def save(self, must_create: bool = False) -> None:
        DBStore.save(self, must_create)
        cache: Any = self._cache  # type: ignore[attr-defined]
        if degrade.redis_up():
            try:
                session = self._session  # type: ignore[attr-defined]
                cache.set(self.cache_key, session, self.get_expiry_age())
                return
            except degrade.REDIS_ERRORS as exc:
                degrade.redis_failed(exc)
        # A copy cached before the outage would shadow this write once Redis is back.
        outbox.run("sessions.drop", cache_key=self.cache_key)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        DBStore.delete(self, session_key)
        if key is None:
            return
        # Signed out during an outage: the cached copy must not sign anyone in afterwards.
        outbox.run("sessions.drop", cache_key=self.cache_key_prefix + key)


@outbox.effect("sessions.drop")
def _drop(*, cache_key: str) -> None:
    caches[settings.SESSION_CACHE_ALIAS].delete(cache_key)
