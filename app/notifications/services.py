"""Writes on notifications: one per domain event (app/core/events.py), and marking them read.

Each handler is one INSERT in the emitter's transaction (so a notification exists exactly
when the like, comment or follow does), then a ``notification.new`` frame to the recipient's
sockets after the commit. The frame names the notification only: the page reads it through
the API, which decides what the recipient may see.

The rules:

- Nobody is notified of what they did themselves.
- A like or a share notifies once per actor, recipient and post, and a follow or follow
  request once per pair of users, ever (a unique index; ON CONFLICT DO NOTHING): liking and
  unliking, or following and unfollowing, again and again sends nothing more, and a retried
  share is quiet. An undone like or follow leaves its
  notification: deleting it would cost the unlike a second statement on a hot path, and the
  recipient has seen it already, most likely.
- Mentions and shares reach only users who may see the post when it happens; the list and
  the count check again when read (app/notifications/selectors.py), since an account may
  turn private or be unfollowed later.
- A comment that mentions the post's author notifies them once, as a comment.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models.functions import Now

from app.accounts.models import Follow, FollowRequest, User
from app.core import events
from app.core.realtime import publish_on_commit
from app.notifications.models import EXCERPT_MAX, ONCE, ONCE_SQL, Notification, Verb
from app.posts.models import Comment, Like, Post

ONCE_CONFLICT = f"ON CONFLICT (actor_id, recipient_id, verb, post_id) WHERE {ONCE_SQL} DO NOTHING"

NEW = "notification.new"
READ = "notification.read"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


@functools.cache
def _tables() -> dict[str, str]:
    models = {
        "n": Notification,
        "u": User,
        "p": Post,
        "f": Follow,
        "r": FollowRequest,
        "l": Like,
        "c": Comment,
    }
    return {key: _q(str(model._meta.db_table)) for key, model in models.items()}


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 1] + "…"


def _insert(sql: str, params: dict[str, Any], verb: Verb) -> None:
    """Run an INSERT ... RETURNING id, recipient_id and tell each recipient after commit."""
    with connection.cursor() as cursor:
        conflict = ONCE_CONFLICT if verb in ONCE else ""
        cursor.execute(sql.format(**_tables(), conflict=conflict), params)
        rows = [(int(row[0]), int(row[1])) for row in cursor.fetchall()]
    if rows:
        frame = {"type": NEW, "verb": verb.value}
        publish_on_commit([(recipient, {**frame, "id": id_}) for id_, recipient in rows])


def _insert_one(*, recipient_id: int, actor_id: int, verb: Verb, **fields: Any) -> None:
    """One notification; for the once-only verbs, nothing when it exists already."""
    columns = {"recipient_id": recipient_id, "actor_id": actor_id, "verb": verb.value, **fields}
    names = ", ".join(_q(name) for name in columns)
    values = ", ".join(f"%({name})s" for name in columns)
    sql = f"INSERT INTO {{n}} ({names}) VALUES ({values}) {{conflict}} RETURNING id, recipient_id"
    _insert(sql, columns, verb)


# Users named by ``usernames`` who may see the post ``post`` now: it is public, theirs, or
# they follow its author. One INSERT ... SELECT, however many are named.
_AUDIENCE_INSERT = """
INSERT INTO {n} (recipient_id, actor_id, verb, post_id, comment_id, text)
SELECT u.id, %(actor)s, %(verb)s, p.id, %(comment)s, %(text)s
FROM {p} p JOIN {u} a ON a.id = p.author_id JOIN {u} u ON u.username = ANY(%(names)s)
WHERE p.id = %(post)s AND u.id <> %(actor)s AND u.id <> %(skip)s AND u.is_active
  AND (NOT a.is_private OR u.id = a.id
       OR EXISTS (SELECT 1 FROM {f} f WHERE f.follower_id = u.id AND f.followee_id = a.id))
{conflict}
RETURNING id, recipient_id
"""


def _insert_audience(
    *,
    verb: Verb,
    actor_id: int,
    post_id: int,
    usernames: Sequence[str],
    text: str = "",
    comment_id: int | None = None,
    skip_id: int = 0,
) -> None:
    names = sorted({User.normalize_username(name) for name in usernames})
    if not names:
        return
    params = {
        "actor": actor_id,
        "verb": verb.value,
        "post": post_id,
        "comment": comment_id,
        "text": _excerpt(text),
        "names": names,
        "skip": skip_id,
    }
    _insert(_AUDIENCE_INSERT, params, verb)


# --- the event handlers -----------------------------------------------------------------


def on_post_liked(event: events.PostLiked) -> None:
    if event.actor_id != event.post_author_id:
        _insert_one(
            recipient_id=event.post_author_id,
            actor_id=event.actor_id,
            verb=Verb.LIKE,
            post_id=event.post_id,
        )


def on_comment_added(event: events.CommentAdded) -> None:
    if event.actor_id != event.post_author_id:
        _insert_one(
            recipient_id=event.post_author_id,
            actor_id=event.actor_id,
            verb=Verb.COMMENT,
            post_id=event.post_id,
            comment_id=event.comment_id,
            text=_excerpt(event.text),
        )


def on_user_mentioned(event: events.UserMentioned) -> None:
    _insert_audience(
        verb=Verb.MENTION,
        actor_id=event.actor_id,
        post_id=event.post_id,
        usernames=event.usernames,
        text=event.text,
        comment_id=event.comment_id,
        # The post's author hears of a comment as a comment, even when it names them.
        skip_id=event.post_author_id if event.comment_id is not None else 0,
    )


def on_user_followed(event: events.UserFollowed) -> None:
    _insert_one(recipient_id=event.followee_id, actor_id=event.follower_id, verb=Verb.FOLLOW)


def on_follow_requested(event: events.FollowRequested) -> None:
    _insert_one(recipient_id=event.target_id, actor_id=event.requester_id, verb=Verb.FOLLOW_REQUEST)


def on_post_shared(event: events.PostShared) -> None:
    _insert_audience(
        verb=Verb.SHARE, actor_id=event.actor_id, post_id=event.post_id, usernames=event.usernames
    )


def subscribe_all() -> None:
    """Called from NotificationsConfig.ready."""
    events.subscribe(events.PostLiked, on_post_liked)
    events.subscribe(events.CommentAdded, on_comment_added)
    events.subscribe(events.UserMentioned, on_user_mentioned)
    events.subscribe(events.UserFollowed, on_user_followed)
    events.subscribe(events.FollowRequested, on_follow_requested)
    events.subscribe(events.PostShared, on_post_shared)


# --- reading ----------------------------------------------------------------------------


def notifications_read(*, user: User, up_to: int | None) -> int:
    """Mark the user's unread notifications read (those with ids up to ``up_to``, or all);
    the number marked. The user's other tabs hear of it, to refresh their badge."""
    unread = Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
    if up_to is not None:
        unread = unread.filter(id__lte=up_to)
    marked = unread.update(read_at=Now())
    if marked:
        publish_on_commit([(user.pk, {"type": READ})])
    return marked


