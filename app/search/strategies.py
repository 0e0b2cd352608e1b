"""Search strategies side by side: naive scans, indexed (the default) and cached.

All three run the same query shape and return the same rows; they differ only in how a row
is matched. Each kind is one statement:

1. candidates: the exact match (a unique lookup) plus the ``CANDIDATE_CAP`` most popular (or,
   for posts, most recent visible) matches, in an order an index can walk and stop early;
2. scored: relevance and popularity blended over those candidates only, never over the full
   match set (ranking or counting every match of a common word is what costs 40-600 ms);
3. a keyset page over (score, id) of the scored candidates.

Scores use absolute time (``epoch / tau``) instead of ``now() - t``: the order is the same as
an exponential decay, and a row's score does not drift between two pages of one search.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from django.core.cache import cache

from app.core import redisroles, replicas
from app.lab import stats
from app.lab.api import json_bytes
from app.lab.cache import raw_key
from app.lab.strategies import HotPath
from app.search.normalize import SearchText
from app.search.schemas import SuggestJSON, SuggestOut

Kind = Literal["users", "posts", "hashtags", "places"]
KINDS: tuple[Kind, ...] = ("users", "posts", "hashtags", "places")
Row = dict[str, Any]
# A typeahead item: a row of the suggest statement, or (from the cache) its rendered JSON.
Suggestion = Row | SuggestJSON
After = tuple[float, int] | None

CANDIDATE_CAP = 200
SUGGEST_LIMIT = 8
SEARCH_TTL = 30
SUGGEST_TTL = 60
# Kinds whose rows depend on who asks (follow boost, private authors); the others are
# cached once for everyone.
VIEWER_KINDS = frozenset({"users", "posts"})


# --- match predicates: the only thing the strategies disagree on ----------------------------

# Each predicate reads the named parameters text, prefix, infix and ts_words. `naive` spells
# them as Django's icontains/istartswith do (UPPER(x) LIKE UPPER(...)) and as function calls,
# which no index can serve; `indexed` uses the forms the indexes of migration 0002 answer.
# Both match the same rows: usernames and hashtags are stored lowercase and the query is too.
NAIVE: Mapping[str, str] = {
    "users_short": (
        "(UPPER(u.username::text) LIKE UPPER(%(prefix)s)"
        " OR UPPER(u.name::text) LIKE UPPER(%(prefix)s))"
    ),
    "users_long": (
        "(UPPER(u.username::text) LIKE UPPER(%(infix)s)"
        " OR UPPER(u.name::text) LIKE UPPER(%(infix)s)"
        " OR similarity(u.username, %(text)s)"
        " >= current_setting('pg_trgm.similarity_threshold')::float4)"
    ),
    "hashtags_short": "UPPER(h.name::text) LIKE UPPER(%(prefix)s)",
    "hashtags_long": "UPPER(h.name::text) LIKE UPPER(%(infix)s)",
    "places_short": "UPPER(pl.name::text) LIKE UPPER(%(prefix)s)",
    "places_long": "UPPER(pl.name::text) LIKE UPPER(%(infix)s)",
    # The document rebuilt from caption, place and tags for every row: the scan baseline.
    "document": "search_post_document(p.caption, p.place_id, p.id)",
}

INDEXED: Mapping[str, str] = {
    # btree varchar_pattern_ops on username, text_pattern_ops on lower(name).
    "users_short": "(u.username LIKE %(prefix)s OR lower(u.name) LIKE %(prefix)s)",
    # trigram GIN on username and on name; `%%` is pg_trgm's similarity operator.
    "users_long": (
        "(u.username LIKE %(infix)s OR u.name ILIKE %(infix)s OR u.username %% %(text)s)"
    ),
    "hashtags_short": "h.name LIKE %(prefix)s",
    "hashtags_long": "h.name LIKE %(infix)s",
    "places_short": "lower(pl.name) LIKE %(prefix)s",
    "places_long": "pl.name ILIKE %(infix)s",
    # The trigger-maintained column, with its GIN index.
    "document": "p.search_document",
}

# Candidates carry every column the page needs: joining them back to a small table invites a
# hash join over a sequential scan of it.
_COLUMNS = {
    "user_columns": "u.id, u.username, u.name, u.avatar, u.is_private, u.follower_count",
    # A hashtag's shown count is its public posts' (migration 0005): shared, so it counts
    # only what every viewer may see.
    "hashtag_columns": "h.id, h.name, h.public_post_count AS post_count, h.last_used_at",
    "place_columns": "pl.id, pl.name, pl.address, pl.post_count",
}
_AFTER = "WHERE (s.score < %(after_score)s OR (s.score = %(after_score)s AND s.id < %(after_id)s))"

# The posts' full-text query from the normalised words: each unaccented word quoted as a
# prefix lexeme (`'seoul':*`, so `서울:*` matches `서울에서`), all required. Quoting comes after
# unaccent, which maps some letters to tsquery syntax (U+02BC and other apostrophe-like
# modifier letters to `'`); quotes and backslashes are doubled inside the quotes, so no input
# is a syntax error. Every function here is immutable: the planner folds it to a constant.
TSQUERY = (
    "to_tsquery('simple', regexp_replace(regexp_replace(btrim(replace(replace("
    r"search_unaccent(%(ts_words)s), '\', '\\'), '''', '''''')), '\S+', '''\&'':*', 'g'),"
    r" '\s+', ' & ', 'g'))"
)

_FUZZY_THRESHOLD = "SELECT set_config('pg_trgm.similarity_threshold', %(fuzzy)s, true);\n"

_USERS = """
WITH candidates AS (
    (SELECT {user_columns} FROM accounts_user u WHERE u.username = %(text)s)
    UNION
    (SELECT {user_columns} FROM accounts_user u WHERE {match}
     ORDER BY u.follower_count DESC, u.id DESC LIMIT %(cap)s)
), scored AS (
    SELECT u.*, {follows} AS viewer_follows,
           (1000.0 * (u.username = %(text)s)::int
            + 100.0 * (u.username LIKE %(prefix)s OR lower(u.name) LIKE %(prefix)s)::int
            + 50.0 * ({follows})::int
            + 10.0 * similarity(u.username, %(text)s)
            + ln(1 + u.follower_count::float8))::float8 AS score
    FROM candidates u
)
SELECT * FROM scored s {after} ORDER BY s.score DESC, s.id DESC LIMIT %(limit)s
"""

# Hashtags and places match inside the name from three characters on (`park` finds
# `Central Park` and #skatepark), and prefix matches rank first: they are candidates of their
# own ({prefixed}, the popular prefix matches, for long queries) so that popular infix
# matches cannot crowd them out of the cap, and they score 100 more.
_HASHTAGS = """
WITH candidates AS (
    (SELECT {hashtag_columns} FROM posts_hashtag h
     WHERE h.name = %(text)s AND h.public_post_count > 0)
    UNION{prefixed}
    (SELECT {hashtag_columns} FROM posts_hashtag h WHERE {match} AND h.public_post_count > 0
     ORDER BY h.public_post_count DESC, h.id DESC LIMIT %(cap)s)
), scored AS (
    SELECT h.*,
           (1000000.0 * (h.name = %(text)s)::int
            + 100.0 * (h.name LIKE %(prefix)s)::int
            + ln(1 + h.post_count::float8)
            + coalesce(extract(epoch FROM h.last_used_at)::float8, 0) / 2592000.0)::float8
           AS score
    FROM candidates h
)
SELECT * FROM scored s {after} ORDER BY s.score DESC, s.id DESC LIMIT %(limit)s
"""

_HASHTAGS_PREFIXED = """
    (SELECT {hashtag_columns} FROM posts_hashtag h WHERE {prefix_match}
     AND h.public_post_count > 0 ORDER BY h.public_post_count DESC, h.id DESC LIMIT %(cap)s)
    UNION"""

_PLACES = """
WITH candidates AS (
    (SELECT {place_columns} FROM posts_place pl WHERE lower(pl.name) = %(text)s LIMIT %(cap)s)
    UNION{prefixed}
    (SELECT {place_columns} FROM posts_place pl WHERE {match}
     ORDER BY pl.post_count DESC, pl.id DESC LIMIT %(cap)s)
), scored AS (
    SELECT pl.*,
           (1000000.0 * (lower(pl.name) = %(text)s)::int
            + 100.0 * (lower(pl.name) LIKE %(prefix)s)::int
            + ln(1 + pl.post_count::float8))::float8
           AS score
    FROM candidates pl
)
SELECT * FROM scored s {after} ORDER BY s.score DESC, s.id DESC LIMIT %(limit)s
"""

_PLACES_PREFIXED = """
    (SELECT {place_columns} FROM posts_place pl WHERE {prefix_match}
     ORDER BY pl.post_count DESC, pl.id DESC LIMIT %(cap)s)
    UNION"""

# The author's visibility is one primary-key probe per match, in a lateral subquery that
# OFFSET 0 keeps from being flattened into a join. As a join, a few hundred matches were
# enough for the planner to hash every user instead, and the tipping point moved with the
# cost of the follow EXISTS. When the planner walks post_recent, probing stops at the cap.
_POSTS = """
WITH candidates AS (
    SELECT p.id FROM posts_post p
    CROSS JOIN LATERAL (
        SELECT 1 FROM accounts_user a WHERE a.id = p.author_id AND {visible} OFFSET 0
    ) AS author
    WHERE {document} @@ {tsquery}
    ORDER BY p.created_at DESC, p.id DESC LIMIT %(cap)s
), scored AS (
    SELECT p.id, p.caption, p.like_count, p.comment_count, p.created_at,
           a.id AS author_id, a.username AS author_username, a.name AS author_name,
           a.avatar AS author_avatar, a.is_private AS author_is_private,
           pl.id AS place_id, pl.name AS place_name,
           (SELECT i.thumb FROM posts_postimage i WHERE i.post_id = p.id
            ORDER BY i.position LIMIT 1) AS thumb,
           (10.0 * ts_rank({document}, {tsquery})
            + ln(1 + (p.like_count + 2 * p.comment_count)::float8)
            + extract(epoch FROM p.created_at)::float8 / 604800.0)::float8 AS score
    FROM candidates c
    JOIN posts_post p ON p.id = c.id
    JOIN accounts_user a ON a.id = p.author_id
    LEFT JOIN posts_place pl ON pl.id = p.place_id
)
SELECT * FROM scored s {after} ORDER BY s.score DESC, s.id DESC LIMIT %(limit)s
"""

# The typeahead, one UNION ALL branch per (kind, way of matching), each an index walk that
# stops at the limit: the exact name, the most popular prefix matches and, from three
# characters on, the most popular hashtags and places matching inside the name. `prefix`
# ranks prefix matches first (``_suggest_rank``).
_SUGGEST_USERS = """
(SELECT 'user' AS kind, u.id, u.username AS text, u.name AS detail, u.avatar AS image,
        u.follower_count AS popularity, (u.username = %(text)s) AS exact, true AS prefix
 FROM accounts_user u WHERE u.username = %(text)s)
