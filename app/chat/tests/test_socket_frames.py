"""Hostile frames over /ws/: each gets one ``error`` frame and the socket stays open.

Nesting, control characters, broken JSON and encodings, non-object values, every field of
every frame type given the wrong type, unknown types, over-long text and binary frames.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from django.db import OperationalError

from app.accounts.models import User
from app.chat import services
from app.chat.consumers import MAX_ERROR_CHARS, MAX_FRAME_CHARS, frame_parse
from app.chat.events import SERVER_FRAME, ErrorEvent, SendFrame
from app.chat.models import MESSAGE_MAX, Message, Room
from app.testing.factories import UserFactory
from app.testing.sockets import session_cookie, user_socket

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID = "6f1c1a52-8d0e-4a40-9a8a-2b8f0d5b8a11"
# One well-formed frame of each type; the type-confusion cases below break one field each.
VALID: dict[str, dict[str, Any]] = {
    "message.send": {"type": "message.send", "room": 1, "client_id": CLIENT_ID, "text": "hi"},
    "typing": {"type": "typing", "room": 1},
    "read": {"type": "read", "room": 1, "message": 1},
    "sync": {"type": "sync", "since": 0},
    "ping": {"type": "ping"},
}
# Values of every JSON type but the right one (and out-of-range ones), per field.
WRONG: dict[str, list[Any]] = {
    "room": ["1", 1.0, 1.5, True, None, [], {}, 0, -1, 2**63, 2**64],
    "message": ["1", 1.0, True, None, [1], {"id": 1}, 0, 2**63],
    "since": ["0", 0.0, False, None, [], {}, -1, 2**63],
    "client_id": [1, 1.5, True, None, [], {}, "", "not-a-uuid", CLIENT_ID + "0"],
    "text": [1, 1.5, True, [], {}, ["hi"], "x" * (MESSAGE_MAX + 1)],
    "post": ["1", 1.5, True, [], {}, 0, 2**63],
    "type": [1, True, None, [], {}, "MESSAGE.SEND", "message.send ", "shout", ""],
}
CONFUSED = [
    pytest.param({**VALID[kind], field: value}, id=f"{kind}.{field}={value!r}"[:60])
    for kind, frame in VALID.items()
    for field in [*frame, *(["post"] if kind == "message.send" else [])]
    for value in WRONG[field]
]
HOSTILE = [
    pytest.param("[" * 1025 + "]" * 1025, "bad_json", id="nested-1025"),
    pytest.param(
        '{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}", "bad_json", id="nested-5000"
    ),
    pytest.param("[" * 1024 + "]" * 1024, "bad_frame", id="nested-1024-array"),
    pytest.param(
        '{"type": "ping", "x": ' + "[" * 1000 + "]" * 1000 + "}", "bad_frame", id="nested-field"
    ),
    pytest.param(
        json.dumps({**VALID["message.send"], "text": "@"}).replace("@", "\\ud800"),
        "bad_json",
        id="lone-surrogate",
    ),
    pytest.param('"\ud83d"', "bad_json", id="raw-surrogate"),
    pytest.param("", "bad_json", id="empty"),
    pytest.param("NaN", "bad_json", id="nan"),
    pytest.param('{"type": "sync", "since": 1e999}', "bad_json", id="infinity"),
    pytest.param('{"type": "ping"} {"type": "ping"}', "bad_json", id="two-values"),
    pytest.param('{"type": "ping", "type": "sync"}', "bad_frame", id="duplicate-key"),
    pytest.param("null", "bad_frame", id="null"),
    pytest.param("true", "bad_frame", id="bool"),
    pytest.param("42", "bad_frame", id="number"),
    pytest.param('"ping"', "bad_frame", id="string"),
    pytest.param('[{"type": "ping"}]', "bad_frame", id="array"),
    pytest.param("{}", "bad_frame", id="no-type"),
    pytest.param('{"type": "ping", "extra": 1}', "bad_frame", id="extra-field"),
    pytest.param('{"type": "message.send", "room": 1}', "bad_frame", id="missing-fields"),
    pytest.param(json.dumps({"type": "x" * 10_000}), "bad_frame", id="long-type"),
    pytest.param(
        json.dumps({"type": "ping", "pad": "x" * MAX_FRAME_CHARS}), "too_large", id="size"
    ),
]


def test_it_refuses_each_type_confused_field() -> None:
    # Cheap, socket-free sweep of every case; the socket tests below run a sample end to end.
    for case in CONFUSED:
        (frame,) = case.values
        error = frame_parse(json.dumps(frame))
        assert isinstance(error, dict), f"{case.id} was accepted"
        assert error["code"] == "bad_frame", case.id
        assert len(error["message"]) <= MAX_ERROR_CHARS


@pytest.mark.parametrize(("raw", "code"), HOSTILE)
def test_it_refuses_a_hostile_frame_with_one_error(raw: str, code: str) -> None:
    error = frame_parse(raw)
    assert isinstance(error, dict), "accepted"
    assert SERVER_FRAME.validate_python(error) == error
    assert error["code"] == code
    assert len(error["message"]) <= MAX_ERROR_CHARS, "the error echoes the frame back"


def test_it_names_the_depth_limit() -> None:
    error = frame_parse("[" * 2000 + "]" * 2000)
    assert isinstance(error, dict)
    assert "1024 levels" in error["message"]


@pytest.mark.parametrize(
    "char",
    ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f"],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_it_refuses_a_control_character_in_text(char: str) -> None:
    error = frame_parse(json.dumps({**VALID["message.send"], "text": f"a{char}b"}))
    assert isinstance(error, dict)
    assert error["code"] == "bad_frame"
    assert error["message"].startswith("message.send.text:")
    assert "control characters" in error["message"]


@pytest.mark.parametrize(
    "text",
    [
        "line one\nline two\r\n\tindented",
        "it\u2019s o\u02bcclock",  # apostrophe-like and modifier letters
        "cafe\u0301 n\u0303",  # combining marks
        "\u05e9\u05dc\u05d5\u05dd \u202bembedded\u202c \u0645\u0631\u062d\u0628\u0627",  # RTL
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 \ufeff\u200b",  # ZWJ, BOM, zero width
        "x" * MESSAGE_MAX,
    ],
    ids=["newlines", "apostrophes", "combining", "rtl", "zwj", "longest"],
)
def test_it_accepts_unusual_but_valid_text(text: str) -> None:
    frame = frame_parse(json.dumps({**VALID["message.send"], "text": text}))
    assert isinstance(frame, SendFrame), frame
    assert frame.text == text


# --- End to end, on the real consumer ------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_frame_limit(settings: Any) -> None:
    """These sockets send hundreds of frames at once; the frame limit has its own tests."""
    settings.CHAT_FRAME_BURST = 10_000


@pytest.fixture
def pair() -> tuple[User, User, Room]:
    alice: User = UserFactory.create(username="alice")
    bob: User = UserFactory.create(username="bob")
    room, _ = services.room_dm_get_or_create(user=alice, other=bob)
    return alice, bob, room


async def _error_then_alive(alice: User, cookie: bytes, frames: list[Any]) -> list[ErrorEvent]:
    """Send each frame; return the one reply each got, then prove the socket still answers."""
    socket = await user_socket(alice, cookie)
    errors = []
    for frame in frames:
        if isinstance(frame, bytes):
            await socket.send_input({"type": "websocket.receive", "bytes": frame})
        else:
            await socket.send_text_to(frame)
        reply = await socket.receive_json_from(timeout=5)
        errors.append(SERVER_FRAME.validate_python(reply))
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}, "the socket died"
    assert await socket.receive_nothing(timeout=0.1)
    await socket.disconnect()
    return errors


def test_the_socket_survives_every_hostile_frame(pair: tuple[User, User, Room]) -> None:
    alice, _, _ = pair
    raws = [case.values[0] for case in HOSTILE]
    binaries = [b"\xff\xfe\x00", b"\xc3\x28", json.dumps(VALID["ping"]).encode()]
    errors = asyncio.run(_error_then_alive(alice, session_cookie(alice), [*raws, *binaries]))
    assert [e["code"] for e in errors] == [
        *(case.values[1] for case in HOSTILE),
        "bad_frame",
        "bad_frame",
        "bad_frame",
    ]


def test_the_socket_survives_every_type_confused_frame(pair: tuple[User, User, Room]) -> None:
    alice, _, _ = pair
    raws = [json.dumps(case.values[0]) for case in CONFUSED]
    errors = asyncio.run(_error_then_alive(alice, session_cookie(alice), raws))
    assert {e["code"] for e in errors} == {"bad_frame"}
    assert len(errors) == len(CONFUSED)


def test_a_nul_in_a_message_is_refused_naming_the_send_and_stores_nothing(
    pair: tuple[User, User, Room],
) -> None:
    alice, _, room = pair
    client_id = str(uuid.uuid4())
    frame = {"type": "message.send", "room": room.pk, "client_id": client_id, "text": "a\x00b"}
    (error,) = asyncio.run(_error_then_alive(alice, session_cookie(alice), [json.dumps(frame)]))
    assert error["code"] == "bad_frame"
    assert error["message"].startswith("message.send.text:")
    assert not Message.objects.filter(room=room).exists()


def test_a_deeply_nested_frame_is_refused_and_the_socket_stays_open(
    pair: tuple[User, User, Room],
) -> None:
    alice, _, _ = pair
    deep = '{"type": "sync", "since": ' + "[" * 3000 + "]" * 3000 + "}"
    (error,) = asyncio.run(_error_then_alive(alice, session_cookie(alice), [deep]))
    assert error["code"] == "bad_json"


@pytest.mark.parametrize(
    ("failure", "code"),
    [(RuntimeError("a bug"), "internal_error"), (OperationalError("db gone"), "unavailable")],
    ids=["bug", "database-down"],
)
def test_a_failing_frame_costs_that_frame_not_the_socket(
    pair: tuple[User, User, Room], monkeypatch: pytest.MonkeyPatch, failure: Exception, code: str
) -> None:
    alice, _, room = pair

    def fail(**kwargs: Any) -> bool:
        raise failure

    monkeypatch.setattr(services, "typing_send", fail)
    frame = json.dumps({"type": "typing", "room": room.pk})
    (error,) = asyncio.run(_error_then_alive(alice, session_cookie(alice), [frame]))
    assert error["code"] == code
    assert error["room"] == room.pk
