"""EXPLAIN every indexed search statement: no sequential scan on the large tables.

A planner only prefers an index when the table is big enough and its statistics say so; on
the handful of rows a normal test makes, a sequential scan is the right plan. So this module
loads a realistic shape first, server-side with ``INSERT ... SELECT generate_series`` (no
Python loop; a few seconds): 20k users, 20k hashtags, 10k places (the
`medium` counts of those two) and 20k posts with Korean and
English captions, hashtags, places and images, 100k follows (the viewer follows private
accounts), documents built by the real triggers, then GIN pending lists flushed and ANALYZE
of every table the statements read.
Rows refer to each other by name, never by an id offset, and the follow table is never
empty: ids and dead pages left by earlier tests in the session must not change the plans.
It all happens inside the test's transaction and is rolled back with it. The same check on
the ``naive`` statements must find sequential scans, which proves the check can fail.
The typeahead is checked too; its naive form may legitimately walk the popularity index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from app.search.normalize import search_text_parse
from app.search.strategies import INDEXED, KINDS, NAIVE, search_sql, suggest_sql

LARGE = {"posts_post", "accounts_user", "posts_hashtag", "posts_place"}
# Everything the statements read, directly or through search_post_document().
ANALYZED = LARGE | {"posts_posthashtag", "posts_postimage", "accounts_follow"}
QUERIES = ["서울", "맛", "#맛집", "j", "jo", "john", "jonh", "kim minji", "cafe", "'&|!():*\\"]

LOAD = f"""
-- Row number i -> natural key, so rows find each other by name whatever ids the sequences
-- hand out after earlier tests.
CREATE FUNCTION pg_temp.lab_username(i int) RETURNS text IMMUTABLE LANGUAGE sql
RETURN (ARRAY['john','mary','kim','lee','park','choi','anna','minji','alex','jiwoo'])[1 + i % 10]
       || '_' || i;
CREATE FUNCTION pg_temp.lab_hashtag(i int) RETURNS text IMMUTABLE LANGUAGE sql
RETURN (ARRAY['맛집','여행','서울','food','travel','ootd','cafe','운동','jeju','ramen'])[1 + i % 10]
       || i;
CREATE FUNCTION pg_temp.lab_place(i int) RETURNS text IMMUTABLE LANGUAGE sql
RETURN (ARRAY['Seoul Forest','서울숲','Jeju Beach','Busan Harbor','Cafe Onion','남산'])[1 + i % 6]
       || ' ' || i;

INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined, name, bio, avatar, is_private, follower_count,
    following_count, post_count)
SELECT '!', false, pg_temp.lab_username(i), '', '', 'u' || i || '@example.com', false, true,
       now(), (ARRAY['John Kim','Mary Lee','김민지','이서준','Anna Park','박지우'])[1 + i % 6],
       '', '', i % 7 = 0, (i * 7919) % 5000, 5, 0
FROM generate_series(1, 20000) AS i;

-- Everyone follows five others; user 1 (the signed-in viewer) follows user 3990, private.
INSERT INTO accounts_follow (follower_id, followee_id, created_at)
SELECT a.id, b.id, now()
FROM generate_series(1, 20000) AS i CROSS JOIN generate_series(1, 5) AS k
JOIN accounts_user a ON a.username = pg_temp.lab_username(i)
JOIN accounts_user b ON b.username = pg_temp.lab_username(1 + (i + 997 * k) % 20000);

INSERT INTO posts_hashtag (name, post_count, created_at, last_used_at)
SELECT pg_temp.lab_hashtag(i), (i * 31) % 900, now(), now()
FROM generate_series(1, 20000) AS i;

INSERT INTO posts_place (name, address, latitude, longitude, post_count, created_at)
SELECT pg_temp.lab_place(i), '', 37.5, 127.0, (i * 13) % 300, now()
FROM generate_series(1, 10000) AS i;

-- The caption ends in the post's number i, which links it to hashtag i below.
INSERT INTO posts_post (author_id, caption, place_id, like_count, comment_count, created_at,
    updated_at)
SELECT u.id,
       (ARRAY['서울에서 맛집 탐방','Best ramen in town','제주 바다는 언제나 옳다','Leg day done',
              '오늘의 코디','Sunset from the hotel','집밥이 최고야','Brunch with the crew'])
         [1 + i % 8] || ' #' || (ARRAY['맛집','여행','서울','food','travel'])[1 + i % 5]
         || ' ' || i,
       pl.id, (i * 17) % 400, i % 30, now() - (i || ' minutes')::interval, now()
