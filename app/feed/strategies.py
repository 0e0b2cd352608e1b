"""The home feed's three strategies side by side (cached, optimized, naive), one signature.

Every strategy takes ``(viewer, after, limit)`` and returns up to ``limit`` ``PostOut`` items:
the posts of the accounts ``viewer`` follows and ``viewer``'s own posts (Instagram shows
your own posts in your feed), newest first by (created_at, id), strictly after ``after``.
Following implies permission, so a private author's posts appear only to their followers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from app.accounts.models import Follow, User
from app.feed import selectors, store
from app.feed.selectors import After
from app.lab.strategies import HotPath
from app.posts import selectors as post_selectors
from app.posts import viewcache
from app.posts.fragments import PostItem, PostJSON, fragment_decode, fragment_encode
from app.posts.models import Comment, Like, Post, Save
from app.posts.schemas import PostOut
from app.posts.selectors import PREVIEW_COMMENTS, post_queryset


class FeedStrategy(Protocol):
    def __call__(self, *, viewer: User, after: After, limit: int) -> Sequence[PostItem]:
        """Up to ``limit`` posts of the viewer's feed, newest first, strictly after ``after``."""
        ...


# Extra ids read per source, so a few dropped posts do not cost a second round trip.
SLACK = 4


def naive(*, viewer: User, after: After, limit: int) -> list[PostOut]:
    """BASELINE, kept on purpose: a first version's ORM loop, with per-post lookups for the
    author, place, images, live counts, the viewer's flags and the comment preview (N+1)."""
    followed = list(
        Follow.objects.filter(follower_id=viewer.pk).values_list("followee_id", flat=True)
    )
    posts = Post.objects.filter(author_id__in=[*followed, viewer.pk]).order_by("-created_at", "-id")
    if after is not None:
        posts = posts.filter(created_at__lte=after[0]).exclude(
            created_at=after[0], id__gte=after[1]
        )
    items = []
    for post in posts[:limit]:
        # PostOut.of then loads the author, the place and the images lazily, one query each.
        post.like_count = Like.objects.filter(post_id=post.pk).count()
        post.comment_count = Comment.objects.filter(post_id=post.pk).count()
        post.viewer_has_liked = Like.objects.filter(post_id=post.pk, user_id=viewer.pk).exists()  # type: ignore[attr-defined]
        post.viewer_has_saved = Save.objects.filter(post_id=post.pk, user_id=viewer.pk).exists()  # type: ignore[attr-defined]
        # Each preview comment loads its author lazily too.
        post.comments_preview = list(  # type: ignore[attr-defined]
            Comment.objects.filter(post_id=post.pk).order_by("-created_at", "-id")[
                :PREVIEW_COMMENTS
            ]
        )
        items.append(PostOut.of(post))
    return items


def optimized(*, viewer: User, after: After, limit: int) -> list[PostOut]:
    """One shaped queryset (LATERAL keyset over post_author_recent) and two prefetches."""
    return [
        PostOut.of(post) for post in selectors.feed_posts(viewer=viewer, after=after, limit=limit)
    ]


# --- cached ---------------------------------------------------------------------------------


def _timeline_rebuild(conn: Any, viewer_id: int) -> None:
    """Rebuild the viewer's timeline and following set from SQL (a cold or evicted user)."""
    timeline, following = store.timeline_key(viewer_id), viewcache.following_key(viewer_id)
    with conn.pipeline(transaction=False) as pipe:
        store.sorted_set_begin(pipe, timeline)
        viewcache.set_begin(pipe, following)
        pipe.execute()
    rows = selectors.following_with_counts(user_id=viewer_id)
    ids = [user_id for user_id, _ in rows]
    known = conn.smismember(store.celebs_key(), ids) if ids else []
    threshold = store.fanout_threshold()
    celebs = [
        user_id
        for (user_id, followers), celeb in zip(rows, known, strict=True)
        if celeb or followers > threshold
    ]
    pushed = sorted(set(ids) - set(celebs) | {viewer_id})
    keys = selectors.author_keys(author_ids=pushed, limit=store.timeline_cap())
    store.sorted_set_finish(conn, timeline, keys)
    with conn.pipeline(transaction=False) as pipe:
        if celebs:
            pipe.sadd(store.celebs_key(), *celebs)
        viewcache.set_finish(pipe, following, ids)
        pipe.execute()


def _author_rebuild(conn: Any, author_id: int) -> None:
    key = store.author_key(author_id)
    with conn.pipeline(transaction=False) as pipe:
        store.sorted_set_begin(pipe, key)
        pipe.execute()
    keys = selectors.author_post_keys(author_id=author_id, limit=store.timeline_cap())
    store.sorted_set_finish(conn, key, keys)


