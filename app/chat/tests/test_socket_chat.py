"""Chat over /ws/ with two and three users on the real Redis channel layer and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from app.accounts.models import Follow, User
from app.chat import services
from app.chat.consumers import MAX_FRAME_CHARS
from app.chat.events import SERVER_FRAME
from app.chat.models import Membership, Message, Room
from app.core import realtime
from app.posts.models import Post
from app.testing.client import login_client
from app.testing.factories import PostFactory, PostImageFactory, UserFactory
from app.testing.sockets import SocketCommunicator, session_cookie, user_socket

# Consumers and services run in worker threads: everything they read must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


async def receive(socket: SocketCommunicator, count: int = 1) -> list[dict[str, Any]]:
    """``count`` frames, each validated against its schema in app.chat.events."""
    frames = []
    for _ in range(count):
        frame = await socket.receive_json_from(timeout=5)
        SERVER_FRAME.validate_python(frame)
        frames.append(frame)
    return frames


def send_frame(room: Room, text: str, client_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "message.send",
        "room": room.pk,
        "client_id": client_id or str(uuid.uuid4()),
        "text": text,
    }


@pytest.fixture
def people() -> dict[str, User]:
    alice: User = UserFactory.create(username="alice", is_private=True)
    bob: User = UserFactory.create(username="bob")
    Follow.objects.create(follower=bob, followee=alice)
    charlie: User = UserFactory.create(username="charlie")
    return {"alice": alice, "bob": bob, "charlie": charlie}


@pytest.fixture
def cookies(people: dict[str, User]) -> dict[str, bytes]:
    return {name: session_cookie(user) for name, user in people.items()}


@pytest.fixture
def dm(people: dict[str, User]) -> Room:
    room, _ = services.room_dm_get_or_create(user=people["alice"], other=people["bob"])
    return room


@pytest.fixture
def group(people: dict[str, User]) -> Room:
    return services.room_group_create(
        creator=people["alice"], others=[people["bob"], people["charlie"]], title="trio"
    )


def test_it_persists_then_delivers_to_both_members_and_acks_the_sender(people, cookies, dm):
    client_id = str(uuid.uuid4())

    async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
        alice = await user_socket(people["alice"], cookies["alice"])
        bob = await user_socket(people["bob"], cookies["bob"])
        await alice.send_json_to(send_frame(dm, "hello bob", client_id))
        (got,) = await receive(bob)
        stored = await sync_to_async(Message.objects.filter(pk=got["id"]).exists)()
        mine = await receive(alice, 2)
        await alice.disconnect()
        await bob.disconnect()
        return mine, got, stored

    mine, got, stored = run(scenario)
    assert stored, "broadcast before the message was committed"
    assert got["type"] == "message.new"
    assert got["text"] == "hello bob"
    assert got["sender"]["username"] == "alice"
    assert got["client_id"] == client_id
    by_type = {frame["type"]: frame for frame in mine}
    assert by_type["message.new"] == got  # the echo, with the client id
    assert by_type["message.ack"]["id"] == got["id"]
    assert by_type["message.ack"]["client_id"] == client_id


def test_it_delivers_everyones_messages_to_three_members_in_order(people, cookies, group):
    async def scenario() -> dict[str, list[str]]:
        sockets = {name: await user_socket(people[name], cookies[name]) for name in people}
        for i in range(4):
            await sockets["alice"].send_json_to(send_frame(group, f"a{i}"))
            await sockets["bob"].send_json_to(send_frame(group, f"b{i}"))
        texts: dict[str, list[str]] = {}
        for name, socket in sockets.items():
            frames = await receive(socket, 8 if name == "charlie" else 12)
            news = [f for f in frames if f["type"] == "message.new"]
            assert [f["id"] for f in news] == sorted(f["id"] for f in news), "out of order"
            texts[name] = [f["text"] for f in news]
            assert await socket.receive_nothing(timeout=0.2)
            await socket.disconnect()
        return texts

    texts = run(scenario)
    for name in ("alice", "bob", "charlie"):
        assert sorted(texts[name]) == sorted(
            [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)]
        )
        assert [t for t in texts[name] if t.startswith("a")] == ["a0", "a1", "a2", "a3"]
        assert [t for t in texts[name] if t.startswith("b")] == ["b0", "b1", "b2", "b3"]


def test_it_never_duplicates_a_resend_after_a_reconnect(people, cookies, dm):
    client_id = str(uuid.uuid4())

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], bool]:
        bob = await user_socket(people["bob"], cookies["bob"])
        alice = await user_socket(people["alice"], cookies["alice"])
        await alice.send_json_to(send_frame(dm, "once", client_id))
        first = {f["type"]: f for f in await receive(alice, 2)}
        await alice.disconnect()
        alice = await user_socket(people["alice"], cookies["alice"])
        await alice.send_json_to(send_frame(dm, "once", client_id))
        (second,) = await receive(alice)
        await receive(bob)
        nothing_more = await bob.receive_nothing(timeout=0.5)
        await alice.disconnect()
        await bob.disconnect()
        return first, second, nothing_more

    first, second, nothing_more = run(scenario)
    assert second["type"] == "message.ack"
    assert second["id"] == first["message.ack"]["id"]
    assert nothing_more, "the resend was broadcast again"
    assert Message.objects.filter(client_id=client_id).count() == 1


def test_it_replays_what_a_reconnecting_client_missed_in_order(people, cookies, dm):
    async def scenario() -> tuple[int, list[dict[str, Any]]]:
        alice = await user_socket(people["alice"], cookies["alice"])
        bob = await user_socket(people["bob"], cookies["bob"])
        await alice.send_json_to(send_frame(dm, "seen"))
        (seen,) = await receive(bob)
        await receive(alice, 2)
        await bob.disconnect()
        for i in range(3):
            await alice.send_json_to(send_frame(dm, f"missed {i}"))
            await receive(alice, 2)
        bob = await user_socket(people["bob"], cookies["bob"])
        await bob.send_json_to({"type": "sync", "since": seen["id"]})
        replay = await receive(bob, 4)
        await alice.disconnect()
        await bob.disconnect()
        return seen["id"], replay

    seen_id, replay = run(scenario)
    assert [f["text"] for f in replay[:3]] == ["missed 0", "missed 1", "missed 2"]
    assert all(f["id"] > seen_id for f in replay[:3])
    assert replay[3] == {"type": "sync.done", "last": replay[2]["id"], "more": False}


@pytest.mark.parametrize(
    "frame",
    [
        lambda room: send_frame(room, "let me in"),
        lambda room: {"type": "typing", "room": room.pk},
        lambda room: {"type": "read", "room": room.pk, "message": 1},
    ],
    ids=["send", "typing", "read"],
)
def test_it_refuses_a_non_members_frame_and_stores_nothing(people, cookies, dm, frame):
    async def scenario() -> tuple[dict[str, Any], bool]:
        bob = await user_socket(people["bob"], cookies["bob"])
        charlie = await user_socket(people["charlie"], cookies["charlie"])
        await charlie.send_json_to(frame(dm))
        (error,) = await receive(charlie)
        quiet = await bob.receive_nothing(timeout=0.3)
        await bob.disconnect()
        await charlie.disconnect()
        return error, quiet

    error, quiet = run(scenario)
    assert error["type"] == "error"
    assert error["code"] == "not_member"
    assert error["room"] == dm.pk
    assert quiet
    assert not Message.objects.filter(room=dm).exists()


def test_it_rate_limits_a_flood_and_keeps_the_socket_open(people, cookies, dm, settings):
    settings.CHAT_RATE_BURST = 3
    settings.CHAT_RATE_PER_SECOND = 0.01

    async def scenario() -> list[dict[str, Any]]:
        alice = await user_socket(people["alice"], cookies["alice"])
        for i in range(4):
            await alice.send_json_to(send_frame(dm, f"flood {i}"))
        frames = await receive(alice, 7)
        await alice.send_json_to({"type": "sync", "since": 0})
        frames += await receive(alice, 4)
        await alice.disconnect()
        return frames

    frames = run(scenario)
    errors = [f for f in frames if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["rate_limited"]
    assert Message.objects.filter(room=dm).count() == 3
    assert frames[-1]["type"] == "sync.done"


def test_it_keys_the_rate_limit_under_the_apps_redis_prefix(people, dm):
    from django_redis import get_redis_connection

    services.message_send(sender=people["alice"], room_id=dm.pk, client_id=uuid.uuid4(), text="hi")
    conn = get_redis_connection("default")
    keys = [k.decode() for k in conn.scan_iter(match=f"*chat:rate:{people['alice'].pk}")]
    assert keys == [f"{settings.REDIS_KEY_PREFIX}:chat:rate:{people['alice'].pk}"]
    assert 0 < conn.pttl(keys[0]) <= 5000


def _tokens(user: User) -> float:
    from django_redis import get_redis_connection

    raw = get_redis_connection("default").hget(services._key("rate", user.pk), "v")
    return float(raw)


def test_a_resend_costs_no_token_even_when_the_bucket_is_empty(people, dm, settings):
    settings.CHAT_RATE_BURST = 2
    settings.CHAT_RATE_PER_SECOND = 0.001
    alice, client_id = people["alice"], uuid.uuid4()
    first, created = services.message_send(
        sender=alice, room_id=dm.pk, client_id=client_id, text="one"
    )
    assert created
    assert _tokens(alice) == pytest.approx(1, abs=0.01)
    again, created = services.message_send(
        sender=alice, room_id=dm.pk, client_id=client_id, text="one"
    )
    assert (again.pk, created) == (first.pk, False)
    assert _tokens(alice) == pytest.approx(1, abs=0.01), "the resend kept its token"
    services.message_send(sender=alice, room_id=dm.pk, client_id=uuid.uuid4(), text="two")
    with pytest.raises(services.ApiError) as refused:
        services.message_send(sender=alice, room_id=dm.pk, client_id=uuid.uuid4(), text="3")
    assert refused.value.code == "rate_limited"
    late, created = services.message_send(
        sender=alice, room_id=dm.pk, client_id=client_id, text="one"
    )
    assert (late.pk, created) == (first.pk, False)
    assert Message.objects.filter(room=dm).count() == 2


def test_a_send_persists_in_one_statement_and_releases_the_room_lock(
    people, dm, django_assert_num_queries
):
    from django_redis import get_redis_connection

    with django_assert_num_queries(1):
        message, _ = services.message_send(
            sender=people["bob"], room_id=dm.pk, client_id=uuid.uuid4(), text="hi"
        )
    dm.refresh_from_db()
    assert dm.last_message_id == message.pk
    assert dm.memberships.get(user=people["bob"]).last_read_message_id == message.pk
    assert dm.memberships.get(user=people["alice"]).last_read_message_id == 0
    assert not get_redis_connection("default").exists(services._key("room-order", dm.pk))


def test_it_publishes_on_the_channel_the_pubsub_layer_subscribes_groups_to():
    from channels.layers import get_channel_layer

    async def layer_name() -> str:
        layer = get_channel_layer()
        assert layer is not None
        return str(layer._get_layer()._get_group_channel_name("user.7"))

    prefix = realtime.pubsub_prefix()
    assert prefix is not None
    assert prefix == f"{settings.REDIS_KEY_PREFIX}:asgi"
    assert realtime.group_channel(prefix, "user.7") == run(layer_name)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "shout", "room": 1}', "bad_frame"),
        ('{"type": "message.send", "room": 1, "text": "no client id"}', "bad_frame"),
        ('{"type": "message.send", "room": "1", "client_id": "x", "text": "hi"}', "bad_frame"),
        ('{"type": "sync", "since": -1}', "bad_frame"),
        (json.dumps({"type": "typing", "room": 1, "pad": "x" * MAX_FRAME_CHARS}), "too_large"),
        (None, "bad_frame"),
    ],
    ids=["json", "array", "type", "client-id", "room-string", "since", "size", "binary"],
)
def test_it_answers_a_malformed_frame_with_an_error_and_stays_open(people, cookies, dm, raw, code):
    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        alice = await user_socket(people["alice"], cookies["alice"])
        if raw is None:
            await alice.send_input({"type": "websocket.receive", "bytes": b"\x00\x01"})
        else:
            await alice.send_text_to(raw)
        (error,) = await receive(alice)
        await alice.send_json_to(send_frame(dm, "still here"))
        after = await receive(alice, 2)
        await alice.disconnect()
        return error, after

    error, after = run(scenario)
    assert error["type"] == "error"
    assert error["code"] == code
    assert {f["type"] for f in after} == {"message.new", "message.ack"}


def test_it_relays_typing_to_the_others_once_per_window(people, cookies, dm):
    async def scenario() -> tuple[list[dict[str, Any]], bool, bool]:
        alice = await user_socket(people["alice"], cookies["alice"])
        bob = await user_socket(people["bob"], cookies["bob"])
        await alice.send_json_to({"type": "typing", "room": dm.pk})
        await alice.send_json_to({"type": "typing", "room": dm.pk})
        frames = await receive(bob)
        throttled = await bob.receive_nothing(timeout=0.3)
        not_to_self = await alice.receive_nothing(timeout=0.1)
        await alice.disconnect()
        await bob.disconnect()
        return frames, throttled, not_to_self

    frames, throttled, not_to_self = run(scenario)
    assert frames == [
        {
            "type": "typing",
            "room": dm.pk,
            "user": {"id": people["alice"].pk, "username": "alice", "avatar_url": None},
        }
    ]
    assert throttled
    assert not_to_self


def test_it_broadcasts_a_read_receipt_and_clears_the_unread_count(people, cookies, dm):
    # Receipts go to the others once the reader has accepted the room (privacy rules in
    # docs/reliability.md): bob has, as if he had written in it before.
    Membership.objects.filter(room=dm, user=people["bob"]).update(accepted_at=timezone.now())

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        alice = await user_socket(people["alice"], cookies["alice"])
        bob = await user_socket(people["bob"], cookies["bob"])
        await alice.send_json_to(send_frame(dm, "read me"))
        (new,) = await receive(bob)
        await receive(alice, 2)
        await bob.send_json_to({"type": "read", "room": dm.pk, "message": new["id"]})
        (receipt,) = await receive(alice)
        (own,) = await receive(bob)
        await alice.disconnect()
        await bob.disconnect()
        return new, receipt, own

    new, receipt, own = run(scenario)
    assert own == receipt  # the reader's other devices clear their badge too
    assert receipt == {
        "type": "read",
        "room": dm.pk,
        "user": people["bob"].pk,
        "message": new["id"],
    }
    inbox = login_client(people["bob"]).get_json("/api/chat/rooms").json()
    assert inbox["items"][0]["unread"] == 0


def test_it_delivers_an_http_send_live(people, cookies, dm):
    client = login_client(people["alice"])
    client_id = str(uuid.uuid4())

    async def scenario() -> tuple[int, dict[str, Any]]:
        bob = await user_socket(people["bob"], cookies["bob"])
        response = await sync_to_async(client.post_json)(
            f"/api/chat/rooms/{dm.pk}/messages", {"client_id": client_id, "text": "over http"}
        )
        (frame,) = await receive(bob)
        await bob.disconnect()
        return response.status_code, frame

    status, frame = run(scenario)
    assert status == 201
    assert frame["text"] == "over http"
    assert frame["client_id"] == client_id


def test_it_previews_a_private_post_only_for_recipients_who_may_see_it(people, cookies, group):
    post = PostFactory(author=people["alice"], caption="secret garden " * 20)
    PostImageFactory(post=post, position=0)

    async def scenario() -> dict[str, dict[str, Any]]:
        sockets = {name: await user_socket(people[name], cookies[name]) for name in people}
        frame = send_frame(group, "look") | {"post": post.pk}
        await sockets["alice"].send_json_to(frame)
        got = {}
        for name, socket in sockets.items():
            frames = await receive(socket, 2 if name == "alice" else 1)
            got[name] = next(f for f in frames if f["type"] == "message.new")
            await socket.disconnect()
        return got

    got = run(scenario)
    for name in ("alice", "bob"):
        preview = got[name]["post"]
        assert preview["available"] is True
        assert preview["id"] == post.pk
        assert preview["author"]["username"] == "alice"
        assert preview["thumb_url"].endswith(".jpg")
        assert len(preview["caption"]) <= 100
    assert got["charlie"]["kind"] == "post"
    assert got["charlie"]["post"] == {
        "id": None,
        "available": False,
        "author": None,
        "thumb_url": None,
        "caption": "",
    }


def test_it_syncs_a_deleted_posts_share_as_unavailable(people, cookies, dm):
    post = PostFactory(author=people["bob"])
    services.message_send(
        sender=people["bob"], room_id=dm.pk, client_id=uuid.uuid4(), text="", post_id=post.pk
    )
    Post.objects.filter(pk=post.pk).delete()

    async def scenario() -> list[dict[str, Any]]:
        alice = await user_socket(people["alice"], cookies["alice"])
        await alice.send_json_to({"type": "sync", "since": 0})
        frames = await receive(alice, 2)
        await alice.disconnect()
        return frames

    share, done = run(scenario)
    assert share["kind"] == "post"
    assert share["post"]["available"] is False
    assert done["type"] == "sync.done"
