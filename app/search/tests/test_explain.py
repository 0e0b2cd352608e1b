"""EXPLAIN every indexed search statement: no sequential scan on the large tables.

A planner only prefers an index when the table is big enough and its statistics say so; on
the handful of rows a normal test makes, a sequential scan is the right plan. So this module
loads a realistic shape first, server-side with ``INSERT ... SELECT generate_series`` (no
Python loop; about a second): 20k users, 20k hashtags, 10k places (the
`medium` counts of those two) and 20k posts with Korean and
English captions, hashtags and places, documents built by the real triggers, then GIN
pending lists flushed and ANALYZE.
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
QUERIES = ["서울", "맛", "#맛집", "j", "jo", "john", "jonh", "kim minji", "cafe", "'&|!():*\\"]

LOAD = """
INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined, name, bio, avatar, is_private, follower_count,
    following_count, post_count)
SELECT '!', false,
       (ARRAY['john','mary','kim','lee','park','choi','anna','minji','alex','jiwoo'])[1 + i % 10]
         || '_' || i,
       '', '', 'u' || i || '@example.com', false, true, now(),
       (ARRAY['John Kim','Mary Lee','김민지','이서준','Anna Park','박지우'])[1 + i % 6],
       '', '', i % 7 = 0, (i * 7919) % 5000, 0, 0
FROM generate_series(1, 20000) AS i;

INSERT INTO posts_hashtag (name, post_count, created_at, last_used_at)
SELECT (ARRAY['맛집','여행','서울','food','travel','ootd','cafe','운동','jeju','ramen'])[1 + i % 10]
         || i, (i * 31) % 900, now(), now()
FROM generate_series(1, 20000) AS i;

INSERT INTO posts_place (name, address, latitude, longitude, post_count, created_at)
SELECT (ARRAY['Seoul Forest','서울숲','Jeju Beach','Busan Harbor','Cafe Onion','남산'])[1 + i % 6]
         || ' ' || i, '', 37.5, 127.0, (i * 13) % 300, now()
FROM generate_series(1, 10000) AS i;

INSERT INTO posts_post (author_id, caption, place_id, like_count, comment_count, created_at,
    updated_at)
SELECT u.id + 0,
       (ARRAY['서울에서 맛집 탐방','Best ramen in town','제주 바다는 언제나 옳다','Leg day done',
              '오늘의 코디','Sunset from the hotel','집밥이 최고야','Brunch with the crew'])
         [1 + i % 8] || ' #' || (ARRAY['맛집','여행','서울','food','travel'])[1 + i % 5]
         || ' ' || i,
       CASE WHEN i % 3 = 0 THEN (SELECT min(id) FROM posts_place) + i % 10000 END,
       (i * 17) % 400, i % 30, now() - (i || ' minutes')::interval, now()
FROM generate_series(1, 20000) AS i
JOIN LATERAL (SELECT min(id) + (i * 13) % 20000 AS id FROM accounts_user) AS u ON true;

INSERT INTO posts_posthashtag (post_id, hashtag_id, created_at)
SELECT p.id, h.min + p.id % 20000, p.created_at
FROM posts_post p, (SELECT min(id) FROM posts_hashtag) AS h;

-- Rows inserted after CREATE INDEX sit in GIN pending lists, which the planner costs as a
-- full read; a seed builds its indexes after the load and autovacuum flushes the lists, so
-- flush them here too.
SELECT gin_clean_pending_list(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'gin'
  AND i.indrelid::regclass::text IN ('accounts_user', 'posts_hashtag', 'posts_place', 'posts_post');

ANALYZE accounts_user, posts_hashtag, posts_place, posts_post, posts_posthashtag,
        accounts_follow;
"""


@pytest.fixture
def large_tables(db: None) -> Iterator[int]:
    with connection.cursor() as cursor:
        cursor.execute(LOAD)
        cursor.execute("SELECT id FROM accounts_user ORDER BY id LIMIT 1")
        yield cursor.fetchone()[0]


def _plan(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        raw = cursor.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def _seq_scans(plan: dict[str, Any]) -> set[str]:
    found = set()
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in LARGE:
        found.add(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found |= _seq_scans(child)
    return found


def _statements(predicates, viewer_id):
    for q in QUERIES:
        query = search_text_parse(q)
        yield f"suggest {q}", *suggest_sql(predicates, query=query)
        for kind in KINDS:
            if kind == "posts" and query.tsquery is None:
                continue
            for after in (None, (1.0, 10**9)):
                sql, params = search_sql(
                    predicates, kind=kind, query=query, viewer_id=viewer_id, after=after, limit=21
                )
                yield f"{kind} {q} after={after}", sql, params


def test_it_never_scans_a_large_table_sequentially(large_tables):
    offenders = {}
    for viewer_id in (None, large_tables):
        for label, sql, params in _statements(INDEXED, viewer_id):
            scans = _seq_scans(_plan(sql, params))
            if scans:
                offenders[f"{label} viewer={viewer_id}"] = scans
    assert offenders == {}
    # The same check on the naive statements finds scans for every kind: it can fail.
    scanned = {
        label.split()[0]
        for label, sql, params in _statements(NAIVE, None)
        if _seq_scans(_plan(sql, params))
    }
    assert set(KINDS) <= scanned
