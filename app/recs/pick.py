"""Recommendation filtering inside Redis: one script call picks a page's posts from a window of
ranked candidates.

Filtering in Python read every candidate's body over the wire (15 bodies for 4 picks),
decoded them and sent a second pipeline for the viewer's state: a third of a warm home-feed
page's CPU (docs/experiments/hotpaths.md). The script applies the same rules as
``selectors.allowed_posts`` (not gone, not the viewer's own, not by a private account, not
by anyone the viewer follows, not liked) to the cached state, in rank order, and returns
only the picked bodies. What Redis cannot decide it names instead, and the caller fills it
from SQL and calls again: bodies not cached, flags not known, a following set not built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.lab import stats
from app.posts.fragments import PostJSON, fragment_decode

# KEYS: the viewer's following set, flags hash, the privacy overrides hash.
# ARGV: viewer id, the fragment key prefix (a post id completes it), how many to pick,
# the following set's completeness marker, then the candidate post ids in rank order.
# Reply: {1} when the following set is not complete; {2, nmissing, ids..., nunknown, ids...}
# when bodies or flags must be loaded first; else {0, id1, saved1, body1, id2, ...}.
_PICK = """
local following, flags, privacy = KEYS[1], KEYS[2], KEYS[3]
local viewer, prefix, want = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('SISMEMBER', following, ARGV[4]) == 0 then
  return {1}
end
local missing, unknown, picked = {}, {}, {0}
local taken = 0
for i = 5, #ARGV do
  if taken >= want then break end
  local id = ARGV[i]
  local body = redis.call('GET', prefix .. id)
  -- Absent, or not in this layout (a 17-byte header, then "{"): loaded again from SQL.
  if not body or (#body > 0 and string.byte(body, 18) ~= 123) then
    missing[#missing + 1] = id
  elseif #body > 0 then
    local author = 0
    for k = 1, 8 do author = author * 256 + string.byte(body, k) end
    author = string.format('%d', author)
    local private = string.byte(body, 17) == 1
    local override = redis.call('HGET', privacy, author)
    if override then private = override == '1' end
    if not private and author ~= viewer and redis.call('SISMEMBER', following, author) == 0 then
      local liked = redis.call('HGET', flags, 'l' .. id)
      local saved = redis.call('HGET', flags, 's' .. id)
      if not liked or not saved then
        unknown[#unknown + 1] = id
      elseif liked == '0' and #missing == 0 and #unknown == 0 then
        picked[#picked + 1] = id
        picked[#picked + 1] = saved
        picked[#picked + 1] = body
        taken = taken + 1
      end
    end
  end
end
if #missing > 0 or #unknown > 0 then
  local reply = {2, #missing}
  for _, id in ipairs(missing) do reply[#reply + 1] = id end
  reply[#reply + 1] = #unknown
  for _, id in ipairs(unknown) do reply[#reply + 1] = id end
  return reply
end
return picked
"""
_scripts: dict[int, Any] = {}


@dataclass
class Picked:
    """What one call decided: the picked posts, or what must be loaded before it can."""

    incomplete: bool = False
    missing: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    posts: list[PostJSON] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return not (self.incomplete or self.missing or self.unknown)


def pick(
    conn: Any,
    *,
    keys: tuple[str, str, str],
    viewer_id: int,
    fragment_prefix: str,
    complete_marker: str,
    post_ids: Sequence[int],
    want: int,
) -> Picked:
    """The first ``want`` recommendable posts among ``post_ids`` (in order), each with the
    viewer's saved flag; ``keys`` are the following set, flags hash and privacy hash."""
    script = _scripts.get(id(conn))
    if script is None:
        script = _scripts[id(conn)] = conn.register_script(_PICK)
    args = [viewer_id, fragment_prefix, want, complete_marker, *post_ids]
    reply = script(keys=list(keys), args=args)
    if reply[0] == 1:
        return Picked(incomplete=True)
    if reply[0] == 2:
        missing_count = int(reply[1])
        missing = [int(post_id) for post_id in reply[2 : 2 + missing_count]]
        unknown = [int(post_id) for post_id in reply[3 + missing_count :]]
        return Picked(missing=missing, unknown=unknown)
    posts = [
        fragment_decode(int(reply[i]), reply[i + 2]).viewed(liked=False, saved=reply[i + 1] == b"1")
        for i in range(1, len(reply), 3)
    ]
    stats.cache_count(hits=len(posts))
    return Picked(posts=posts)
