"""Hybrid fan-out and invalidation: what each write does to the Redis timelines."""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from app.accounts import services as accounts
from app.core import realtime
from app.feed import jobs, store
from app.feed.page import feed_page
from app.posts import services as posts
from app.posts import viewcache
from app.posts.fragments import item_dict
from app.testing.data import follow, posts_make, user_make
from app.testing.imagedata import jpeg


def timeline_ids(user) -> list[int]:
    members = viewcache.connection().zrevrangebyscore(store.timeline_key(user.pk), "+inf", 0)
    return [store.post_id_of(member) for member in members]


def feed(user, strategy: str = "cached") -> list[int]:
    page = feed_page(viewer=user, cursor=None, limit=50, strategy=strategy)
    return [item.id for item in page["items"]]


def publish(client) -> int:
    upload = SimpleUploadedFile("p.jpg", jpeg(), content_type="image/jpeg")
    response = client.post(
        "/api/posts",
        {"images": [upload], "caption": "new"},
        HTTP_AUTHORIZATION=f"Bearer {client.token}",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_new_post_is_pushed_into_followers_warm_timelines(
    alice, bob, charlie, alice_client, committed
):
    posts_make(alice, 2, hours_ago=1)
    feed(bob)  # bob and alice have warm timelines; charlie has none
    feed(alice)
    with committed():
        post_id = publish(alice_client)
    assert timeline_ids(bob)[0] == post_id
    assert timeline_ids(alice)[0] == post_id
    assert not viewcache.connection().exists(store.timeline_key(charlie.pk))
    assert feed(bob)[0] == post_id


def test_a_post_by_an_author_above_the_threshold_is_pulled_not_pushed(
    settings, alice, bob, alice_client, committed
):
    settings.FEED_FANOUT_THRESHOLD = 0  # alice's one follower puts her above it
    posts_make(alice, 2, hours_ago=1)
    feed(bob)
    with committed():
        post_id = publish(alice_client)
    assert post_id not in timeline_ids(bob)
    assert viewcache.connection().sismember(store.celebs_key(), alice.pk)
    assert feed(bob)[0] == post_id
    assert feed(bob) == feed(bob, "optimized")


def frames_published(users: list[Any], act: Any) -> dict[str, list[Any]]:
    """What ``act()`` put on each user's socket group channel, by username, read straight
    from the Redis channels the pub/sub layer subscribes sockets to."""
    prefix = realtime.pubsub_prefix()
    assert prefix is not None
    channels = {realtime.group_channel(prefix, realtime.user_group(u.pk)): u for u in users}
    pubsub = viewcache.connection().pubsub()
    pubsub.subscribe(*channels)
    try:
        for _ in channels:  # every subscription confirmed before anything is published
            assert (pubsub.get_message(timeout=5) or {}).get("type") == "subscribe"
        act()
        layer = get_channel_layer()
        assert layer is not None
        heard: dict[str, list[Any]] = {u.username: [] for u in users}
        while message := pubsub.get_message(timeout=0.5):
            event = layer.deserialize(message["data"])
            heard[channels[message["channel"].decode()].username].append(event["payload"])
        return heard
    finally:
        pubsub.close()


def test_fanout_tells_the_followers_whose_timeline_took_the_post(
    alice, bob, charlie, alice_client, committed
):
    follow(charlie, alice)  # a follower with no timeline: nothing to show live
    posts_make(alice, 1, hours_ago=1)
    feed(bob)
    feed(alice)
    made: list[int] = []

    def act() -> None:
        with committed():
            made.append(publish(alice_client))

    heard = frames_published([alice, bob, charlie], act)
    frame = {"type": "feed.post", "post": made[0], "author": "alice"}
    # Not the author: their own post is no news to them.
    assert heard == {"alice": [], "bob": [frame], "charlie": []}


def test_fanout_of_a_pulled_author_tells_nobody(settings, alice, bob, alice_client, committed):
    settings.FEED_FANOUT_THRESHOLD = 0
    feed(bob)

    def act() -> None:
        with committed():
            publish(alice_client)

    assert frames_published([bob], act) == {"bob": []}


def test_fanout_skips_followers_without_a_timeline(alice, bob):
    (post,) = posts_make(alice, 1)
    assert jobs.fanout_post(post_id=post.pk) == 0
    assert not viewcache.connection().exists(store.timeline_key(bob.pk))


def test_fanout_of_a_deleted_post_writes_nothing(alice, bob):
    (post,) = posts_make(alice, 1)
    feed(bob)
    post_id = post.pk
    post.delete()
    assert jobs.fanout_post(post_id=post_id) == 0


def test_follow_backfills_and_unfollow_removes_the_authors_posts(bob, charlie, committed):
    charlies = [post.pk for post in posts_make(charlie, 3)]
    feed(bob)
    with committed():
        accounts.follow_create(follower=bob, followee=charlie)
    assert set(charlies) <= set(timeline_ids(bob))
    assert set(charlies) <= set(feed(bob))
    with committed():
        accounts.follow_delete(follower=bob, followee=charlie)
    assert not set(charlies) & set(timeline_ids(bob))
    assert not set(charlies) & set(feed(bob))


def test_reads_skip_an_unfollowed_author_even_before_cleanup(bob, charlie):
    follow(bob, charlie)
    charlies = [post.pk for post in posts_make(charlie, 2)]
    assert set(charlies) <= set(feed(bob))
    # The unfollow committed, but its cleanup job has not run: only the set changed.
    charlie.follower_edges.all().delete()
    viewcache.connection().srem(viewcache.following_key(bob.pk), str(charlie.pk))
    assert not set(charlies) & set(feed(bob))


def test_an_evicted_timeline_is_rebuilt_from_sql(alice, bob):
    made = posts_make(alice, 3) + posts_make(bob, 2, hours_ago=1)
    first = feed(bob)
    conn = viewcache.connection()
    conn.delete(
        store.timeline_key(bob.pk), viewcache.following_key(bob.pk), viewcache.flags_key(bob.pk)
    )
    # Never cache.clear(): django-redis runs FLUSHDB, on a server other runs share.
    cache.delete_many([viewcache.fragment_key(post.pk) for post in made])
    assert feed(bob) == first == feed(bob, "optimized")


def test_a_timeline_keeps_only_the_newest_posts_up_to_the_cap(settings, alice, bob):
    settings.FEED_TIMELINE_CAP = 4
    made = posts_make(alice, 7)
    feed(bob)
    assert timeline_ids(bob) == [post.pk for post in made[:4]]
    # Past the cap, SQL serves the rest: the cached feed is still complete.
    assert feed(bob) == [post.pk for post in made]


def test_turning_private_keeps_followers_and_refreshes_the_author(charlie, bob, committed):
    dave = user_make("dave")
    follow(bob, dave)
    daves = [post.pk for post in posts_make(dave, 2)]
    assert feed(bob) == daves
    assert feed(charlie) == []
    with committed():
        accounts.user_update_profile(user=dave, is_private=True)
    page = feed_page(viewer=bob, cursor=None, limit=5, strategy="cached")["items"]
    assert [item.id for item in page] == daves
    assert all(item_dict(item)["author"]["is_private"] for item in page)
    assert feed(charlie) == []


def test_likes_saves_and_comments_update_the_cached_page(alice, bob, charlie, committed):
    follow(charlie, alice)
    (post,) = posts_make(alice, 1)
    feed_page(viewer=bob, cursor=None, limit=5, strategy="cached")
    with committed():
        posts.like_set(user=bob, post_id=post.pk, liked=True)
        posts.save_set(user=bob, post_id=post.pk, saved=True)
        posts.comment_create(author=charlie, post_id=post.pk, text="nice")
    (mine,) = map(
        item_dict, feed_page(viewer=bob, cursor=None, limit=5, strategy="cached")["items"]
    )
    (theirs,) = map(
        item_dict, feed_page(viewer=charlie, cursor=None, limit=5, strategy="cached")["items"]
    )
    assert (mine["like_count"], mine["comment_count"]) == (1, 3)
    assert mine["viewer_has_liked"] and mine["viewer_has_saved"]
    assert mine["comments_preview"][0]["text"] == "nice"
    assert not theirs["viewer_has_liked"] and not theirs["viewer_has_saved"]
    assert theirs["like_count"] == 1


def test_a_rolled_back_like_leaves_redis_alone(alice, bob, committed):
    (post,) = posts_make(alice, 1)
    feed(bob)
    before = viewcache.connection().hgetall(viewcache.flags_key(bob.pk))
    with committed(), pytest.raises(RuntimeError), transaction.atomic():
        posts.like_set(user=bob, post_id=post.pk, liked=True)
        raise RuntimeError("rolled back")
    assert viewcache.connection().hgetall(viewcache.flags_key(bob.pk)) == before
    assert (
        item_dict(feed_page(viewer=bob, cursor=None, limit=5)["items"][0])["viewer_has_liked"]
        is False
    )


def test_a_deleted_post_leaves_every_timeline(alice, bob, alice_client, committed):
    (post,) = posts_make(alice, 1)
    feed(bob)
    feed(alice)
    with committed():
        response = alice_client.delete_json(f"/api/posts/{post.pk}")
    assert response.status_code == 204
    assert timeline_ids(bob) == timeline_ids(alice) == []
    assert feed(bob) == []


def test_every_key_starts_with_the_configured_prefix(alice, bob):
    posts_make(alice, 2)
    feed(bob)
    conn = viewcache.connection()
    ours = list(conn.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*feed*", count=1000))
    assert len(ours) >= 5  # timeline, following, flags, two post bodies
    for name in (store.timeline_key(1), store.author_key(1), store.celebs_key()):
        assert name.startswith(f"{settings.REDIS_KEY_PREFIX}:feed:")
    assert cache.make_key(viewcache.fragment_key(1)).startswith(settings.REDIS_KEY_PREFIX)
