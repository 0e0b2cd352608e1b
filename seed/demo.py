"""The demo account's world, built from the seeded data by ``python -m seed.demo_user``.

A new demo account follows a mix of seeded accounts that posted lately (the most followed
ones and a sample of ordinary ones), so it opens on a full home feed; a few of them follow
it back, and three of those have DM conversations with it whose newest messages are minutes
to hours old, some unread. It has posted one photo a few hours ago, which its followers
liked and commented on, so its notifications hold follows, likes and comments. Everything
goes through the services the API uses (counters, caches, notifications and realtime stay
exact); only the times are moved back afterwards, with the caches that hold them dropped.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from app.accounts.models import Follow, User
from app.accounts.services import follow_create
from app.chat import services as chat
from app.chat.inboxcache import inbox_forget_on_commit
from app.chat.models import Membership, Message, Room
from app.feed.services import feed_post_changed
from app.notifications.models import Notification
from app.posts import services as posts
from app.posts.models import Comment, Like, Post
from seed.images import pool_ensure

# 12 of the most followed accounts and 48 ordinary ones: a feed of a few hundred posts a day
# at `small`, with the celebrities' posts pulled at read time as for any follower.
POPULAR = 12
ORDINARY = 48
FOLLOWERS = 6
# When each follower followed back, in minutes before now.
FOLLOWED_BACK = (2900, 1460, 700, 320, 250, 25)
POST_CAPTION = "Golden hour by the Han river 🌇"
POST_MINUTES = 200
# What the followers did about the post (all after it): (minutes before now, follower, the
# comment, or "" for a like).
REACTIONS: tuple[tuple[int, int, str], ...] = (
    (186, 0, ""),
    (171, 1, ""),
    (140, 2, "Those colours 😍"),
    (95, 3, ""),
    (41, 4, "Where was this taken? I need to go"),
    (12, 5, ""),
)
# Posted within the first window that yields enough accounts (tiny has few posts a day).
RECENT_WINDOWS = (timedelta(days=1), timedelta(days=7))
# Fixed, so the same seeded data gives the same demo world.
SAMPLE_SEED = 42

# Each conversation: (minutes before now, sent by the demo account, text), oldest first.
# The demo account has read up to its own last message (message_send marks it), so what the
# other account wrote after it is unread: three messages in the first, none in the second
# (the demo account wrote last), one in the third.
CONVERSATIONS: tuple[tuple[tuple[int, bool, str], ...], ...] = (
    (
        (190, False, "Did you catch the sunset over the Han river last night?"),
        (186, True, "I did! Posting a few shots later"),
        (181, False, "The second one is unreal 😍"),
        (7, False, "Are you going to the flea market on Saturday?"),
        (4, False, "I can save you a spot at our table"),
    ),
    (
        (95, False, "That café you posted, is it the one near the station?"),
        (88, True, "Yes, two minutes from exit 3. Try the hojicha latte"),
        (52, False, "Went there just now. You were right ☕"),
        (49, True, "Told you 😄"),
    ),
    (
        (600, True, "Loved your trail photos from the weekend"),
        (570, False, "Thank you! It was windy up there"),
        (565, True, "Which route did you take?"),
        (38, False, "Sending you the map, it's the quiet one past the temple"),
    ),
)


@dataclass(frozen=True)
class DemoWorld:
    """What the world holds once built: usernames, for the command's summary."""

    following: list[str]
    followers: list[str]
    conversations: list[str]
    notifications: int


def _recent_authors(*, demo: User, now: datetime) -> list[User]:
    """Public accounts that posted in the narrowest window that has enough of them."""
    authors: list[User] = []
    for window in RECENT_WINDOWS:
        ids = Post.objects.filter(created_at__gte=now - window, author__is_private=False).values(
            "author_id"
        )
        authors = list(
            User.objects.filter(pk__in=ids, is_active=True).exclude(pk=demo.pk).order_by("pk")
        )
        if len(authors) >= POPULAR + ORDINARY:
            break
    return authors


def _followees(authors: list[User]) -> list[User]:
    """The most followed recent authors, then a fixed sample of the others."""
    by_followers = sorted(authors, key=lambda user: (-user.follower_count, user.pk))
    popular, rest = by_followers[:POPULAR], by_followers[POPULAR:]
    ordinary = random.Random(SAMPLE_SEED).sample(rest, min(ORDINARY, len(rest)))
    return popular + sorted(ordinary, key=lambda user: user.pk)


