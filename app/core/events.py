"""Domain events: what happened in one app, told to any app that cares, in the same process.

The app that writes (posts, accounts, chat) emits a small frozen dataclass naming what
happened by ids; an app that reacts (feed, notifications) subscribes a handler to that event type
in its ``AppConfig.ready``. The writer imports nothing of the reader, and app/core imports no
app at all, so the dependency runs one way: readers -> core <- writers.

The rule: handlers run synchronously, in the emitter's thread and inside its transaction
(emit from inside the ``transaction.atomic()`` block that made the change). A handler's
database writes therefore commit or roll back with the action itself, and an exception in a
handler fails the action. Anything that must not happen before the commit (a socket frame,
a cache write) a handler defers with ``transaction.on_commit``, as
``app.core.realtime.publish_on_commit`` does. Handlers are on the writer's hot path: keep
each to a statement or two, never a network round trip.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

E = TypeVar("E")
Handler = Callable[[E], None]

_handlers: defaultdict[type[Any], list[Callable[[Any], None]]] = defaultdict(list)


@dataclass(frozen=True, slots=True)
class PostLiked:
    """``actor_id`` liked ``post_id`` (by ``post_author_id``) for the first time just now."""

    actor_id: int
    post_id: int
    post_author_id: int


@dataclass(frozen=True, slots=True)
class CommentAdded:
    """``actor_id`` commented ``text`` on ``post_id`` (by ``post_author_id``)."""

    actor_id: int
    post_id: int
    post_author_id: int
    comment_id: int
    text: str


@dataclass(frozen=True, slots=True)
class UserMentioned:
    """``actor_id`` wrote @``usernames`` (as parsed, possibly of no account) in the caption
    of ``post_id`` or, with ``comment_id``, in a comment on it; ``text`` is what was written."""

    actor_id: int
    post_id: int
    post_author_id: int
    usernames: tuple[str, ...]
    text: str
    comment_id: int | None = None


@dataclass(frozen=True, slots=True)
class UserFollowed:
    """``follower_id`` now follows ``followee_id`` (directly, or by an approved request)."""

    follower_id: int
    followee_id: int


@dataclass(frozen=True, slots=True)
class FollowRequested:
    """``requester_id`` asked to follow the private account ``target_id``."""

    requester_id: int
    target_id: int


@dataclass(frozen=True, slots=True)
class PostShared:
    """``actor_id`` sent ``post_id`` to ``usernames`` in direct messages."""

    actor_id: int
    post_id: int
    usernames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PostCreated:
    """``author_id`` published ``post_id``."""

    post_id: int
    author_id: int


@dataclass(frozen=True, slots=True)
class PostDeleted:
    """``author_id`` deleted ``post_id``."""

    post_id: int
    author_id: int


@dataclass(frozen=True, slots=True)
class PostChanged:
    """What every viewer sees of ``post_id`` changed: a counter, the comment preview."""

    post_id: int


@dataclass(frozen=True, slots=True)
class LikeChanged:
    """``user_id`` now likes ``post_id`` (``liked``) or no longer does."""

    user_id: int
    post_id: int
    liked: bool


@dataclass(frozen=True, slots=True)
class SaveChanged:
    """``user_id`` saved ``post_id`` (``saved``) or took it out of their saved posts."""

    user_id: int
    post_id: int
    saved: bool


@dataclass(frozen=True, slots=True)
class FollowDeleted:
    """``follower_id`` no longer follows ``followee_id``."""

    follower_id: int
    followee_id: int


@dataclass(frozen=True, slots=True)
class AuthorChanged:
    """What others see of ``author_id`` (name, avatar, privacy) changed."""

    author_id: int


def subscribe(event_type: type[E], handler: Handler[E]) -> None:
    """Call ``handler(event)`` for every ``event_type`` emitted from now on; subscribing the
    same handler again changes nothing (``ready`` may run twice in a test process)."""
    handlers = _handlers[event_type]
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(event_type: type[E], handler: Handler[E]) -> None:
    """Stop calling ``handler`` for ``event_type``; a handler never subscribed is ignored."""
    handlers = _handlers.get(event_type, [])
    if handler in handlers:
        handlers.remove(handler)


def emit(event: object) -> None:
    """Run every handler of ``type(event)`` now, in subscription order (see the module's
    rule: inside the caller's transaction; a handler's exception propagates to the caller)."""
    for handler in tuple(_handlers.get(type(event), ())):
        handler(event)
