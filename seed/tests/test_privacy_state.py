"""The privacy state the database derives is exact after a seed: hashtags' public counts
(search migration 0005) and who accepted each chat room (chat migration 0002)."""

from __future__ import annotations

from seed.tests.conftest import Seeder, sql


def test_it_counts_each_hashtags_public_posts(seeder: Seeder) -> None:
    seeder()
    wrong = sql(
        """
        SELECT h.name, h.public_post_count, count(a.id) FILTER (WHERE NOT a.is_private)
          FROM posts_hashtag h
          LEFT JOIN posts_posthashtag s ON s.hashtag_id = h.id
          LEFT JOIN posts_post p ON p.id = s.post_id
          LEFT JOIN accounts_user a ON a.id = p.author_id
         GROUP BY h.id
        HAVING h.public_post_count <> count(a.id) FILTER (WHERE NOT a.is_private)
        """
    )
    assert wrong == []
    [(counted,)] = sql("SELECT count(*) FROM posts_hashtag WHERE public_post_count > 0")
    assert counted > 0


def test_it_marks_room_creators_and_senders_as_accepted(seeder: Seeder) -> None:
    seeder()
    wrong = sql(
        """
        SELECT m.id FROM chat_membership m JOIN chat_room r ON r.id = m.room_id
         WHERE (m.accepted_at IS NOT NULL) IS DISTINCT FROM (
               coalesce(r.created_by_id = m.user_id, false)
               OR EXISTS (SELECT 1 FROM chat_message x
                           WHERE x.room_id = m.room_id AND x.sender_id = m.user_id))
        """
    )
    assert wrong == []
    [(accepted,)] = sql("SELECT count(*) FROM chat_membership WHERE accepted_at IS NOT NULL")
    assert accepted > 0
