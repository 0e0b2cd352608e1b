"""Profile photos, through the same pipeline as post images (app/core/images.py): the bytes are
sniffed, capped in size and pixels, decoded within the upload budget and re-encoded without
their metadata. The avatar is the square thumbnail rendition.

A new photo replaces the old one without a moment in between: the new file is stored first,
the row is pointed at it in a transaction, and only once that commits is the old file
removed. If anything fails on the way, the new file goes and the old avatar stays.
"""

from __future__ import annotations

import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from app.accounts.models import User
from app.core import events
from app.core.images import image_renditions, upload_budget


def _point_at(*, user: User, old: str) -> None:
    """Save the row's new avatar name; the ``old`` file is deleted once that commits."""
    with transaction.atomic():
        # post_save drops the cached user row (app/accounts/apps.py).
        user.save(update_fields=["avatar"])
        # Cached post bodies embed the author's summary, avatar included.
        events.emit(events.AuthorChanged(author_id=user.pk))
        if old:
            transaction.on_commit(lambda: default_storage.delete(old))


def avatar_set(*, user: User, upload: UploadedFile[bytes]) -> User:
    """Validate and render ``upload`` (400 ``invalid_image`` or ``image_too_large``, 413 past
    the upload budget, 503 ``busy``: app/core/images.py), then make it ``user``'s avatar."""
    with upload_budget(uploads=[upload]):
        rendition = image_renditions(upload=upload, size=upload.size, label="image")
    old = user.avatar.name or ""
    user.avatar.save(f"{uuid.uuid4().hex}.jpg", ContentFile(rendition.thumb), save=False)
    stored = user.avatar.name or ""
    try:
        _point_at(user=user, old=old)
    except BaseException:
        default_storage.delete(stored)
        user.avatar.name = old
        raise
    return user


def avatar_clear(*, user: User) -> User:
    """Remove ``user``'s avatar (the initial shows instead). Idempotent."""
    old = user.avatar.name or ""
    if old:
        user.avatar.name = ""
        try:
            _point_at(user=user, old=old)
        except BaseException:
            user.avatar.name = old
            raise
    return user