UNION ALL
(SELECT 'user', u.id, u.username, u.name, u.avatar, u.follower_count,
        u.username = %(text)s, true
 FROM accounts_user u WHERE {users}
 ORDER BY u.follower_count DESC, u.id DESC LIMIT %(limit)s)"""

_SUGGEST_HASHTAGS = """
(SELECT 'hashtag' AS kind, h.id, h.name AS text, '' AS detail, '' AS image,
        h.public_post_count AS popularity, true AS exact, true AS prefix
 FROM posts_hashtag h WHERE h.name = %(text)s AND h.public_post_count > 0)
UNION ALL
(SELECT 'hashtag', h.id, h.name, '', '', h.public_post_count, h.name = %(text)s, true
 FROM posts_hashtag h WHERE {hashtags} AND h.public_post_count > 0
 ORDER BY h.public_post_count DESC, h.id DESC LIMIT %(limit)s)"""

_SUGGEST_HASHTAGS_INFIX = """
(SELECT 'hashtag', h.id, h.name, '', '', h.public_post_count, h.name = %(text)s,
        h.name LIKE %(prefix)s
 FROM posts_hashtag h WHERE {hashtags_infix} AND h.public_post_count > 0
 ORDER BY h.public_post_count DESC, h.id DESC LIMIT %(limit)s)"""

_SUGGEST_PLACES = """
(SELECT 'place' AS kind, pl.id, pl.name AS text, pl.address AS detail, '' AS image,
        pl.post_count AS popularity, true AS exact, true AS prefix
 FROM posts_place pl WHERE lower(pl.name) = %(text)s LIMIT %(limit)s)
