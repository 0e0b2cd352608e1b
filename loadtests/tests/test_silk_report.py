"""The N+1 suspect finder behind `make silk-report` (pure: no silk tables needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from loadtests.silk_report import endpoint_of, markdown_of, sql_shape, suspects_find

LIKE = 'SELECT COUNT(*) FROM "posts_like" WHERE "posts_like"."post_id" = {}'


def test_it_strips_literals_so_loop_queries_compare_equal():
    assert sql_shape(LIKE.format(12)) == sql_shape(LIKE.format(99))
    assert sql_shape("SELECT * FROM t WHERE a IN (1, 2, 3) AND b = 'x''y'") == (
        "SELECT * FROM t WHERE a IN (?) AND b = ?"
    )


def test_it_groups_dynamic_paths_by_endpoint():
    assert endpoint_of("GET", "/api/posts/123/comments") == "GET /api/posts/{id}/comments"


def test_it_flags_a_statement_repeated_within_one_request_only():
    naive = [LIKE.format(i) for i in range(20)] + ['SELECT * FROM "posts_post" LIMIT 20']
    found = suspects_find(
        [("GET", "/api/feed", naive), ("GET", "/api/posts/7", [LIKE.format(7)])], repeats=3
    )
    assert found["GET /api/feed"]["with_suspects"] == 1
    assert found["GET /api/feed"]["shapes"].most_common(1)[0][1] == 20
    assert found["GET /api/posts/{id}"]["with_suspects"] == 0
    text = markdown_of(found, repeats=3, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert text.index("GET /api/feed") < text.index("GET /api/posts/{id}")
    assert "| 20 |" in text
