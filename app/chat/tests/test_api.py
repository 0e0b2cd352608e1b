"""Chat over HTTP: rooms, the inbox and its strategies, history, HTTP send, and post shares."""

from __future__ import annotations

import threading
import uuid

import pytest

from app.accounts.models import User
from app.chat import events, selectors, services, strategies
from app.chat.models import Membership, Message, Room
from app.lab.testing import assert_queries
from app.posts.models import Post
from app.testing.client import ApiClient, login_client
from app.testing.factories import PostFactory, PostImageFactory, UserFactory


def say(sender: User, room: Room, text: str) -> Message:
    return services.message_send(sender=sender, room_id=room.pk, client_id=uuid.uuid4(), text=text)[
        0
    ]


@pytest.fixture(autouse=True)
def _run_on_commit(django_capture_on_commit_callbacks):
    """Broadcasts run on commit; in these (rolled-back) tests, run them at once."""
    with django_capture_on_commit_callbacks(execute=True):
        yield


@pytest.fixture
def dm(alice: User, bob: User) -> Room:
    return services.room_dm_get_or_create(user=alice, other=bob)[0]


def test_it_opens_one_dm_per_pair_whoever_asks(alice_client, bob_client, alice, bob):
    first = alice_client.post_json("/api/chat/rooms", {"users": ["bob"]})
    again = bob_client.post_json("/api/chat/rooms", {"users": ["ALICE"]})
    assert first.status_code == 201
    assert again.status_code == 200
    assert first.json() == {"id": again.json()["id"], "kind": "dm", "created": True}
    assert Room.objects.filter(kind=Room.Kind.DM).count() == 1
    assert set(Membership.objects.values_list("user__username", flat=True)) == {"alice", "bob"}


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_dm_under_concurrent_requests() -> None:
    alice: User = UserFactory.create(username="alice")
    bob: User = UserFactory.create(username="bob")
    barrier = threading.Barrier(4)
    rooms: list[int] = []

    def open_dm(me: User, other: User) -> None:
        barrier.wait()
        rooms.append(services.room_dm_get_or_create(user=me, other=other)[0].pk)

    threads = [
        threading.Thread(target=open_dm, args=pair) for pair in [(alice, bob), (bob, alice)] * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(rooms)) == 1
    assert Room.objects.count() == 1
    assert Membership.objects.count() == 2