def _window(
    conn: Any, viewer: User, position: store.Key | None, count: int, resolve: int
) -> store.Window:
    """The page window and what Redis holds for it, in one script call (store.timeline_window),
    after rebuilding from SQL whatever the script found missing: the viewer's timeline and
    following set, or pulled authors' lists."""
    check = True
    for attempt in range(4):
        window = store.timeline_window(
            conn, viewer_id=viewer.pk, position=position, count=count, resolve=resolve, check=check
        )
        if window.rebuild_timeline:
            _timeline_rebuild(conn, viewer.pk)
        elif window.rebuild_authors:
            for author in window.rebuild_authors:
                _author_rebuild(conn, author)
            # Rebuilt and absent again (evicted at once): read what is there, unchecked.
            check = attempt == 0
        else:
            return window
    raise RuntimeError("the feed timeline could not be rebuilt in Redis")


def _bodies_fill(
    conn: Any, viewer: User, missing: list[int], gathered: viewcache.Gathered
) -> dict[int, tuple[bool, bool]]:
    """Load the bodies Redis lacks (one shaped query and its prefetches), cache them, and
    add them to ``gathered``; posts found gone are cached as such and left out. Returns the
    viewer's flags for the loaded posts, which the query read as well."""
    flags: dict[int, tuple[bool, bool]] = {}
    encoded = {}
    for post in post_queryset(viewer=viewer).filter(pk__in=missing):
        encoded[post.pk] = fragment_encode(PostOut.of(post))
        gathered.bodies[post.pk] = fragment_decode(post.pk, encoded[post.pk])
        flags[post.pk] = (post.viewer_has_liked, post.viewer_has_saved)  # type: ignore[attr-defined]
    vanished = [post_id for post_id in missing if post_id not in encoded]
    viewcache.fragments_set(conn, encoded | dict.fromkeys(vanished, viewcache.TOMBSTONE))
    store.remove(conn, [store.timeline_key(viewer.pk)], vanished)
    authors = [gathered.bodies[post_id].author_id for post_id in encoded]
    if authors:
        follows = conn.smismember(viewcache.following_key(viewer.pk), [str(a) for a in authors])
        gathered.follows |= dict(zip(encoded, (bool(f) for f in follows), strict=True))
    return flags


def _resolve(
    conn: Any, viewer: User, keys: list[store.Key], gathered: viewcache.Gathered | None = None
) -> list[PostJSON]:
    """The body of each key for the viewer, from what Redis holds (``gathered``, or one
    round trip); SQL only for bodies or flags it lacks. Deleted posts and posts of authors
    no longer followed are dropped."""
    ids = [post_id for _, post_id in keys]
    if gathered is None:
        gathered = viewcache.gather(conn, viewer.pk, ids)
    if gathered.gone:
        store.remove(conn, [store.timeline_key(viewer.pk)], sorted(gathered.gone))
    missing = [i for i in ids if i not in gathered.bodies and i not in gathered.gone]
    flags = _bodies_fill(conn, viewer, missing, gathered) if missing else {}
    fresh = set(flags)
    present = [post_id for post_id in ids if post_id in gathered.bodies]
    for post_id in present:
        stored = gathered.flags.get(post_id, (None, None))
        if post_id not in flags and stored[0] is not None and stored[1] is not None:
            flags[post_id] = (stored[0] == b"1", stored[1] == b"1")
    unknown = [post_id for post_id in present if post_id not in flags]
    if unknown:
        flags |= post_selectors.viewer_flags(viewer_id=viewer.pk, post_ids=unknown)
    learned = [pk for pk in present if pk in flags and (pk in fresh or pk in unknown)]
    viewcache.flags_remember(
        conn, viewcache.flags_key(viewer.pk), {pk: flags[pk] for pk in learned}
    )
    items = []
    for post_id in present:
        body = gathered.bodies[post_id]
        if post_id not in flags or not (gathered.follows[post_id] or body.author_id == viewer.pk):
            continue
        liked, saved = flags[post_id]
        items.append(body.viewed(liked=liked, saved=saved))
    return items


def cached(*, viewer: User, after: After, limit: int) -> list[PostJSON]:
    """Redis timeline (pushed posts) merged with pulled authors' lists, the page's bodies,
    the viewer's flags and follows gathered in the same script call. Warm, it runs no SQL."""
    conn = viewcache.connection()
    position = None if after is None else (store.score_of(after[0]), after[1])
    items: list[PostJSON] = []
    while len(items) < limit:
        want = limit - len(items)
        window = _window(conn, viewer, position, want + SLACK, want)
        batch = window.entries[:want]
        items += _resolve(conn, viewer, batch, window.gathered) if batch else []
        if batch:
            position = batch[-1]
        if len(window.entries) > want:
            continue
        if window.sql_after:
            # Past the cap: SQL serves the rest of this page, bodies still from the cache.
            cursor = None if position is None else (store.created_at_of(position[0]), position[1])
            rows = selectors.feed_keys(viewer_id=viewer.pk, after=cursor, limit=limit - len(items))
            items += _resolve(conn, viewer, [(store.score_of(at), pk) for pk, at in rows])
        break
    return items[:limit]


# The default (the best one) first.
STRATEGIES: Mapping[str, FeedStrategy] = {"cached": cached, "optimized": optimized, "naive": naive}
# The catalogue's entry (app/lab/strategies.py); without Redis, cached's SQL twin serves.
HOT_PATH = HotPath("feed", STRATEGIES, without_redis={"cached": "optimized"})