def _conversation(*, demo: User, other: User, script: tuple[tuple[int, bool, str], ...]) -> None:
    """The DM with ``other``, sent through the chat service, then moved back in time."""
    room, _ = chat.room_dm_get_or_create(user=demo, other=other)
    sent: list[tuple[int, datetime]] = []
    now = timezone.now()
    for minutes, mine, text in script:
        message, _ = chat.message_send(
            sender=demo if mine else other, room_id=room.pk, client_id=uuid.uuid4(), text=text
        )
        sent.append((message.pk, now - timedelta(minutes=minutes)))
    first_at, last_at = sent[0][1], sent[-1][1]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {Message._meta.db_table} SET created_at = %s WHERE id = %s",
                [(at, pk) for pk, at in sent],
            )
        Room.objects.filter(pk=room.pk).update(
            created_at=first_at - timedelta(minutes=1), last_message_at=last_at
        )
        Membership.objects.filter(room_id=room.pk).update(joined_at=first_at - timedelta(minutes=1))
        # The inbox pages the sends cached hold the times they were sent at.
        inbox_forget_on_commit(user_ids=[demo.pk, other.pk])


def _newest_notification(demo: User) -> int:
    return int(Notification.objects.filter(recipient=demo).aggregate(top=Max("id"))["top"] or 0)


def _moved(demo: User, since: int, at: datetime, *rows: QuerySet[Any]) -> int:
    """Move what the last action wrote, ``rows`` and the demo account's notifications newer
    than ``since``, to ``at``; returns the newest notification id."""
    for written in rows:
        written.update(created_at=at)
    Notification.objects.filter(recipient=demo, id__gt=since).update(created_at=at)
    return _newest_notification(demo)


def _photo(demo: User, at: datetime) -> Post:
    """A photo from the seeded pool, through the upload pipeline, made at ``at``."""
    image = pool_ensure(Path(settings.MEDIA_ROOT))[0]
    original = (Path(settings.MEDIA_ROOT) / image.original).read_bytes()
    upload = SimpleUploadedFile("golden-hour.jpg", original, content_type="image/jpeg")
    post = posts.post_create(author=demo, uploads=[upload], caption=POST_CAPTION, place_id=None)
    Post.objects.filter(pk=post.pk).update(created_at=at, updated_at=at)
    # Cached bodies of the post hold the time it was made at.
    feed_post_changed(post_id=post.pk)
    return post


def _activity(*, demo: User, fans: list[User], now: datetime) -> None:
    """Follow-backs, the demo account's photo and the likes and comments on it, in the order
    they happened: the notifications list in id order, so ids must follow their times."""
    photo: list[Post] = []

    def follow_back(fan: User, at: datetime) -> QuerySet[Any]:
        follow_create(follower=fan, followee=demo)
        return Follow.objects.filter(follower=fan, followee=demo)

    def react(fan: User, comment: str, at: datetime) -> QuerySet[Any]:
        if comment:
            made = posts.comment_create(author=fan, post_id=photo[0].pk, text=comment)
            return Comment.objects.filter(pk=made.pk)
        posts.like_set(user=fan, post_id=photo[0].pk, liked=True)
        return Like.objects.filter(user=fan, post_id=photo[0].pk)

    def post(at: datetime) -> QuerySet[Any]:
        photo.append(_photo(demo, at))
        return Post.objects.none()

    followed = zip(fans, FOLLOWED_BACK, strict=False)
    steps: list[tuple[int, Callable[[datetime], QuerySet[Any]]]] = [
        (minutes, partial(follow_back, fan)) for fan, minutes in followed
    ]
    steps.append((POST_MINUTES, post))
    steps += [
        (minutes, partial(react, fans[fan], text))
        for minutes, fan, text in REACTIONS
        if fan < len(fans)
    ]
    since = _newest_notification(demo)
    for minutes, step in sorted(steps, key=lambda item: -item[0]):
        at = now - timedelta(minutes=minutes)
        since = _moved(demo, since, at, step(at))


def demo_world_build(*, demo: User) -> DemoWorld:
    """Follows, followers and conversations for a new demo account (see the module doc)."""
    now = timezone.now()
    authors = _recent_authors(demo=demo, now=now)
    followees = _followees(authors)
    for followee in followees:
        follow_create(follower=demo, followee=followee)
    # Ordinary followees follow back (the popular ones would not); the first three chat.
    ordinary = followees[POPULAR:] or followees
    fans = ordinary[:FOLLOWERS]
    if fans:
        _activity(demo=demo, fans=fans, now=now)
    partners = fans[: len(CONVERSATIONS)]
    for partner, script in zip(partners, CONVERSATIONS, strict=False):
        _conversation(demo=demo, other=partner, script=script)
    return DemoWorld(
        following=[user.username for user in followees],
        followers=[user.username for user in fans],
        conversations=[user.username for user in partners],
        notifications=Notification.objects.filter(recipient=demo).count(),
    )
