"""The session engine: Django's cached_db store, whose cache read also fetches the user's row."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

from app.accounts import usercache


class SessionStore(CachedDBStore):
    """Loads lazily, as Django's does (a request that never reads its session pays nothing),
    but in one Redis round trip with the signed-in user's cached row (usercache)."""

    def load(self) -> dict[str, Any]:
        cache: Any = self._cache  # type: ignore[attr-defined]
        raw = usercache.session_with_user(cache.make_key(self.cache_key))
        if raw is not None:
            try:
                data: dict[str, Any] = cache.client.decode(raw)
            except ValueError:
                # Not JSON (cached before sessions were): reloaded from the database below.
                pass
            else:
                return data
        return super().load()
