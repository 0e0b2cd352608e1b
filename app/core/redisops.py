"""Redis operations more than one app needs: releasing a lock only its holder may release,
and deleting every key of a pattern without blocking the server."""

from __future__ import annotations

from typing import Any

# KEYS[1] the lock, ARGV[1] the holder's token: delete the lock only if it still holds that
# token (it may have expired and been taken by someone else meanwhile). Returns 1 or 0.
RELEASE_IF_HOLDER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def delete_matching(conn: Any, pattern: str, *, batch: int = 1000) -> int:
    """Delete every key matching ``pattern``, found with SCAN (never KEYS, which blocks the
    server) and deleted ``batch`` at a time; returns how many were deleted."""
    found: list[Any] = []
    deleted = 0
    for key in conn.scan_iter(match=pattern, count=max(batch, 1000)):
        found.append(key)
        if len(found) >= batch:
            deleted += conn.delete(*found)
            found = []
    if found:
        deleted += conn.delete(*found)
    return int(deleted)