UNION ALL
(SELECT 'place', pl.id, pl.name, pl.address, '', pl.post_count, lower(pl.name) = %(text)s, true
 FROM posts_place pl WHERE {places}
 ORDER BY pl.post_count DESC, pl.id DESC LIMIT %(limit)s)"""

_SUGGEST_PLACES_INFIX = """
(SELECT 'place', pl.id, pl.name, pl.address, '', pl.post_count, lower(pl.name) = %(text)s,
        lower(pl.name) LIKE %(prefix)s
 FROM posts_place pl WHERE {places_infix}
 ORDER BY pl.post_count DESC, pl.id DESC LIMIT %(limit)s)"""


def _follows(viewer_id: int | None) -> str:
    if viewer_id is None:
        return "false"
    return (
        "EXISTS (SELECT 1 FROM accounts_follow f"
        " WHERE f.follower_id = %(viewer)s AND f.followee_id = u.id)"
    )


def _visible(viewer_id: int | None) -> str:
    """Private accounts' posts only for the owner and their followers."""
    if viewer_id is None:
        return "NOT a.is_private"
    return (
        "(NOT a.is_private OR a.id = %(viewer)s OR EXISTS (SELECT 1 FROM accounts_follow f"
        " WHERE f.follower_id = %(viewer)s AND f.followee_id = a.id))"
    )


