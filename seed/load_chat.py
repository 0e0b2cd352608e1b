"""The seed's chat phase: rooms (1:1 and small groups), memberships with read state, and
message histories."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seed.copy import text_escape, ts_text
from seed.loader import Loader
from seed.plan import Plan
from seed.sampling import DAY_US, PH_CHAT, Array, GroupSampler, chunks, rhythm_ts, rng_for
from seed.vocab import CHAT_EN, CHAT_KO, GROUP_TITLES_EN, GROUP_TITLES_KO

ROOM_COLUMNS = ["id", "kind", "title", "dm_key", "created_at", "last_message_at"]
ROOM_COLUMNS += ["created_by_id", "last_message_id"]
MEMBER_COLUMNS = ["id", "joined_at", "last_read_message_id", "user_id", "room_id"]
MESSAGE_COLUMNS = ["id", "kind", "text", "client_id", "created_at", "post_id", "sender_id"]
MESSAGE_COLUMNS += ["room_id"]


@dataclass
class _Rooms:
    """Every room's members (0-based user indexes), creation time and message count."""

    members: list[list[int]]
    created: Array
    messages: Array


def _rooms_draw(plan: Plan) -> _Rooms:
    preset, n = plan.preset, plan.n_users
    rng = rng_for(plan.seed, PH_CHAT)
    users = plan.users_by_comm()
    chatty = GroupSampler(np.zeros(n, np.int64), plan.like_w, 1)
    want = preset.rooms
    n_groups = int(want * 0.15)
    # DMs: mostly within a community, deduplicated on the unordered pair like dm_key.
    a = chatty.any(rng, int((want - n_groups) * 1.3))
    b = np.where(
        rng.random(len(a)) < 0.7, users.within(rng, plan.community[a]), users.any(rng, len(a))
    )
    keep = a != b
    low, high = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    _, first = np.unique(low * n + high, return_index=True)
    first = np.sort(first)[: want - n_groups]
    dm_members = np.stack([low[first], high[first]], axis=1)
    swap = rng.random(len(dm_members)) < 0.5
    dm_members[swap] = dm_members[swap][:, ::-1]
    sizes = np.minimum(3 + rng.geometric(0.45, n_groups) - 1, 8)
    founders = chatty.any(rng, n_groups)
    group_members = [
        [int(f), *users.within(rng, np.full(int(s) * 2, plan.community[f])).tolist()]
        for f, s in zip(founders, sizes, strict=True)
    ]
    group_members = [
        list(dict.fromkeys(g))[: int(s)] for g, s in zip(group_members, sizes, strict=True)
    ]
    rooms: list[list[int]] = [list(map(int, pair)) for pair in dm_members]
    rooms += [g for g in group_members if len(g) >= 3]
    order = rng.permutation(len(rooms))
    rooms = [rooms[i] for i in order]
    r = len(rooms)
    created = np.sort(rhythm_ts(rng, r, plan.start_us - 90 * DAY_US, plan.end_us - DAY_US))
    weight = rng.lognormal(0, 1.2, r)
    per_room = 1 + rng.multinomial(max(0, preset.messages - r), weight / weight.sum())
    return _Rooms(rooms, created, per_room)


@dataclass
class _Messages:
    """One chunk's message lines, their timestamps, and each room's first and last message."""

    lines: list[str]
    stamps: list[str]
    first_id: dict[int, int]
    # room -> (message id, index in the chunk's stamps)
    last_id: dict[int, tuple[int, int]]


