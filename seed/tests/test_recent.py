"""The seeded activity ends at the anchor (the seeding time by default): the newest posts,
likes, comments and messages are minutes to hours old, whatever the hour of seeding, and
another anchor moves the timestamps without changing anything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np

from seed.plan import anchor_parse, plan_build
from seed.presets import SCALES
from seed.sampling import DAY_US, US
from seed.tests.conftest import Seeder, sql

HOUR = 3600 * US


def test_the_newest_post_is_minutes_old_at_any_hour_of_seeding_at_small_scale() -> None:
    # 19:00 UTC is 04:00 in Korea, the rhythm's trough: the hardest hour to have a fresh post.
    for hour in (0, 5, 10, 14, 19, 22):
        anchor = anchor_parse(f"2026-11-30T{hour:02d}:41:07Z")
        plan = plan_build(SCALES["small"], 42, [], end_us=anchor)
        newest = int(plan.post_ts.max())
        assert anchor - HOUR <= newest < anchor, hour
        last_day = plan.post_ts >= anchor - DAY_US
        public_authors = np.unique(plan.post_author[last_day & ~plan.private[plan.post_author]])
        # The demo account follows 60 of them (seed/demo.py).
        assert len(public_authors) > 200, hour
        # Activity thins out into the past: the last day is busier than an average one.
        assert last_day.sum() > 1.2 * plan.n_posts / 180, hour


def test_activity_ends_minutes_to_hours_before_the_seeding_time(seeder: Seeder) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = seeder()
    anchor = datetime.fromisoformat(
        json.loads(result.manifest.read_text())["time_range"]["end"].replace("Z", "+00:00")
    )
    assert before <= anchor <= datetime.now(UTC)
    newest = dict(
        sql(
            """SELECT 'post', max(created_at) FROM posts_post
               UNION ALL SELECT 'like', max(created_at) FROM posts_like
               UNION ALL SELECT 'comment', max(created_at) FROM posts_comment
               UNION ALL SELECT 'message', max(created_at) FROM chat_message
               UNION ALL SELECT 'follow', max(created_at) FROM accounts_follow"""
        )
    )
    assert all(at < anchor for at in newest.values()), newest
    # tiny has 2,000 posts over six months; `small` has its newest within the hour (above).
    assert anchor - newest["post"] < timedelta(hours=2)
    assert anchor - newest["like"] < timedelta(minutes=30)
    assert anchor - newest["comment"] < timedelta(hours=3)
    assert anchor - newest["message"] < timedelta(hours=12)
    ((last_day,),) = sql(
        "SELECT count(*) FROM posts_post WHERE created_at >= %s", [anchor - timedelta(days=1)]
    )
    assert last_day >= 15


def test_another_anchor_moves_the_timestamps_and_nothing_else(seeder: Seeder) -> None:
    # Rows as sets: ids follow time order, which another anchor may change. A shared post is
    # one that existed when the message was sent, so only its kind is compared; a comment's
    # words are drawn in time order.
    shapes = {
        "accounts_follow": "follower_id, followee_id",
        "posts_like": "user_id, post_id",
        "posts_post": "author_id, caption, like_count, place_id",
        "posts_comment": "author_id, post_id",
        "chat_message": "room_id, sender_id, kind, text",
    }

    def digest() -> dict[str, str]:
        found = {}
        for table, columns in shapes.items():
            row = f"({columns})::text"
            ((found[table],),) = sql(
                f"SELECT md5(string_agg({row}, '|' ORDER BY {row})) FROM {table}"
            )
        return found

    seeder(anchor_us=anchor_parse("2026-11-30T03:00:00Z"))
    first = digest()
    ((first_newest,),) = sql("SELECT max(created_at) FROM posts_post")
    seeder(reset=True, anchor_us=anchor_parse("2026-12-24T18:30:00Z"))
    assert digest() == first
    ((newest,),) = sql("SELECT max(created_at) FROM posts_post")
    assert newest - first_newest > timedelta(days=24)