def _fetch(sql: str, params: Mapping[str, Any]) -> list[Row]:
    with replicas.reading().cursor() as cursor:
        cursor.execute(sql, params)
        # A statement may lead with a set_config() (the users' fuzzy threshold); the rows
        # are the last result.
        while cursor.nextset():
            pass
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _params(query: SearchText, **extra: Any) -> dict[str, Any]:
    return {
        "text": query.text,
        "prefix": query.like_prefix,
        "infix": query.like_infix,
        "ts_words": query.ts_words,
        "cap": CANDIDATE_CAP,
        **extra,
    }


def search_sql(
    predicates: Mapping[str, str],
    *,
    kind: Kind,
    query: SearchText,
    viewer_id: int | None,
    after: After,
    limit: int,
) -> tuple[str, dict[str, Any]]:
    """The one statement for ``kind`` with ``predicates`` filled in, and its parameters."""
    params = _params(query, viewer=viewer_id, limit=limit)
    where_after = ""
    if after is not None:
        where_after = _AFTER
        params.update(after_score=after[0], after_id=after[1])
    length = "short" if query.short else "long"
    if kind == "users":
        sql = _USERS.format(
            match=predicates[f"users_{length}"],
            follows=_follows(viewer_id),
            after=where_after,
            **_COLUMNS,
        )
        if not query.short:
            # `%%` reads pg_trgm.similarity_threshold. Set for this statement only: sent in
            # the same round trip, local to the implicit transaction the two statements share
            # (psycopg's client-side binding sends them as one simple query).
            sql = _FUZZY_THRESHOLD + sql
            params["fuzzy"] = str(query.fuzzy_threshold)
    elif kind in ("hashtags", "places"):
        template, prefixed = (
            (_HASHTAGS, _HASHTAGS_PREFIXED) if kind == "hashtags" else (_PLACES, _PLACES_PREFIXED)
        )
        sql = template.format(
            match=predicates[f"{kind}_{length}"],
            prefixed=(
                ""
                if query.short
                else prefixed.format(prefix_match=predicates[f"{kind}_short"], **_COLUMNS)
            ),
            after=where_after,
            **_COLUMNS,
        )
    else:
        sql = _POSTS.format(
            document=predicates["document"],
            visible=_visible(viewer_id),
            after=where_after,
            tsquery=TSQUERY,
        )
    return sql, params


def suggest_sql(predicates: Mapping[str, str], *, query: SearchText) -> tuple[str, dict[str, Any]]:
    """Typeahead: users, hashtags and places by prefix (from one character), hashtags and
    places inside the name too from three; only the kind a sigil names (`#sea`, `@al`)."""
    branches = []
    if query.scope in (None, "user"):
        branches.append(_SUGGEST_USERS)
    if query.scope in (None, "hashtag"):
        branches.append(_SUGGEST_HASHTAGS)
        if not query.short:
            branches.append(_SUGGEST_HASHTAGS_INFIX)
    if query.scope is None:
        branches.append(_SUGGEST_PLACES)
        if not query.short:
            branches.append(_SUGGEST_PLACES_INFIX)
    sql = "\nUNION ALL\n".join(branches).format(
        users=predicates["users_short"],
        hashtags=predicates["hashtags_short"],
        places=predicates["places_short"],
        hashtags_infix=predicates["hashtags_long"],
        places_infix=predicates["places_long"],
    )
    return sql, _params(query, limit=SUGGEST_LIMIT)


