"""A property-based fuzzer for /ws/: valid, mutated and hostile frames of every type, sent to
the real consumer over the Redis channel layer and PostgreSQL.

Each generated frame carries what the protocol promises for it, and after each one a ``ping``
marks where its direct replies end. The properties: the socket never closes or fails; every
server frame matches its schema in app.chat.events; an invalid frame gets exactly one
``error``; a ``message.send`` gets exactly one ``message.ack`` or ``error`` naming its
client id; a ``sync`` ends in one ``sync.done`` or one ``error``; a ``ping`` one ``pong``;
``typing`` and ``read`` nothing or one ``error``; and no frame ever gets ``internal_error``.

CI runs a fixed budget with a fixed seed. A longer local run:
``LAB_WS_FUZZ_EXAMPLES=20000 LAB_WS_FUZZ_SEED=7 pytest app/chat/tests/test_socket_fuzz.py -s``
(``-s`` shows the count of frames sent).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.accounts.models import User
from app.chat import services
from app.chat.consumers import MAX_FRAME_CHARS
from app.chat.events import CLIENT_FRAME_TYPES, ID_MAX, SERVER_FRAME
from app.chat.models import MESSAGE_MAX
from app.testing.factories import UserFactory
from app.testing.sockets import SocketCommunicator, session_cookie, user_socket

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("LAB_WS_FUZZ_EXAMPLES", "100"))
SEED = os.environ.get("LAB_WS_FUZZ_SEED")
INVALID_CODES = {"bad_json", "bad_frame", "too_large"}
FIELDS = {"type", "room", "message", "since", "client_id", "text", "post"}


@dataclass(frozen=True)
class Case:
    """One frame to send and the reply the protocol promises for it."""

    expect: str  # "error", "send", "sync", "pong" or "none-or-error"
    text: str | None = None
    data: bytes | None = None
    client_id: str | None = None


# --- Strategies ---------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
plain_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=60)
unusual_text = st.sampled_from(
    [
        "it\u2019s o\u02bcclock",
        "cafe\u0301",
        "\u05e9\u05dc\u05d5\u05dd \u202bx\u202c",
        "\U0001f468\u200d\U0001f469",
        "\ufeff\u200b",
        "   ",
        "",
        "x" * MESSAGE_MAX,
        "line\nbreak\r\n\ttab",
    ]
)
controls = st.sampled_from([chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]])
message_text = plain_text | unusual_text


def ids(real: list[int]) -> st.SearchStrategy[int]:
    """A room or message id: mostly the first real one (so frames reach the services), or
    another real one, or any."""
    weighted = [real[0]] * 5 + real[1:]
    return st.tuples(st.integers(0, len(weighted)), st.integers(1, ID_MAX)).map(
        lambda pick: weighted[pick[0]] if pick[0] < len(weighted) else pick[1]
    )


def valid_frames(rooms: list[int], messages: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    send = st.fixed_dictionaries(
        {
            "type": st.just("message.send"),
            "room": ids(rooms),
            "client_id": st.uuids().map(str),
            "text": message_text,
        },
        optional={"post": st.none() | st.integers(1, ID_MAX)},
    )
    return st.one_of(
        send,
        st.fixed_dictionaries({"type": st.just("typing"), "room": ids(rooms)}),
        st.fixed_dictionaries(
            {"type": st.just("read"), "room": ids(rooms), "message": ids(messages)}
        ),
        st.fixed_dictionaries({"type": st.just("sync"), "since": st.integers(0, ID_MAX)}),
        st.just({"type": "ping"}),
    )


not_an_id = (
    st.text()
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.none()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.integers(max_value=0)
    | st.integers(min_value=ID_MAX + 1)
)
WRONG: dict[str, st.SearchStrategy[Any]] = {
    "room": not_an_id,
    "message": not_an_id,
    "post": not_an_id.filter(lambda v: v is not None),
    "since": not_an_id.filter(lambda v: v != 0),
    "client_id": json_values.filter(lambda v: not isinstance(v, str))
    | st.sampled_from(["", "not-a-uuid", "6f1c1a52-8d0e-4a40-9a8a-2b8f0d5b8a1"]),
    "text": json_values.filter(lambda v: not isinstance(v, str))
    | st.builds(lambda a, c, b: a + c + b, plain_text, controls, plain_text)
    | st.integers(MESSAGE_MAX + 1, MESSAGE_MAX + 50).map(lambda n: "y" * n),
    "type": json_values.filter(lambda v: v not in CLIENT_FRAME_TYPES),
}


@st.composite
def mutated(draw: st.DrawFn, frames: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid frame with one thing broken: a field mistyped, a required one dropped, or an
    unknown one added."""
    frame = dict(draw(frames))
    fields = [f for f in ("type", "room", "message", "since", "client_id") if f in frame]
    how = draw(st.sampled_from(["mistype", "drop", "extra"]))
    if how == "drop" and fields:
        del frame[draw(st.sampled_from(fields))]
    elif how == "extra":
        name = draw(st.text(min_size=1).filter(lambda k: k not in FIELDS))
        frame[name] = draw(json_values)
    else:
        field = draw(st.sampled_from([*frame, *(["text", "post"] if "client_id" in frame else [])]))
        frame[field] = draw(WRONG[field])
    return frame


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


