"""The partitioning demonstration at tiny, on the real PostgreSQL: the online recipe turns
copies of the seeded likes and messages into hash-partitioned tables with every row, writes
made during the backfill included, and the app's hot reads return the same rows from both,
scanning the one partition their key names."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from app.lab.testing import database_url_for_tests
from ops import partition
from seed.runner import seed_run

SCHEMA = "partition_test"


@pytest.fixture
def seeded_url(transactional_db: None, tmp_path: Path):
    seed_run(
        scale="tiny",
        seed=42,
        manifest_path=tmp_path / "seed-manifest.json",
        progress=False,
        echo=lambda _: None,
    )
    url = database_url_for_tests()
    yield url
    # Before the test database is flushed: the copies reference its users and posts.
    partition.schema_drop(url, schema=SCHEMA)


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("late", [False, True], ids=["fks-before-backfill", "fks-after"])
def test_the_demo_partitions_likes_and_messages_and_the_hot_reads_agree(
    seeded_url: str, tmp_path: Path, late: bool
) -> None:
    with psycopg.connect(seeded_url) as conn:
        if late and conn.info.server_version < 180000:
            pytest.skip("a NOT VALID foreign key on a partitioned table needs PostgreSQL 18")
    result = partition.demo(seeded_url, schema=SCHEMA, partitions=4, batch=4_000, late=late)

    likes, messages = result["tables"]
    assert (likes["table"], messages["table"]) == ("posts_like", "chat_message")
    # Every seeded row, plus the writes made between batches (an unlike and a re-like keep
    # the likes' count; a send and a delete keep the messages').
    assert likes["rows_partitioned"] == likes["rows_plain"] == _count(seeded_url, "posts_like")
    assert messages["rows_partitioned"] == messages["rows_plain"] == 2_000
    assert likes["backfill"]["batches"] == 5 and likes["writes_during_backfill"] == 20
    assert messages["writes_during_backfill"] == 3
    assert likes["differing_before_swap"] == messages["differing_before_swap"] == 0
    # The identity goes on past every id the old table handed out.
    assert likes["swap"]["identity_restarts_at"] > likes["rows_plain"]

    by_name = {query["name"]: query for query in result["queries"]}
    assert all(query["identical"] and query["rows"] > 0 for query in by_name.values()), [
        name for name, query in by_name.items() if not query["identical"] or not query["rows"]
    ]
    for query in by_name.values():
        if query["pruning"] == "plan":
            assert query["partitions_in_plan"] == 1, query["name"]
        elif query["pruning"] == "run":
            assert query["partition_scans"] == query["rows"], query["name"]
        else:
            assert query["partitions_scanned"] == 4, query["name"]

    with psycopg.connect(seeded_url) as conn:
        kinds = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname IN "
            "('posts_like', 'chat_message', 'posts_like_old', 'chat_message_old')",
            [SCHEMA],
        ).fetchall()
        twin_fks = conn.execute(
            "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'f' ORDER BY conname",
            [f"{SCHEMA}.posts_like"],
        ).fetchall()
        pointing = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
            "%s::regclass AND contype = 'f' AND confrelid = %s::regclass",
            [f"{SCHEMA}.chat_room", f"{SCHEMA}.chat_message"],
        ).fetchall()
    assert dict(kinds) == {
        "posts_like": "p",
        "chat_message": "p",
        "posts_like_old": "r",
        "chat_message_old": "r",
    }
    # The app's names again, validated.
    assert twin_fks == [("posts_like_post_id_fk", True), ("posts_like_user_id_fk", True)]
    assert [row[0].split(" REFERENCES")[0] for row in pointing] == [
        "FOREIGN KEY (id, last_message_id)"
    ]

    path = partition.report_write(result, directory=tmp_path, label="tiny")
    assert "| `history` |" in path.read_text()