def _suggest_rank(rows: list[Row]) -> list[Row]:
    """Exact matches first, then prefix matches, each by popularity across kinds; the top
    ``SUGGEST_LIMIT``."""
    unique = {(row["kind"], row["id"]): row for row in rows}
    ranked = sorted(
        unique.values(),
        key=lambda row: (
            not row["exact"],
            not row["prefix"],
            -row["popularity"],
            row["kind"],
            row["id"],
        ),
    )
    return ranked[:SUGGEST_LIMIT]


class SearchStrategy(Protocol):
    def search(
        self, *, kind: Kind, query: SearchText, viewer_id: int | None, after: After, limit: int
    ) -> list[Row]:
        """Up to ``limit`` rows of ``kind`` after the (score, id) keyset ``after``."""

    def suggest(self, *, query: SearchText) -> Sequence[Suggestion]:
        """The typeahead's top ``SUGGEST_LIMIT`` across kinds."""


class SqlStrategy:
    """``naive`` or ``indexed``: the same statements, with that strategy's predicates."""

    def __init__(self, predicates: Mapping[str, str]) -> None:
        self.predicates = predicates

    def search(
        self, *, kind: Kind, query: SearchText, viewer_id: int | None, after: After, limit: int
    ) -> list[Row]:
        if kind == "posts" and query.ts_words is None:
            return []  # nothing but punctuation: no word to look for
        sql, params = search_sql(
            self.predicates,
            kind=kind,
            query=query,
            viewer_id=viewer_id,
            after=after,
            limit=limit,
        )
        return _fetch(sql, params)

    def suggest(self, *, query: SearchText) -> list[Row]:
        sql, params = suggest_sql(self.predicates, query=query)
        return _suggest_rank(_fetch(sql, params))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class CachedStrategy:
    """``indexed`` behind Redis with a short TTL: hot queries and typeahead prefixes.

    Staleness is bounded by the TTL (30 s for results, 60 s for typeahead); a new post or
    follow shows up in search within that, which is what a search box needs.
    """

    def __init__(self, backend: SqlStrategy) -> None:
        self.backend = backend

    def search(
        self, *, kind: Kind, query: SearchText, viewer_id: int | None, after: After, limit: int
    ) -> list[Row]:
        who = (viewer_id or 0) if kind in VIEWER_KINDS else 0
        where = "-" if after is None else f"{after[0]!r}:{after[1]}"
        key = f"search:v2:{kind}:{who}:{_digest(query.text)}:{where}:{limit}"
        rows: list[Row] | None = cache.get(key)
        if rows is None:
            rows = self.backend.search(
                kind=kind, query=query, viewer_id=viewer_id, after=after, limit=limit
            )
            cache.set(key, rows, SEARCH_TTL)
        return rows

    def suggest(self, *, query: SearchText) -> list[SuggestJSON]:
        """The items as the API sends them, one entry per normalised prefix for everyone.

        Stored as the items' JSON joined by newlines (orjson never writes one inside a
        value), so a hit is one GET and a split: no rows to unpickle, no schema to build.
        The GET skips the Django cache's layers (key versioning, pickle): they were a fifth
        of a warm typeahead's own CPU.
        """
        conn = redisroles.connection("cache")
        key = raw_key("search", "suggest", "v4", query.scope or "all", _digest(query.text))
        raw: bytes | None = conn.get(key)
        stats.cache_count(hits=int(raw is not None), misses=int(raw is None))
        if raw is None:
            rows = self.backend.suggest(query=query)
            raw = b"\n".join(json_bytes(SuggestOut.of(row)) for row in rows)
            conn.set(key, raw, ex=SUGGEST_TTL)
        return [SuggestJSON(item) for item in raw.split(b"\n")] if raw else []


_indexed = SqlStrategy(INDEXED)
# The default (the best one) first; the typeahead has its own (app/search/selectors.py).
STRATEGIES: Mapping[str, SearchStrategy] = {
    "indexed": _indexed,
    "cached": CachedStrategy(_indexed),
    "naive": SqlStrategy(NAIVE),
}
# The catalogue's entry (app/lab/strategies.py); without Redis, cached's SQL twin serves.
HOT_PATH = HotPath("search", STRATEGIES, without_redis={"cached": "indexed"})