hostile_text = st.one_of(
    st.integers(1025, 20_000).map(nested),
    st.integers(1025, 5_000).map(lambda n: '{"type": "sync", "since": ' + nested(n) + "}"),
    st.integers(1, 1000).map(lambda n: '{"type": "ping", "x": ' + nested(n) + "}"),
    st.text().filter(lambda s: not s.lstrip().startswith("{")),  # never a JSON object
    json_values.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
    st.dictionaries(st.text().filter(lambda k: k != "type"), json_values, max_size=5).map(
        json.dumps
    ),
    st.integers(MAX_FRAME_CHARS + 1, MAX_FRAME_CHARS * 2).map(
        lambda n: json.dumps({"type": "ping", "pad": "z" * n})
    ),
    st.sampled_from(["\\ud800", "\\udfff", "\\ud83d\\u0041"]).map(
        lambda esc: (
            '{"type": "message.send", "room": 1, "client_id": "'
            + str(uuid.UUID(int=1))
            + '", "text": "'
            + esc
            + '"}'
        )
    ),
)


def cases(rooms: list[int], messages: list[int]) -> st.SearchStrategy[Case]:
    frames = valid_frames(rooms, messages)

    def of_valid(frame: dict[str, Any]) -> Case:
        kind = frame["type"]
        expect = {"message.send": "send", "sync": "sync", "ping": "pong"}.get(kind, "none-or-error")
        return Case(expect=expect, text=json.dumps(frame), client_id=frame.get("client_id"))

    # A message with a control character: valid in every other way, aimed at a real room.
    control_send = st.builds(
        lambda room, client_id, a, c, b: {
            "type": "message.send",
            "room": room,
            "client_id": str(client_id),
            "text": a + c + b,
        },
        st.sampled_from(rooms),
        st.uuids(),
        plain_text,
        controls,
        st.just("") | plain_text,
    )
    return st.one_of(
        frames.map(of_valid),
        mutated(frames).map(lambda f: Case(expect="error", text=json.dumps(f))),
        control_send.map(lambda f: Case(expect="error", text=json.dumps(f))),
        hostile_text.map(lambda raw: Case(expect="error", text=raw)),
        st.binary(max_size=64).map(lambda data: Case(expect="error", data=data)),
    )


# --- The run ------------------------------------------------------------------------------