FROM generate_series(1, 20000) AS i
JOIN accounts_user u ON u.username = pg_temp.lab_username(1 + (i * 13) % 20000)
LEFT JOIN posts_place pl ON i % 3 = 0 AND pl.name = pg_temp.lab_place(1 + i % 10000);

INSERT INTO posts_posthashtag (post_id, hashtag_id, created_at)
SELECT p.id, h.id, p.created_at
FROM posts_post p
JOIN posts_hashtag h ON h.name = pg_temp.lab_hashtag(split_part(p.caption, ' ', -1)::int);

INSERT INTO posts_postimage (post_id, position, original, feed, thumb, width, height)
SELECT p.id, 0, 'o/' || p.id || '.jpg', 'f/' || p.id || '.jpg', 't/' || p.id || '.jpg',
       1080, 1350
FROM posts_post p;

-- Rows inserted after CREATE INDEX sit in GIN pending lists, which the planner costs as a
-- full read; a seed builds its indexes after the load and autovacuum flushes the lists, so
-- flush them here too.
SELECT gin_clean_pending_list(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'gin'
  AND i.indrelid::regclass::text IN ('accounts_user', 'posts_hashtag', 'posts_place', 'posts_post');

ANALYZE {", ".join(sorted(ANALYZED))};
"""


@pytest.fixture
def large_tables(db: None) -> Iterator[int]:
    """The load above; yields the signed-in viewer's id (user 1)."""
    with connection.cursor() as cursor:
        cursor.execute(LOAD)
        cursor.execute("SELECT id FROM accounts_user WHERE username = pg_temp.lab_username(1)")
        yield cursor.fetchone()[0]


def _plan(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        raw = cursor.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _seq_scans(plan: dict[str, Any]) -> set[str]:
    scanned = {
        node.get("Relation Name") for node in _nodes(plan) if node["Node Type"] == "Seq Scan"
    }
    return scanned & LARGE


def _statements(predicates, viewer_id):
    for q in QUERIES:
        query = search_text_parse(q)
        yield f"suggest {q}", *suggest_sql(predicates, query=query)
        for kind in KINDS:
            if kind == "posts" and query.ts_words is None:
                continue
            for after in (None, (1.0, 10**9)):
                sql, params = search_sql(
                    predicates, kind=kind, query=query, viewer_id=viewer_id, after=after, limit=21
                )
                yield f"{kind} {q} after={after}", sql, params


def test_it_never_scans_a_large_table_sequentially(large_tables):
    offenders, read = {}, set()
    for viewer_id in (None, large_tables):
        for label, sql, params in _statements(INDEXED, viewer_id):
            plan = _plan(sql, params)
            read |= {node["Relation Name"] for node in _nodes(plan) if "Relation Name" in node}
            scans = _seq_scans(plan)
            if scans:
                offenders[f"{label} viewer={viewer_id}"] = scans
    assert offenders == {}
    # Plans rest on the load's statistics only if the load analysed every table they read.
    assert read <= ANALYZED
    # The same check on the naive statements finds scans for every kind: it can fail.
    scanned = {
        label.split()[0]
        for label, sql, params in _statements(NAIVE, None)
        if _seq_scans(_plan(sql, params))
    }
    assert set(KINDS) <= scanned


def test_it_matches_inside_hashtag_and_place_names_through_their_trigram_indexes(large_tables):
    # `amen123` is inside #ramen1239 and a few more, `orest 12` inside `Seoul Forest 12..`:
    # no prefix index can serve them, the trigram GIN indexes of posts migration 0001 do
    # (bitmap scans). A common infix (`amen`, 2,000 tags) walks the popularity index instead
    # and stops at the limit, which the test above checks is no sequential scan either.
    for q, kind, index in [
        ("amen123", "hashtags", "hashtag_name_trgm"),
        ("orest 12", "places", "place_name_trgm"),
    ]:
        query = search_text_parse(q)
        suggest = _plan(*suggest_sql(INDEXED, query=query))
        sql, params = search_sql(
            INDEXED, kind=kind, query=query, viewer_id=None, after=None, limit=21
        )
        for plan in (suggest, _plan(sql, params)):
            used = {node.get("Index Name") for node in _nodes(plan)}
            assert index in used, (q, kind, used)
            assert not _seq_scans(plan)
