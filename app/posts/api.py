"""Post endpoints under /api/posts, and the profile grid at /api/users/{username}/posts."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import File, Form, Router, Status, UploadedFile
from pydantic import BeforeValidator

from app.core.auth import auth_user
from app.core.images import upload_budget
from app.core.text import CleanStr, CleanText
from app.lab.api import PathId, auth, json_response, page, parse_limit
from app.posts import cached, selectors, services
from app.posts.schemas import (
    CommentIn,
    CommentOut,
    CommentPage,
    LikeStateOut,
    PostOut,
    PostPage,
    SaveStateOut,
)

router = Router()
users_posts_router = Router()

# Path ids beyond PostgreSQL's bigint are a 400, never a database error.
# A browser form sends an unchosen place as "".
PlaceField = Annotated[int | None, BeforeValidator(lambda v: None if v == "" else v), Form(None)]


@router.post("", auth=auth, response={201: PostOut})
def post_create(
    request: HttpRequest,
    images: File[list[UploadedFile] | None] = None,
    caption: Annotated[CleanText, Form("")] = "",
    place: PlaceField = None,
    alt_text: Annotated[list[CleanText] | None, Form(None)] = None,
) -> Status[PostOut]:
    """Multipart: 1-10 ``images`` (JPEG, PNG or WebP), ``caption``, optional ``place`` id,
    and optional ``alt_text`` fields, one per image in order (each at most 500 characters).

    413 past the request's pixel or CPU budget, 503 ``busy`` (with Retry-After) when every
    image-processing slot of the process is taken (app/core/images.py)."""
    uploads = images or []
    with upload_budget(uploads=uploads):
        post = services.post_create(
            author=auth_user(request),
            uploads=uploads,
            caption=caption,
            place_id=place,
            alt_texts=alt_text or [],
        )
    return Status(
        201, PostOut.of(selectors.post_detail(viewer=auth_user(request), post_id=post.pk))
    )


@router.get("/{post_id}", response=PostOut)
def post_detail(request: HttpRequest, post_id: PathId) -> HttpResponse:
    """Served from Redis when warm (no SQL); 404 when the viewer may not see it."""
    return json_response(cached.post_detail(viewer=request.user, post_id=post_id))


@router.delete("/{post_id}", auth=auth, response={204: None})
def post_delete(request: HttpRequest, post_id: PathId) -> Status[None]:
    services.post_delete(user=auth_user(request), post_id=post_id)
    return Status(204, None)


@router.post("/{post_id}/like", auth=auth, response=LikeStateOut)
def post_like(request: HttpRequest, post_id: PathId) -> LikeStateOut:
    liked, count = services.like_set(user=auth_user(request), post_id=post_id, liked=True)
    return LikeStateOut(liked=liked, like_count=count)


@router.delete("/{post_id}/like", auth=auth, response=LikeStateOut)
def post_unlike(request: HttpRequest, post_id: PathId) -> LikeStateOut:
    liked, count = services.like_set(user=auth_user(request), post_id=post_id, liked=False)
    return LikeStateOut(liked=liked, like_count=count)


@router.post("/{post_id}/save", auth=auth, response=SaveStateOut)
def post_save(request: HttpRequest, post_id: PathId) -> SaveStateOut:
    return SaveStateOut(
        saved=services.save_set(user=auth_user(request), post_id=post_id, saved=True)
    )


@router.delete("/{post_id}/save", auth=auth, response=SaveStateOut)
def post_unsave(request: HttpRequest, post_id: PathId) -> SaveStateOut:
    return SaveStateOut(
        saved=services.save_set(user=auth_user(request), post_id=post_id, saved=False)
    )


@router.get("/{post_id}/comments", response=CommentPage)
def comment_list(
    request: HttpRequest, post_id: PathId, cursor: CleanStr | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Oldest first, keyset on (created_at, id)."""
    result = selectors.comment_page(
        viewer=request.user, post_id=post_id, cursor=cursor, limit=limit
    )
    return {**result, "items": [CommentOut.of(c) for c in result["items"]]}


@router.post("/{post_id}/comments", auth=auth, response={201: CommentOut})
def comment_create(request: HttpRequest, post_id: PathId, payload: CommentIn) -> Status[CommentOut]:
    comment = services.comment_create(author=auth_user(request), post_id=post_id, text=payload.text)
    return Status(201, CommentOut.of(comment))


@router.delete("/{post_id}/comments/{comment_id}", auth=auth, response={204: None})
def comment_delete(request: HttpRequest, post_id: PathId, comment_id: PathId) -> Status[None]:
    services.comment_delete(user=auth_user(request), post_id=post_id, comment_id=comment_id)
    return Status(204, None)


@users_posts_router.get("/users/{username}/posts", response=PostPage)
def user_posts(
    request: HttpRequest,
    username: CleanStr,
    cursor: CleanStr | None = None,
    limit: int | None = None,
) -> HttpResponse:
    """The profile grid, newest first, keyset on (created_at, id); 404 when hidden."""
    return json_response(
        cached.user_posts_page(viewer=request.user, username=username, cursor=cursor, limit=limit)
    )


@users_posts_router.get("/me/saved", auth=auth, response=PostPage)
def saved_posts(
    request: HttpRequest, cursor: CleanStr | None = None, limit: int | None = None
) -> HttpResponse:
    """The viewer's saved posts, newest save first, keyset on the save; only those the viewer
    may still see. Keys in one SQL statement, bodies and flags from Redis when warm."""
    size = parse_limit(limit)
    keys = selectors.saved_post_keys(viewer=auth_user(request), cursor=cursor, limit=size + 1)
    items = cached.bodies_viewed(
        viewer=auth_user(request), post_ids=[key[0] for key in keys[:size]]
    )
    next_cursor = page(keys, size, lambda key: (key[1], key[2]))["next_cursor"]
    return json_response({"items": items, "next_cursor": next_cursor})