# --- seeding ----------------------------------------------------------------------------

# What others already did to the user, newest ``limit`` of each kind, oldest first so that
# ids follow time as they do for live notifications.
_SEED_INSERT = """
INSERT INTO {n} (recipient_id, actor_id, verb, post_id, comment_id, text, created_at)
SELECT * FROM (
  (SELECT p.author_id, l.user_id, 'like', l.post_id, NULL::bigint, '', l.created_at
   FROM {l} l JOIN {p} p ON p.id = l.post_id
   WHERE p.author_id = %(user)s AND l.user_id <> %(user)s
   ORDER BY l.created_at DESC LIMIT %(limit)s)
  UNION ALL
  (SELECT p.author_id, c.author_id, 'comment', c.post_id, c.id, left(c.text, %(excerpt)s),
          c.created_at
   FROM {c} c JOIN {p} p ON p.id = c.post_id
   WHERE p.author_id = %(user)s AND c.author_id <> %(user)s
     AND NOT EXISTS (SELECT 1 FROM {n} n WHERE n.comment_id = c.id AND n.verb = 'comment')
   ORDER BY c.created_at DESC LIMIT %(limit)s)
  UNION ALL
  (SELECT f.followee_id, f.follower_id, 'follow', NULL, NULL, '', f.created_at
   FROM {f} f WHERE f.followee_id = %(user)s ORDER BY f.created_at DESC LIMIT %(limit)s)
  UNION ALL
  (SELECT r.target_id, r.requester_id, 'follow_request', NULL, NULL, '', r.created_at
   FROM {r} r WHERE r.target_id = %(user)s ORDER BY r.created_at DESC LIMIT %(limit)s)
) AS done (recipient_id, actor_id, verb, post_id, comment_id, text, created_at)
ORDER BY created_at
{conflict}
"""


def notifications_seed(*, user: User, limit: int = 10) -> int:
    """Notify ``user`` of the newest ``limit`` likes, comments, follows and follow requests
    others have made on their account (as bulk seeding leaves them: rows with no
    notification); unread, no frames. Repeats add nothing. The number of rows made."""
    sql = _SEED_INSERT.format(**_tables(), conflict=ONCE_CONFLICT)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"user": user.pk, "limit": limit, "excerpt": EXCERPT_MAX})
        return int(cursor.rowcount)
