"""The app's hot reads of likes and messages, run against the plain table (``<table>_old``
after the swap) and its hash-partitioned twin: the same rows from both, the timings, and
how many partitions each plan keeps (partition pruning) and actually scans.

The statements are the ones the selectors, strategies and services send (see each entry's
``source``), written over a ``{likes}`` or ``{messages}`` placeholder.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class HotQuery:
    name: str
    table: str  # "likes" or "messages"
    source: str
    text: str
    # "plan": one partition left after planning; "run": one partition scanned per outer row
    # (pruned at execution, in a correlated subquery or a nested loop); "none": every one.
    pruning: str


QUERIES = (
    HotQuery(
        "viewer_flags", "likes", "posts/selectors.py viewer_flags, post_queryset",
        "SELECT p.id, EXISTS (SELECT 1 FROM {likes} l WHERE l.post_id = p.id "
        "AND l.user_id = %(viewer)s) FROM public.posts_post p WHERE p.id = ANY(%(page)s) "
        "ORDER BY p.id",
        "plan",
    ),
    HotQuery(
        "like_toggle", "likes", "posts/services.py like_set (the DELETE's and ON CONFLICT's row)",
        "SELECT id FROM {likes} WHERE user_id = %(viewer)s AND post_id = %(liked)s",
        "plan",
    ),
    HotQuery(
        "not_liked", "likes", "recs/selectors.py allowed_posts",
        "SELECT c.id FROM unnest(%(page)s::bigint[]) AS c(id) WHERE NOT EXISTS "
        "(SELECT 1 FROM {likes} l WHERE l.user_id = %(viewer)s AND l.post_id = c.id) "
        "ORDER BY c.id",
        "plan",
    ),
    HotQuery(
        "user_recent_likes", "likes", "recs/data.py one user's newest signals",
        "SELECT post_id, created_at FROM {likes} WHERE user_id = %(viewer)s "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        "plan",
    ),
    HotQuery(
        "post_likers", "likes", "like_post_recent: likers of a post; post delete's cascade",
        "SELECT user_id FROM {likes} WHERE post_id = %(post)s "
        "ORDER BY created_at DESC, user_id DESC LIMIT 20",
        "none",
    ),
    HotQuery(
        "history", "messages", "chat/selectors.py room history (keyset on id)",
        "SELECT id, sender_id, text FROM {messages} WHERE room_id = %(room)s "
        "AND id < %(below)s ORDER BY id DESC LIMIT 31",
        "plan",
    ),
    HotQuery(
        "replay", "messages", "chat sync replay (id > since)",
        "SELECT id FROM {messages} WHERE room_id = %(room)s AND id > %(since)s ORDER BY id",
        "plan",
    ),
    HotQuery(
        "inbox_unread", "messages", "chat/strategies.py optimized inbox: unread per membership",
        "SELECT m.room_id, (SELECT count(*) FROM {messages} x WHERE x.room_id = m.room_id "
        "AND x.id > m.last_read_message_id AND x.sender_id <> %(member)s) "
        "FROM public.chat_membership m WHERE m.user_id = %(member)s ORDER BY m.room_id",
        "run",
    ),
    HotQuery(
        "inbox_last_by_id", "messages", "inbox's room.last_message join, as the app writes it",
        "SELECT r.id, x.id, x.text FROM {rooms} r JOIN {messages} x ON x.id = r.last_message_id "
        "WHERE r.id IN (SELECT room_id FROM public.chat_membership WHERE user_id = %(member)s) "
        "ORDER BY r.id",
        "none",
    ),
    HotQuery(
        "inbox_last_by_room", "messages", "the same join with the key added (the rewrite)",
        "SELECT r.id, x.id, x.text FROM {rooms} r JOIN {messages} x ON x.room_id = r.id "
        "AND x.id = r.last_message_id WHERE r.id IN (SELECT room_id FROM "
        "public.chat_membership WHERE user_id = %(member)s) ORDER BY r.id",
        "run",
    ),
    HotQuery(
        "resend_in_room", "messages", "chat/services.py idempotent resend, per room",
        "SELECT id FROM {messages} WHERE room_id = %(room)s AND sender_id = %(sender)s "
        "AND client_id = %(client)s",
        "plan",
    ),
    HotQuery(
        "resend_any_room", "messages", "chat/services.py _message_by_client_id (409 check)",
        "SELECT id, room_id FROM {messages} WHERE sender_id = %(sender)s "
        "AND client_id = %(client)s",
        "none",
    ),
)  # fmt: skip


def _fetch(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL(query), params)
        return list(cursor.fetchall())


def parameters(conn: psycopg.Connection, *, schema: str) -> dict[str, Any]:
    """Busy keys, so the reads have rows to find: the heaviest liker and the most liked
    post, the busiest room and one of its messages, the member of the most rooms."""
    likes, messages = f"{schema}.posts_like", f"{schema}.chat_message"
    viewer, liked = _fetch(conn, f"SELECT user_id, min(post_id) FROM {likes} GROUP BY 1 "
                           "ORDER BY count(*) DESC, 1 LIMIT 1", {})[0]  # fmt: skip
    mine = [r[0] for r in _fetch(conn, f"SELECT post_id FROM {likes} WHERE user_id = %(v)s "
                                 "ORDER BY post_id LIMIT 6", {"v": viewer})]  # fmt: skip
    newest = [r[0] for r in _fetch(conn, "SELECT id FROM public.posts_post "
                                   "ORDER BY created_at DESC, id DESC LIMIT 6", {})]  # fmt: skip
    (post,) = _fetch(conn, f"SELECT post_id FROM {likes} GROUP BY 1 "
                     "ORDER BY count(*) DESC, 1 LIMIT 1", {})[0]  # fmt: skip
    room, below, since = _fetch(conn, f"SELECT room_id, percentile_disc(0.5) WITHIN GROUP "
                                f"(ORDER BY id), percentile_disc(0.9) WITHIN GROUP (ORDER BY id) "
                                f"FROM {messages} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
                                {})[0]  # fmt: skip
    sender, client = _fetch(conn, f"SELECT sender_id, client_id FROM {messages} "
                            "WHERE id = %(id)s", {"id": below})[0]  # fmt: skip
    (member,) = _fetch(conn, "SELECT user_id FROM public.chat_membership GROUP BY 1 "
                       "ORDER BY count(*) DESC, 1 LIMIT 1", {})[0]  # fmt: skip
    return {
        "viewer": viewer, "liked": liked, "page": sorted({*mine, *newest}), "post": post,
        "room": room, "below": below, "since": since, "sender": sender, "client": client,
        "member": member,
    }  # fmt: skip


def _statement(query: HotQuery, *, schema: str, table: str) -> str:
    target = f"{schema}.{table}"
    return query.text.format(likes=target, messages=target, rooms=f"{schema}.chat_room")


def _walk(node: dict[str, Any], table: str, found: dict[str, int]) -> None:
    relation = str(node.get("Relation Name", ""))
    if relation.startswith(f"{table}_p") and relation[len(table) + 2 :].isdigit():
        found[relation] = found.get(relation, 0) + int(node.get("Actual Loops", 0))
    for child in node.get("Plans", []):
        _walk(child, table, found)


def partition_scans(
    conn: psycopg.Connection, statement: str, params: dict[str, Any], *, table: str
) -> dict[str, int]:
    """Partition name -> times scanned, for every partition the executed plan still holds."""
    rows = _fetch(conn, f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF, FORMAT JSON) {statement}",
                  params)  # fmt: skip
    found: dict[str, int] = {}
    _walk(rows[0][0][0]["Plan"], table, found)
    return found


def explain_text(conn: psycopg.Connection, statement: str, params: dict[str, Any]) -> str:
    rows = _fetch(conn, f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {statement}",
                  params)  # fmt: skip
    return "\n".join(str(row[0]) for row in rows)


def _timed(conn: psycopg.Connection, statement: str, params: dict[str, Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        _fetch(conn, statement, params)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def compare(
    conn: psycopg.Connection, *, schema: str, params: dict[str, Any], runs: int = 15
) -> list[dict[str, Any]]:
    """Each hot query on the plain table and on the partitioned one: equal rows, timings,
    the partitions left in the plan and the scans each made."""
    out = []
    for query in QUERIES:
        table = "posts_like" if query.table == "likes" else "chat_message"
        plain = _statement(query, schema=schema, table=f"{table}_old")
        split = _statement(query, schema=schema, table=table)
        before, after = _fetch(conn, plain, params), _fetch(conn, split, params)
        scans = partition_scans(conn, split, params, table=table)
        out.append({
            "name": query.name, "source": query.source, "pruning": query.pruning,
            "rows": len(after), "identical": before == after,
            "plain_ms": _timed(conn, plain, params, runs),
            "partitioned_ms": _timed(conn, split, params, runs),
            "partitions_in_plan": len(scans),
            "partitions_scanned": sum(1 for loops in scans.values() if loops),
            "partition_scans": sum(scans.values()),
            "plan_plain": explain_text(conn, plain, params),
            "plan_partitioned": explain_text(conn, split, params),
        })  # fmt: skip
    return out