def test_it_creates_a_group_with_several_users(alice_client, bob, charlie):
    response = alice_client.post_json(
        "/api/chat/rooms", {"users": ["bob", "charlie"], "title": "t"}
    )
    assert response.status_code == 201
    assert response.json()["kind"] == "group"
    assert Membership.objects.filter(room_id=response.json()["id"]).count() == 3


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"users": ["alice"]}, 400, "invalid_members"),
        ({"users": ["nobody_here"]}, 404, "not_found"),
        ({"users": []}, 400, "invalid_request"),
        ({"users": [f"u{i}" for i in range(33)]}, 400, "invalid_request"),
    ],
    ids=["self", "unknown", "empty", "too-many"],
)
def test_it_rejects_bad_room_requests(alice_client, body, status, code):
    response = alice_client.post_json("/api/chat/rooms", body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_it_caps_groups_at_32_members(alice):
    others = UserFactory.create_batch(32)
    with pytest.raises(services.ApiError) as caught:
        services.room_group_create(creator=alice, others=others, title="")
    assert caught.value.code == "too_many_members"
    assert services.room_group_create(creator=alice, others=others[:31], title="").pk


def test_it_lists_the_inbox_with_members_preview_and_exact_unread(alice, bob, charlie, dm):
    group = services.room_group_create(creator=charlie, others=[alice, bob], title="trio")
    say(alice, dm, "one")
    say(alice, dm, "two")
    say(charlie, group, "hello group")
    last = say(bob, group, "hi")
    client = login_client(bob)
    body = client.get_json("/api/chat/rooms").json()
    assert [item["id"] for item in body["items"]] == [group.pk, dm.pk]
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id[dm.pk]["unread"] == 2
    assert by_id[group.pk]["unread"] == 0  # bob's own message reads the room up to it
    assert by_id[dm.pk]["last_message"]["text"] == "two"
    assert by_id[group.pk]["last_message"]["id"] == last.pk
    assert [m["username"] for m in by_id[group.pk]["members"]] == ["alice", "charlie"]
    assert [m["username"] for m in by_id[dm.pk]["members"]] == ["alice"]
    assert body["next_cursor"] is None


def test_it_shows_a_stranger_none_of_the_others_rooms(charlie_client, dm, anon_client):
    assert charlie_client.get_json("/api/chat/rooms").json()["items"] == []
    assert anon_client.get_json("/api/chat/rooms").status_code == 401


def test_it_pages_the_inbox_by_activity(alice):
    others = UserFactory.create_batch(5)
    rooms = [services.room_dm_get_or_create(user=alice, other=u)[0] for u in others]
    for room, other in zip(rooms, others, strict=True):
        say(other, room, "hey")
    client = login_client(alice)
    first = client.get_json("/api/chat/rooms", {"limit": 3}).json()
    second = client.get_json("/api/chat/rooms", {"limit": 3, "cursor": first["next_cursor"]}).json()
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == [room.pk for room in reversed(rooms)]
    assert second["next_cursor"] is None
    assert client.get_json("/api/chat/rooms", {"limit": 51}).status_code == 400
    assert client.get_json("/api/chat/rooms", {"cursor": "junk"}).status_code == 400


Row = tuple[int, list[int], int | None, int]


def _inbox_world(user: User, rooms: int) -> None:
    for index in range(rooms):
        other, third = UserFactory.create_batch(2)
        if index % 2:
            room = services.room_group_create(creator=user, others=[other, third], title="")
        else:
            room = services.room_dm_get_or_create(user=user, other=other)[0]
        say(other, room, f"m{index}")
        if index % 3 == 0:
            say(user, room, "reply")
        say(other, room, "again")


@pytest.mark.parametrize("rooms", [2, 20])
def test_it_builds_the_optimized_inbox_in_three_queries_at_any_size(alice, rooms):
    _inbox_world(alice, rooms)
    # 1. memberships JOIN room, last message and its sender, with the unread count subquery
    # 2. the other members of the page's rooms, with their users
    # 3. which of them accepted a room shared with alice (only their presence is shown)
    with assert_queries(3):
        page = selectors.room_inbox(user=alice, cursor=None, limit=20, strategy="optimized")
        for entry in page["items"]:
            assert [m.username for m in entry.members]
            assert entry.last_message is not None and entry.last_message.sender.username
    assert len(page["items"]) == rooms


@pytest.mark.parametrize("rooms", [2, 20])
def test_it_builds_the_naive_inbox_in_three_queries_per_room(alice, rooms):
    _inbox_world(alice, rooms)
    # 1. memberships JOIN room; then per room: members, last message with sender, unread count
    # and last, which members accepted a room shared with alice (their presence is shown)
    with assert_queries(2 + 3 * rooms):
        page = selectors.room_inbox(user=alice, cursor=None, limit=20, strategy="naive")
        for entry in page["items"]:
            assert entry.last_message is not None and entry.last_message.sender.username


def test_it_gives_the_same_inbox_from_every_strategy(alice):
    _inbox_world(alice, 7)
    bob = User.objects.exclude(pk=alice.pk).first()
    assert bob is not None

    def shaped(
        name: str, cursor: str | None
    ) -> tuple[list[tuple[int, list[int], int | None, int]], str | None]:
        page = selectors.room_inbox(user=alice, cursor=cursor, limit=4, strategy=name)
        rows = [
            (
                e.room.pk,
                [m.pk for m in e.members],
                e.last_message.pk if e.last_message else None,
                e.unread,
            )
            for e in page["items"]
        ]
        return rows, page["next_cursor"]

    # cached renders JSON, not models: test_inbox_cache.py compares it with optimized.
    assert set(strategies.STRATEGIES) == {"naive", "optimized", "cached"}
    naive_first, naive_next = shaped("naive", None)
    optimized_first, optimized_next = shaped("optimized", None)
    assert naive_first == optimized_first
    assert naive_next == optimized_next
    assert shaped("naive", naive_next) == shaped("optimized", optimized_next)
    assert any(row[3] > 0 for row in naive_first)


def test_it_picks_the_inbox_strategy_from_the_lab_header(alice_client, dm):
    response = alice_client.get_json("/api/chat/rooms", HTTP_X_LAB_STRATEGY="inbox=naive")
    assert response.status_code == 200
    assert "inbox=naive" in response["Server-Timing"]
    bad = alice_client.get_json("/api/chat/rooms", HTTP_X_LAB_STRATEGY="inbox=clever")
    assert bad.status_code == 400


def test_it_pages_history_newest_first_for_members_only(alice, bob, charlie, dm):
    sent = [say(alice if i % 2 else bob, dm, f"m{i}") for i in range(5)]
    client = login_client(bob)
    first = client.get_json(f"/api/chat/rooms/{dm.pk}/messages", {"limit": 3}).json()
    assert [m["text"] for m in first["items"]] == ["m4", "m3", "m2"]
    rest = client.get_json(
        f"/api/chat/rooms/{dm.pk}/messages", {"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [m["text"] for m in rest["items"]] == ["m1", "m0"]
    before = client.get_json(f"/api/chat/rooms/{dm.pk}/messages", {"before": sent[2].pk}).json()
    assert [m["text"] for m in before["items"]] == ["m1", "m0"]
    for item in first["items"]:
        events.SERVER_FRAME.validate_python({"type": "message.new", **item})
    hidden = login_client(charlie).get_json(f"/api/chat/rooms/{dm.pk}/messages")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_member"


def test_it_gives_history_with_the_read_marks_of_members_who_accepted(alice, bob, dm):
    hello = say(alice, dm, "hello")
    services.message_read(user=bob, room_id=dm.pk, message_id=hello.pk)
    alices, bobs = login_client(alice), login_client(bob)
    url = f"/api/chat/rooms/{dm.pk}/messages"
    # Bob has not accepted the DM alice opened: his reading is not shown, as live.
    assert alices.get_json(url).json()["reads"] == []
    assert bobs.get_json(url).json()["reads"] == [{"user": alice.pk, "message": hello.pk}]
    reply = say(bob, dm, "hi")
    assert alices.get_json(url).json()["reads"] == [{"user": bob.pk, "message": reply.pk}]
    assert bobs.get_json(url).json()["reads"] == [{"user": alice.pk, "message": hello.pk}]


@pytest.mark.parametrize("size", [2, 20])
def test_it_reads_a_history_page_in_two_queries(alice, bob, dm, size):
    post = PostFactory(author=alice)
    PostImageFactory(post=post, position=0)
    for i in range(size - 1):
        say(bob, dm, f"m{i}")
    services.message_send(
        sender=alice, room_id=dm.pk, client_id=uuid.uuid4(), text="", post_id=post.pk
    )
    # 1. memberships (the check and the read marks); 2. messages JOIN sender, post, author,
    # with thumb and visibility
    with assert_queries(2):
        page = selectors.message_history_page(
            user=bob, room_id=dm.pk, before=None, cursor=None, limit=20
        )
        frames = [selectors.message_frame(m) for m in page["items"]]
    assert len(frames) == size
    assert frames[0]["post"] is not None and frames[0]["post"]["available"]


@pytest.mark.parametrize("size", [2, 20])
def test_it_replays_a_sync_in_one_query(alice, bob, dm, size):
    for i in range(size):
        say(alice, dm, f"m{i}")
    # 1. messages of bob's rooms (a membership subquery) after `since`, sender and post joined
    with assert_queries(1):
        frames = [selectors.message_frame(m) for m in selectors.message_sync(user=bob, since=0)]
    assert [f["text"] for f in frames] == [f"m{i}" for i in range(size)]


def test_it_sends_over_http_idempotently(bob_client, dm, charlie_client):
    body = {"client_id": str(uuid.uuid4()), "text": "hi"}
    first = bob_client.post_json(f"/api/chat/rooms/{dm.pk}/messages", body)
    again = bob_client.post_json(f"/api/chat/rooms/{dm.pk}/messages", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    refused = charlie_client.post_json(f"/api/chat/rooms/{dm.pk}/messages", body)
    assert refused.status_code == 404
    empty = bob_client.post_json(
        f"/api/chat/rooms/{dm.pk}/messages", {"client_id": str(uuid.uuid4()), "text": " "}
    )
    assert empty.json()["error"]["code"] == "empty_message"
    assert Message.objects.count() == 1


def test_it_answers_429_when_http_sends_flood(bob_client, dm, settings):
    settings.CHAT_RATE_BURST = 2
    settings.CHAT_RATE_PER_SECOND = 0.01
    responses = [
        bob_client.post_json(
            f"/api/chat/rooms/{dm.pk}/messages", {"client_id": str(uuid.uuid4()), "text": "x"}
        )
        for _ in range(3)
    ]
    assert [response.status_code for response in responses] == [201, 201, 429]
    # A token comes back in 100 s at 0.01 a second: the client is told when to come back.
    assert 1 <= int(responses[2]["Retry-After"]) <= 100


def test_it_shares_a_post_to_users_and_rooms_at_once(alice, bob, charlie, dm):
    post = PostFactory(author=bob)
    client = login_client(alice)
    client_id = str(uuid.uuid4())
    body = {"users": ["charlie"], "rooms": [dm.pk], "text": "look", "client_id": client_id}
    response = client.post_json(f"/api/posts/{post.pk}/share", body)
    assert response.status_code == 201
    items = response.json()["items"]
    assert len(items) == 2
    assert {item["post"]["id"] for item in items} == {post.pk}
    again = client.post_json(f"/api/posts/{post.pk}/share", body)
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in items]
    assert Message.objects.filter(kind=Message.Kind.POST).count() == 2


def test_it_previews_a_shared_private_post_per_viewer(alice, bob, charlie):
    """bob (alice's follower) shares alice's private post into a group with charlie."""
    post = PostFactory(author=alice)
    group = services.room_group_create(creator=bob, others=[alice, charlie], title="")
    response = login_client(bob).post_json(f"/api/posts/{post.pk}/share", {"rooms": [group.pk]})
    assert response.json()["items"][0]["post"]["available"] is True
    seen = {
        name: ApiClient.get_json(login_client(user), f"/api/chat/rooms/{group.pk}/messages").json()
        for name, user in (("alice", alice), ("bob", bob), ("charlie", charlie))
    }
    assert seen["alice"]["items"][0]["post"]["available"] is True
    assert seen["bob"]["items"][0]["post"]["available"] is True
    assert seen["charlie"]["items"][0]["post"] == {
        "id": None,
        "available": False,
        "author": None,
        "thumb_url": None,
        "caption": "",
    }


def test_it_refuses_to_share_what_the_sharer_cannot_see(alice, charlie, bob):
    post = PostFactory(author=alice)
    response = login_client(charlie).post_json(f"/api/posts/{post.pk}/share", {"users": ["bob"]})
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_it_shows_a_deleted_posts_share_as_unavailable(alice, bob, dm):
    post = PostFactory(author=bob)
    login_client(bob).post_json(f"/api/posts/{post.pk}/share", {"rooms": [dm.pk]})
    Post.objects.filter(pk=post.pk).delete()
    item = login_client(alice).get_json(f"/api/chat/rooms/{dm.pk}/messages").json()["items"][0]
    assert item["kind"] == "post"
    assert item["post"]["available"] is False


def test_it_refuses_a_share_into_a_room_the_sharer_is_not_in(charlie, dm):
    post = PostFactory(author=charlie)
    response = login_client(charlie).post_json(f"/api/posts/{post.pk}/share", {"rooms": [dm.pk]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_member"


def test_every_emitter_matches_its_schema(alice, bob, dm):
    message = say(alice, dm, "x")
    frames = [
        events.message_new(message=message, preview=None),
        events.message_ack(message=message),
        events.typing_event(room_id=dm.pk, user=alice),
        events.read_event(room_id=dm.pk, user_id=bob.pk, message_id=message.pk),
        events.sync_done(last=message.pk, more=False),
        events.error_event(code="rate_limited", message="slow down"),
    ]
    for frame in frames:
        assert events.SERVER_FRAME.validate_python(frame) == frame