def _client_id(raw: bytearray) -> str:
    """A version-4 UUID's text from 16 random bytes."""
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _messages(
    plan: Plan, rooms: _Rooms, crng: np.random.Generator, lo: int, hi: int, ids: dict[str, int]
) -> _Messages:
    counts = rooms.messages[lo:hi]
    total = int(counts.sum())
    room_of = np.repeat(np.arange(lo, hi), counts)
    created = rooms.created
    span = plan.end_us - created[room_of]
    ts = created[room_of] + 1 + (crng.random(total) * (span - 1)).astype(np.int64)
    ts = ts[np.lexsort((ts, room_of))]
    member_pick = crng.integers(0, 1 << 30, total).tolist()
    is_share = crng.random(total) < 0.08
    visible = np.searchsorted(plan.post_ts, ts)
    shared = (crng.random(total) * visible).astype(np.int64)
    is_share &= visible > 0
    phrase = crng.integers(0, 10, total).tolist()
    uuid_bytes = crng.bytes(16 * total)
    chat = [[text_escape(t) for t in CHAT_EN], [text_escape(t) for t in CHAT_KO]]
    out = _Messages([], ts_text(ts), {}, {})
    share_l, shared_l, room_l = is_share.tolist(), shared.tolist(), room_of.tolist()
    for i in range(total):
        room = room_l[i]
        members = rooms.members[room]
        sender = members[member_pick[i] % len(members)]
        client = _client_id(bytearray(uuid_bytes[16 * i : 16 * i + 16]))
        mid = ids["msg"]
        ids["msg"] += 1
        lang = 1 if plan.korean[sender] else 0
        if share_l[i]:
            kind, text, post = "post", "", str(shared_l[i] + 1)
        else:
            kind, text, post = "text", chat[lang][phrase[i]], "\\N"
        out.lines.append(
            f"{mid}\t{kind}\t{text}\t{client}\t{out.stamps[i]}\t{post}\t{sender + 1}\t{room + 1}\n"
        )
        out.first_id.setdefault(room, mid)
        out.last_id[room] = (mid, i)
    return out


def _room_rows(
    plan: Plan, rooms: _Rooms, messages: _Messages, lo: int, hi: int, ids: dict[str, int]
) -> tuple[list[str], list[str]]:
    """The chunk's room lines and membership lines, read state from its messages."""
    titles = [GROUP_TITLES_EN, GROUP_TITLES_KO]
    room_created = ts_text(rooms.created[lo:hi])
    room_lines, member_lines = [], []
    for room in range(lo, hi):
        members = rooms.members[room]
        mid, at = messages.last_id[room]
        kind = "dm" if len(members) == 2 else "group"
        if kind == "dm":
            pair = sorted(members)
            dm_key, title = f"{pair[0] + 1}:{pair[1] + 1}", ""
        else:
            lang = 1 if plan.korean[members[0]] else 0
            dm_key = "\\N"
            title = titles[lang][members[1] % len(titles[lang])]
        room_lines.append(
            f"{room + 1}\t{kind}\t{text_escape(title)}\t{dm_key}\t{room_created[room - lo]}"
            f"\t{messages.stamps[at]}\t{members[0] + 1}\t{mid}\n"
        )
        span_ids = mid - messages.first_id[room] + 1
        for j, member in enumerate(members):
            # Most members have read everything; some are behind by a few messages.
            behind = (member + room + j) % 5 == 0
            read = mid - ((member + room) % span_ids) if behind else mid
            member_lines.append(
                f"{ids['member']}\t{room_created[room - lo]}\t{read}\t{member + 1}\t{room + 1}\n"
            )
            ids["member"] += 1
    return room_lines, member_lines


def chat_load(plan: Plan, out: Loader) -> None:
    """Rooms (1:1 and small groups), memberships with read state, and message histories."""
    rooms = _rooms_draw(plan)
    r = len(rooms.members)
    ids = {"msg": 1, "member": 1}
    with out.phase("chat", int(rooms.messages.sum())):
        for number, lo, hi in chunks(r, plan.preset.messages / r, out.chunk_rows // 4):
            crng = rng_for(plan.seed, PH_CHAT, number + 1)
            messages = _messages(plan, rooms, crng, lo, hi, ids)
            room_lines, member_lines = _room_rows(plan, rooms, messages, lo, hi, ids)
            out.text("chat_room", ROOM_COLUMNS, room_lines, bar=False)
            out.text("chat_membership", MEMBER_COLUMNS, member_lines, bar=False)
            out.text("chat_message", MESSAGE_COLUMNS, messages.lines)
