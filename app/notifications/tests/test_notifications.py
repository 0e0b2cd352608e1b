"""Notifications: made by the other apps' writes, listed newest first, counted and marked read,
and never about a post the recipient may not see."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile

from app.accounts import services as accounts
from app.accounts.models import User
from app.chat import services as chat
from app.lab.testing import assert_queries
from app.notifications import services
from app.notifications.models import Notification
from app.posts import services as posts
from app.posts.models import Post
from app.testing import imagedata
from app.testing.client import login_client
from app.testing.factories import PostFactory, PostImageFactory, UserFactory
from app.testing.sockets import session_cookie, user_socket


def seen(user: User) -> list[tuple[str, str, int | None]]:
    """(verb, actor, post id) of ``user``'s notifications, newest first, as the rows hold them."""
    rows = Notification.objects.filter(recipient=user).order_by("-id")
    return [(row.verb, row.actor.username, row.post_id) for row in rows]


def listed(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get_json("/api/notifications", params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def unread(client: Any) -> int:
    response = client.get_json("/api/notifications/unread")
    assert response.status_code == 200, response.content
    count: int = response.json()["count"]
    return count


@pytest.fixture
def bob_post(bob: User) -> Post:
    """A public post with an image."""
    post = PostFactory(author=bob)
    PostImageFactory(post=post, position=0)
    return post


def test_a_like_notifies_the_author_once_however_often_it_is_repeated(
    alice, bob, bob_post, alice_client, bob_client
):
    for _ in range(3):
        assert alice_client.post_json(f"/api/posts/{bob_post.pk}/like").status_code == 200
        assert alice_client.delete_json(f"/api/posts/{bob_post.pk}/like").status_code == 200
    alice_client.post_json(f"/api/posts/{bob_post.pk}/like")
    bob_client.post_json(f"/api/posts/{bob_post.pk}/like")  # his own: nobody to tell

    assert seen(bob) == [("like", "alice", bob_post.pk)]
    assert seen(alice) == []


def test_a_first_like_costs_one_insert_more_and_a_repeat_nothing(alice, bob_post):
    # 1. the post with its author (visibility; bob is public: no follow check)
    # 2. SAVEPOINT (BEGIN in production)  3. INSERT the like ON CONFLICT DO NOTHING
    # 4. INSERT the notification ON CONFLICT DO NOTHING  5. UPDATE like_count RETURNING
    # 6. RELEASE SAVEPOINT (COMMIT in production)
    with assert_queries(6):
        posts.like_set(user=alice, post_id=bob_post.pk, liked=True)
    posts.like_set(user=alice, post_id=bob_post.pk, liked=False)
    # The like is new again, so its INSERT runs; the notification's finds its row and stops.
    with assert_queries(6):
        posts.like_set(user=alice, post_id=bob_post.pk, liked=True)
    assert Notification.objects.count() == 1


def test_comments_notify_the_author_and_mentions_whom_they_name(alice, bob, charlie, bob_post):
    text = "@alice look, and @bob @charlie @nobody too " + "x" * 200
    comment = posts.comment_create(author=charlie, post_id=bob_post.pk, text=text)

    # bob hears of the comment once, though it names him; charlie never of himself.
    assert seen(bob) == [("comment", "charlie", bob_post.pk)]
    assert seen(alice) == [("mention", "charlie", bob_post.pk)]
    assert seen(charlie) == []
    row = Notification.objects.get(recipient=alice)
    assert row.comment_id == comment.pk
    assert len(row.text) == 120 and row.text.startswith("@alice look") and row.text.endswith("…")

    posts.comment_delete(user=charlie, post_id=bob_post.pk, comment_id=comment.pk)
    assert not Notification.objects.exists()  # the comment's words go with it


def test_a_caption_mention_reaches_only_those_who_may_see_the_post(alice, bob, charlie):
    upload = SimpleUploadedFile("p.jpg", imagedata.jpeg(), content_type="image/jpeg")
    caption = "with @bob and @charlie and @alice"
    post = posts.post_create(author=alice, uploads=[upload], caption=caption, place_id=None)

    assert seen(bob) == [("mention", "alice", post.pk)]  # alice is private; bob follows her
    assert seen(charlie) == []
    assert seen(alice) == []


def test_follows_and_follow_requests_notify_once(alice, bob, charlie, alice_client):
    for _ in range(2):
        accounts.follow_create(follower=charlie, followee=bob)
        accounts.follow_delete(follower=charlie, followee=bob)
    assert seen(bob) == [("follow", "charlie", None)]

    accounts.follow_create(follower=charlie, followee=alice)
    accounts.follow_create(follower=charlie, followee=alice)
    assert seen(alice) == [("follow_request", "charlie", None)]
    (item,) = listed(alice_client)["items"]
    assert (item["verb"], item["request_pending"], item["post"]) == ("follow_request", True, None)

    response = alice_client.post_json("/api/me/follow-requests/charlie/approve")
    assert response.status_code == 200
    assert seen(alice) == [("follow", "charlie", None), ("follow_request", "charlie", None)]
    assert [i["request_pending"] for i in listed(alice_client)["items"]] == [False, False]


def test_a_share_notifies_named_users_who_may_see_the_post_once(alice, bob, charlie, bob_post):
    private = PostFactory(author=alice)
    for _ in range(2):  # a retry, or the same post sent again: one notification
        chat.post_share(
            sender=alice,
            post_id=bob_post.pk,
            usernames=["charlie"],
            room_ids=[],
            text="",
            client_id=None,
        )
    chat.post_share(
        sender=bob, post_id=private.pk, usernames=["charlie"], room_ids=[], text="", client_id=None
    )
    assert seen(charlie) == [("share", "alice", bob_post.pk)]


def test_the_list_is_a_keyset_page_in_one_query(alice, bob, charlie, bob_post, bob_client):
    actors = [charlie, alice, *UserFactory.create_batch(3)]
    for actor in actors:
        posts.like_set(user=actor, post_id=bob_post.pk, liked=True)
    bob_client.get_json("/api/notifications/unread")  # warm the session and user caches

    # The page with actors, each post's first thumbnail and the pending-request flag.
    with assert_queries(1):
        first = listed(bob_client, limit=3)
    second = listed(bob_client, limit=3, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    names = [item["actor"]["username"] for item in first["items"] + second["items"]]
    assert names == [actor.username for actor in reversed(actors)]
    item = first["items"][0]
    assert set(item) == {
        "id",
        "verb",
        "actor",
        "post",
        "text",
        "created_at",
        "read",
        "request_pending",
    }
    assert item["actor"] == {
        "id": actors[-1].pk,
        "username": actors[-1].username,
        "name": actors[-1].name,
        "avatar_url": None,
        "is_private": False,
    }
    assert item["post"]["id"] == bob_post.pk
    assert item["post"]["thumb_url"].endswith(f"/posts/thumb/test/{bob_post.pk}-0.jpg")
    assert (item["verb"], item["read"], item["request_pending"]) == ("like", False, False)


def test_unread_count_and_marking_read(alice, bob, charlie, bob_post, bob_client):
    for actor in (alice, charlie):
        posts.like_set(user=actor, post_id=bob_post.pk, liked=True)
    oldest, newest = Notification.objects.order_by("id")
    bob_client.get_json("/api/notifications/unread")

    with assert_queries(1):
        assert unread(bob_client) == 2
    # 1. UPDATE the unread rows up to the id
    with assert_queries(1):
        response = bob_client.post_json("/api/notifications/read", {"up_to": oldest.pk})
    assert response.json() == {"marked": 1}
    assert unread(bob_client) == 1
    assert [i["read"] for i in listed(bob_client)["items"]] == [False, True]

    assert bob_client.post_json("/api/notifications/read", {}).json() == {"marked": 1}
    assert bob_client.post_json("/api/notifications/read", {}).json() == {"marked": 0}
    assert unread(bob_client) == 0
    assert Notification.objects.get(pk=newest.pk).read_at is not None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get_json", "/api/notifications?limit=0", None),
        ("get_json", "/api/notifications?limit=51", None),
        ("get_json", "/api/notifications?cursor=nope", None),
        ("get_json", "/api/notifications?cursor=WyJ4Il0", None),  # ["x"]: not an id
        ("post_json", "/api/notifications/read", {"up_to": "x"}),
        ("post_json", "/api/notifications/read", {"up_to": 0}),
        ("post_json", "/api/notifications/read", {"up_to": 2**63}),
    ],
)
def test_bad_input_is_a_400(bob_client, method, path, body):
    args = (path, body) if body is not None else (path,)
    response = getattr(bob_client, method)(*args)
    assert response.status_code == 400, response.content
    assert "error" in response.json()


@pytest.mark.parametrize(
    "path", ["/api/notifications", "/api/notifications/unread", "/api/notifications/read"]
)
def test_it_needs_a_signed_in_user(anon_client, path):
    method = anon_client.post_json if path.endswith("/read") else anon_client.get_json
    assert method(path).status_code == 401


def test_a_post_the_recipient_can_no_longer_see_is_left_out(alice, bob, charlie, bob_client):
    """charlie mentions bob in a public post, then turns private: bob no longer sees it."""
    post = PostFactory(author=charlie)
    posts.comment_create(author=charlie, post_id=post.pk, text="hi @bob")
    bob_client.get_json("/api/notifications/unread")
    accounts.follow_create(follower=charlie, followee=bob)
    assert unread(bob_client) == 2

    accounts.user_update_profile(user=charlie, is_private=True)
    assert [i["verb"] for i in listed(bob_client)["items"]] == ["follow"]
    assert unread(bob_client) == 1

    Notification.objects.filter(verb="mention").update(read_at=None)
    accounts.follow_create(follower=bob, followee=charlie)  # a request: not yet
    assert unread(bob_client) == 1
    accounts.follow_request_approve(owner=charlie, requester=bob)
    assert [i["verb"] for i in listed(bob_client)["items"]] == ["follow", "mention"]


def test_deleting_a_post_deletes_its_notifications(alice, bob, bob_post):
    posts.like_set(user=alice, post_id=bob_post.pk, liked=True)
    posts.post_delete(user=bob, post_id=bob_post.pk)
    assert not Notification.objects.exists()


def test_seeding_notifies_of_what_others_already_did(alice, bob, charlie, bob_post):
    Notification.objects.all().delete()
    posts.like_set(user=alice, post_id=bob_post.pk, liked=True)
    posts.comment_create(author=charlie, post_id=bob_post.pk, text="seeded")
    accounts.follow_create(follower=charlie, followee=bob)
    Notification.objects.all().delete()  # as a bulk seed leaves them: no notifications

    assert services.notifications_seed(user=bob) == 3
    assert services.notifications_seed(user=bob) == 0
    assert seen(bob) == [
        ("follow", "charlie", None),
        ("comment", "charlie", bob_post.pk),
        ("like", "alice", bob_post.pk),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_recipient_sockets_hear_of_it_after_the_commit():
    bob = UserFactory(username="bob")
    alice = UserFactory(username="alice")
    post = PostFactory(author=bob)
    cookie = session_cookie(bob)
    client = login_client(bob)

    async def scenario() -> Any:
        socket = await user_socket(bob, cookie)
        await sync_to_async(posts.like_set)(user=alice, post_id=post.pk, liked=True)
        frame = await socket.receive_json_from(timeout=5)
        await sync_to_async(client.post_json)("/api/notifications/read", {})
        read = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return frame, read

    frame, read = asyncio.run(scenario())
    row = Notification.objects.get()
    assert frame == {"type": "notification.new", "verb": "like", "id": row.pk}
    assert read == {"type": "notification.read"}
