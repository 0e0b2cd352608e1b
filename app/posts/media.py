"""Media files, served only to viewers who may see a post that shows them.

Files are read through Django's storage API: the local disk by default, an S3-compatible
bucket with MEDIA_STORAGE=s3 (app/core/storage.py), whose objects are streamed from here.

A post image's file (``posts/<kind>/...`` as uploaded, ``seed-pool/<kind>/...`` as seeded) is
served when one of the posts that use it is visible to the viewer: a public author's to
everyone, a private author's to that author and their followers. Anything else, a file no
post uses included, is a 404, so a private file's existence is not revealed. Avatars are
public profile data and are served to everyone.

The check is keyed on the file path, not on a per-viewer URL, so that post JSON stays one
shared cached body for every viewer (app/posts/fragments.py). Who may see a path is kept in
Redis: ``*`` when a public author uses the file, else the private authors' ids, stamped with
the generation that an author's privacy change bumps (app/search/windows.py). A warm public
file costs one Redis round trip and no SQL; a private one adds the viewer's following set.
"""

from __future__ import annotations

import mimetypes
import posixpath

from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase
from django.views.static import serve

from app.accounts.models import Follow, User
from app.core import degrade
from app.lab.cache import raw_key
from app.posts import viewcache
from app.posts.models import Post, PostImage

KINDS = frozenset({"original", "feed", "thumb"})
POST_FOLDERS = frozenset({"posts", "seed-pool"})
PUBLIC_FOLDERS = frozenset({"avatars"})
TTL = 3600
PUBLIC = b"*"
# Who may see a path: PUBLIC, or the private authors' ids (empty: no post uses the file).
Audience = bytes | frozenset[int]


def _key(name: str) -> str:
    return raw_key("media", "v1", name)


def _audience_sql(name: str, kind: str) -> Audience:
    """One statement: does a public author's post use the file, and which private ones do."""
    q = connection.ops.quote_name
    images, posts, users = (q(m._meta.db_table) for m in (PostImage, Post, User))
    column = q(kind)
    sql = (
        "SELECT coalesce(bool_or(NOT a.is_private), false), "
        "coalesce(array_agg(DISTINCT a.id) FILTER (WHERE a.is_private), '{}') "
        f"FROM {images} i JOIN {posts} p ON p.id = i.post_id "
        f"JOIN {users} a ON a.id = p.author_id WHERE i.{column} = %(name)s"
    )
    with connection.cursor() as db:
        db.execute(sql, {"name": name})
        public, private = db.fetchone() or (False, [])
    return PUBLIC if public else frozenset(private)


def _encode(audience: Audience) -> bytes:
    if audience == PUBLIC:
        return PUBLIC
    return b",".join(str(author).encode() for author in sorted(audience))


def _decode(raw: bytes) -> Audience:
    if raw == PUBLIC:
        return PUBLIC
    return frozenset(int(author) for author in raw.split(b",") if author)


def media_audience(*, name: str, kind: str) -> Audience:
    """Who may see the file ``name``: from Redis when its entry is of the current privacy
    generation, else from SQL and kept. Without Redis (app/core/degrade.py), SQL answers."""
    if not degrade.redis_up():
        return _audience_sql(name, kind)
    key = _key(name)
    conn = viewcache.connection()
    try:
        raw, generation = conn.mget([key, viewcache.privacy_generation_key()])
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)
        return _audience_sql(name, kind)
    generation = generation or b"0"
    if raw is not None:
        stamp, _, payload = bytes(raw).partition(b"|")
        if stamp == generation:
            return _decode(payload)
    audience = _audience_sql(name, kind)
    if not audience:
        # Not kept: a post being created writes its files before its row commits.
        return audience
    # Stamped with the generation read before the SQL: a privacy change committed meanwhile
    # bumps it, so this entry is never read as current.
    try:
        conn.set(key, generation + b"|" + _encode(audience), ex=TTL)
    except degrade.REDIS_ERRORS as exc:
        degrade.redis_failed(exc)
    return audience


def _follows_any(viewer_id: int, authors: frozenset[int]) -> bool:
    """Does the viewer follow one of ``authors``? One Redis round trip on their following
    set (built when missing, as the feed builds it); SQL without Redis."""
    candidates = [str(author) for author in sorted(authors)]
    if candidates and degrade.redis_up():
        conn = viewcache.connection()
        key = viewcache.following_key(viewer_id)
        try:
            for attempt in range(2):
                with conn.pipeline(transaction=False) as pipe:
                    pipe.sismember(key, viewcache.SET_COMPLETE)
                    pipe.smismember(key, candidates)
                    complete, members = pipe.execute()
                if complete:
                    return any(members)
                if attempt == 0:
                    viewcache.following_fill(conn, user_id=viewer_id)
        except degrade.REDIS_ERRORS as exc:
            degrade.redis_failed(exc)
    return Follow.objects.filter(follower_id=viewer_id, followee_id__in=authors).exists()


def media_visible(*, viewer: User | None, name: str) -> Audience | None:
    """Who may see the media file ``name`` (a normalised path) when ``viewer`` (None:
    anonymous) is one of them; None when they may not."""
    parts = name.split("/")
    if parts[0] in PUBLIC_FOLDERS:
        return PUBLIC
    if parts[0] not in POST_FOLDERS or len(parts) < 3 or parts[1] not in KINDS:
        return None
    if not default_storage.exists(name):
        return None  # nothing to serve: no need to ask who could see it
    audience = media_audience(name=name, kind=parts[1])
    if isinstance(audience, bytes):
        return audience
    if viewer is None or not audience:
        return None
    if viewer.pk in audience or _follows_any(viewer.pk, audience - {viewer.pk}):
        return audience
    return None


def _file_response(request: HttpRequest, name: str) -> HttpResponseBase:
    """The file's bytes: from the disk by Django's static view (If-Modified-Since included),
    or streamed from any other storage (an S3 bucket, app/core/storage.py)."""
    if isinstance(default_storage, FileSystemStorage):
        return serve(request, name, document_root=str(default_storage.location))
    try:
        file = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("no such file") from None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(file, content_type=content_type)


def media_serve(request: HttpRequest, path: str) -> HttpResponseBase:
    """GET /media/<path>: the file for a viewer allowed to see it, else 404."""
    name = posixpath.normpath(path).lstrip("/")
    if name in ("", ".") or name.startswith("..") or "\x00" in name:
        raise Http404("no such file")
    viewer = request.user if isinstance(request.user, User) else None
    audience = media_visible(viewer=viewer, name=name)
    if audience is None:
        raise Http404("no such file")
    response = _file_response(request, name)
    if audience != PUBLIC:
        # A shared cache must not hand one viewer's private photo to another.
        response["Cache-Control"] = "private"
    return response