class Probe:
    """One open socket that the whole run goes through, and what it has seen."""

    def __init__(self, socket: SocketCommunicator) -> None:
        self.socket = socket
        self.sent = 0
        # What each kind of case got, e.g. "send: message.ack" or "error: bad_json".
        self.outcomes: Counter[str] = Counter()

    async def frame(self) -> dict[str, Any]:
        output = await self.socket.receive_output(timeout=10)
        assert output["type"] == "websocket.send", f"the socket closed: {output}"
        frame = json.loads(output["text"])
        SERVER_FRAME.validate_python(frame)
        assert frame.get("code") != "internal_error", frame
        assert isinstance(frame, dict)
        return frame

    async def check(self, case: Case) -> None:
        """Send ``case`` and judge its replies; after a failure, skip what is still queued so
        the next example (hypothesis shrinking) starts in step."""
        try:
            await self._check(case)
        except AssertionError:
            while not await self.socket.receive_nothing(timeout=0.2):
                await self.socket.receive_output(timeout=1)
            raise

    async def _check(self, case: Case) -> None:
        if case.data is not None:
            await self.socket.send_input({"type": "websocket.receive", "bytes": case.data})
        else:
            await self.socket.send_text_to(case.text or "")
        await self.socket.send_text_to('{"type": "ping"}')
        self.sent += 2
        pongs = 2 if case.expect == "pong" else 1
        direct: list[dict[str, Any]] = []
        while pongs:
            frame = await self.frame()
            if frame["type"] == "pong":
                pongs -= 1
            elif frame["type"] in ("message.new", "read", "typing"):
                continue  # relayed through the user's group; may arrive at any time
            else:
                direct.append(frame)
        self.judge(case, direct)

    def judge(self, case: Case, direct: list[dict[str, Any]]) -> None:
        kinds = [f["type"] for f in direct]
        got = ",".join(f.get("code") or f["type"] for f in direct) or "nothing"
        self.outcomes[f"{case.expect}: {got}"] += 1
        if case.expect == "error":
            assert kinds == ["error"], (case, direct)
            assert direct[0]["code"] in INVALID_CODES, (case, direct)
        elif case.expect == "send":
            assert len(direct) == 1, (case, direct)
            assert kinds[0] in ("message.ack", "error"), (case, direct)
            assert direct[0]["client_id"] == case.client_id, (case, direct)
        elif case.expect == "sync":
            assert kinds in (["sync.done"], ["error"]), (case, direct)
        elif case.expect == "pong":
            assert kinds == [], (case, direct)
        else:
            assert kinds in ([], ["error"]), (case, direct)


def test_the_socket_answers_every_fuzzed_frame_and_never_drops(settings: Any) -> None:
    # The fuzzer sends far faster than a person; the limits have their own tests.
    settings.CHAT_FRAME_BURST = 10**9
    settings.CHAT_RATE_BURST = 10**9
    settings.CHAT_SYNC_BURST = 10**9
    alice: User = UserFactory.create(username="alice")
    bob: User = UserFactory.create(username="bob")
    charlie: User = UserFactory.create(username="charlie")
    dm, _ = services.room_dm_get_or_create(user=alice, other=bob)
    foreign, _ = services.room_dm_get_or_create(user=bob, other=charlie)
    said, _ = services.message_send(sender=bob, room_id=dm.pk, client_id=uuid.uuid4(), text="hi")
    cookie = session_cookie(alice)
    loop = asyncio.new_event_loop()
    probe = Probe(loop.run_until_complete(user_socket(alice, cookie)))

    budget = settings_for_run()

    @budget
    @given(st.lists(cases([dm.pk, foreign.pk], [said.pk]), min_size=1, max_size=4))
    def fuzz(batch: list[Case]) -> None:
        for case in batch:
            loop.run_until_complete(probe.check(case))

    try:
        fuzz()
        print(f"\nws fuzz: {probe.sent} frames over {EXAMPLES} examples, socket still open")
        for outcome, count in sorted(probe.outcomes.items()):
            print(f"  {count:6d}  {outcome}")
    finally:
        loop.run_until_complete(probe.socket.disconnect())
        loop.close()


def settings_for_run() -> Any:
    """The CI budget (fixed seed), or the one the environment asks for."""
    budget = hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    if SEED is None:
        return budget

    def seeded(test: Any) -> Any:
        return seed(int(SEED))(budget(test))

    return seeded
