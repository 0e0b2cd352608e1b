"""Reads about chat: the inbox, message history, sync replay, members, share previews, and
presence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import BooleanField, Case, Exists, F, OuterRef, QuerySet, Subquery, When

from app.accounts.models import Follow, User
from app.accounts.schemas import USER_SUMMARY_FIELDS
from app.chat import events, inboxcache, presence, strategies
from app.chat.models import Membership, Message
from app.core import degrade
from app.lab import strategies as lab_strategies
from app.lab.api import ApiError, decode_cursor, page, parse_limit
from app.posts.models import Post, PostImage

SYNC_LIMIT = 500
# Ids one presence request may name (GET /api/chat/presence).
PRESENCE_MAX = 50

_POST_FIELDS = (
    "post__id",
    "post__caption",
    "post__author_id",
    *(f"post__author__{name}" for name in USER_SUMMARY_FIELDS),
)


def not_member() -> ApiError:
    # The same answer for a room that does not exist: room ids leak nothing.
    return ApiError(404, "not_member", "room not found, or you are not a member")


def _thumb(post_ref: str) -> Subquery:
    """The stored name of a post's first image's thumbnail."""
    images = PostImage.objects.filter(post_id=OuterRef(post_ref)).order_by("position")
    return Subquery(images.values("thumb")[:1])


def message_queryset(*, viewer_id: int) -> QuerySet[Message]:
    """Every message read renders ``message.new`` from this, in one query: the sender, the
    shared post with its author and thumbnail, and whether ``viewer_id`` may see that post."""
    follows_author = Exists(
        Follow.objects.filter(follower_id=viewer_id, followee_id=OuterRef("post__author_id"))
    )
    visible = Case(
        When(post__isnull=True, then=False),
        When(post__author__is_private=False, then=True),
        When(post__author_id=viewer_id, then=True),
        When(follows_author, then=True),
        default=False,
        output_field=BooleanField(),
    )
    return (
        Message.objects.select_related("sender", "post__author")
        .only(
            "id",
            "room_id",
            "sender_id",
            "kind",
            "text",
            "post_id",
            "client_id",
            "created_at",
            *(f"sender__{name}" for name in USER_SUMMARY_FIELDS),
            *_POST_FIELDS,
        )
        .annotate(post_thumb=_thumb("post_id"), post_visible=visible)
    )


def message_frame(message: Message) -> events.MessageNew:
    """``message.new`` for a message from :func:`message_queryset` (for that viewer)."""
    preview = events.post_preview(
        post=message.post,
        thumb=message.post_thumb,  # type: ignore[attr-defined]
        visible=message.post_visible,  # type: ignore[attr-defined]
    )
    return events.message_new(message=message, preview=preview)


def room_member_ids(*, room_id: int) -> list[int]:
    return list(Membership.objects.filter(room_id=room_id).values_list("user_id", flat=True))


def room_member_check(*, user: User, room_id: int) -> None:
    if not Membership.objects.filter(room_id=room_id, user_id=user.pk).exists():
        raise not_member()


def room_read_marks(*, user: User, room_id: int) -> list[dict[str, int]]:
    """The other members' read marks (``{"user", "message"}``), the membership check in the
    same query. Only members who accepted the room show theirs, as a live ``read`` frame
    reaches the others only once the reader accepted (services.message_read)."""
    rows = list(
        Membership.objects.filter(room_id=room_id).values_list(
            "user_id", "last_read_message_id", "accepted_at"
        )
    )
    if not any(member_id == user.pk for member_id, _, _ in rows):
        raise not_member()
    return [
        {"user": member_id, "message": mark}
        for member_id, mark, accepted_at in sorted(rows)
        if member_id != user.pk and mark and accepted_at is not None
    ]


def message_history_page(
    *, user: User, room_id: int, before: int | None, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """A room's messages newest first, keyset on id (``cursor``, or a plain ``before`` id),
    and the other members' read marks (what "Seen" is drawn from)."""
    size = parse_limit(limit)
    decoded = decode_cursor(cursor, (int,))
    below = decoded[0] if decoded else before
    reads = room_read_marks(user=user, room_id=room_id)
    messages = message_queryset(viewer_id=user.pk).filter(room_id=room_id)
    if below is not None:
        messages = messages.filter(id__lt=below)
    rows = list(messages.order_by("-id")[: size + 1])
    return {**page(rows, size, lambda message: (message.pk,)), "reads": reads}


def _unread_room_count_read(*, user: User) -> int:
    """One query. A room is unread while its last message is past the user's read mark: a
    send moves the sender's own mark to it, so only others' messages count, as in the inbox."""
    return Membership.objects.filter(
        user_id=user.pk, room__last_message_id__gt=F("last_read_message_id")
    ).count()


def unread_room_count(*, user: User) -> int:
    """How many of the user's rooms have unread messages (the Messages badge): kept in the
    user's inbox hash, so whatever drops their inbox pages drops it too. No SQL when warm;
    one query when cold or while Redis is down."""
    if not degrade.redis_up():
        return _unread_room_count_read(user=user)
    try:
        raw, generation = inboxcache.page_get(user_id=user.pk, field=inboxcache.UNREAD)
        if raw is not None:
            return int(raw)
        count = _unread_room_count_read(user=user)
        inboxcache.page_fill(
            user_id=user.pk, field=inboxcache.UNREAD, generation=generation, body=b"%d" % count
        )
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)
        return _unread_room_count_read(user=user)
    return count


def message_sync(*, user: User, since: int, limit: int = SYNC_LIMIT) -> list[Message]:
    """What a reconnecting client missed: messages of all its rooms after ``since``, in id
    order, up to ``limit + 1`` (one extra says there is more)."""
    rooms = Membership.objects.filter(user_id=user.pk).values("room_id")
    return list(
        message_queryset(viewer_id=user.pk)
        .filter(room_id__in=rooms, id__gt=since)
        .order_by("id")[: limit + 1]
    )


def message_resync(*, user: User, at: datetime, limit: int = SYNC_LIMIT) -> list[Message]:
    """What an open socket may have missed while its process's pub/sub connection was down:
    messages of all its rooms written since ``at``, in id order, up to ``limit + 1``."""
    rooms = Membership.objects.filter(user_id=user.pk).values("room_id")
    return list(
        message_queryset(viewer_id=user.pk)
        .filter(room_id__in=rooms, created_at__gte=at)
        .order_by("id")[: limit + 1]
    )


def post_share_audience(*, post: Post, member_ids: list[int]) -> set[int]:
    """Which members may see ``post`` (author loaded): at most one query."""
    if not post.author.is_private:
        return set(member_ids)
    followers = Follow.objects.filter(followee_id=post.author_id, follower_id__in=member_ids)
    return {post.author_id, *followers.values_list("follower_id", flat=True)} & set(member_ids)


def post_thumb_name(*, post_id: int) -> str | None:
    return (
        PostImage.objects.filter(post_id=post_id)
        .order_by("position")
        .values_list("thumb", flat=True)
        .first()
    )


def room_inbox(
    *, user: User, cursor: str | None, limit: int | None, strategy: str | None = None
) -> dict[str, Any]:
    """The inbox page, newest activity first; the strategy comes from the lab switch.

    ``presence`` maps the members on the page who accepted a room shared with ``user`` (see
    :func:`accepted_peer_ids`) to their presence; the others' presence is not shown. SQL
    strategies ask which members accepted in one more query; ``cached`` reads that, with
    the members' summaries and presence, in one Redis round trip (one query when cold).
    """
    size = parse_limit(limit)
    decoded = decode_cursor(cursor, (datetime, int))
    name = lab_strategies.choose("inbox", override=strategy)
    entries = strategies.STRATEGIES[name](user=user, cursor=decoded, limit=size)
    result = page(list(entries), size, lambda entry: entry.cursor_key())
    member_ids = list(dict.fromkeys(uid for entry in result["items"] for uid in entry.member_ids))
    if name != "cached":
        accepted = accepted_peer_ids(user=user, user_ids=member_ids)
        shown = [uid for uid in member_ids if uid in accepted]
        result["presence"] = presence.presence_get(user_ids=shown)
        return result
    summaries, found, accepted = inboxcache.members_get(
        user_ids=member_ids,
        viewer_id=user.pk,
        accepted_read=lambda: accepted_peer_ids(user=user, user_ids=None),
    )
    result["presence"] = {uid: found[uid] for uid in member_ids if uid in accepted}
    for entry in result["items"]:
        # A member deleted since the page was stored is left out, as SQL would.
        entry.members = [summaries[uid] for uid in entry.member_ids if uid in summaries]
    return result


def accepted_peer_ids(*, user: User, user_ids: Sequence[int] | None) -> set[int]:
    """Those of ``user_ids`` (None: anyone) who accepted a room they share with ``user``,
    by creating it or sending a message in it (Membership.accepted_at): one query. Adding
    someone to a group, or opening a DM to them, does not make them an accepted peer."""
    mine = Membership.objects.filter(user_id=user.pk).values("room_id")
    peers = Membership.objects.filter(room_id__in=mine, accepted_at__isnull=False)
    if user_ids is not None:
        peers = peers.filter(user_id__in=user_ids)
    return set(peers.exclude(user_id=user.pk).values_list("user_id", flat=True).distinct())


def presence_visible(*, user: User, user_ids: Sequence[int]) -> dict[int, presence.Presence]:
    """Presence of those of ``user_ids`` who are accepted peers of ``user`` (one query, then
    one Redis round trip): activity is shown only to people who chose to talk with you."""
    return presence.presence_get(user_ids=sorted(accepted_peer_ids(user=user, user_ids=user_ids)))
