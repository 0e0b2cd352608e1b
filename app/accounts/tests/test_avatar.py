"""POST and DELETE /api/me/avatar: the post image pipeline's checks, a square JPEG without
metadata, and never a half-written change (the old avatar stays until the new one is stored).
Also GET /api/me/limits, which the edit-profile form reads its limits from."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.accounts import avatar
from app.accounts.models import User
from app.core import events
from app.core.images import THUMB_SIZE
from app.testing import imagedata
from app.testing.client import ApiClient, assert_error
from app.testing.imagedata import declared_png


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    return root


def upload_avatar(client: ApiClient, data: bytes, name: str = "me.jpg") -> Any:
    """Multipart POST as the edit-profile form sends it, authenticated by bearer token."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {client.token}"} if client.token else {}
    return client.post("/api/me/avatar", {"image": imagedata.upload(data, name=name)}, **headers)


def stored(root: Path) -> list[str]:
    return [str(path.relative_to(root)) for path in imagedata.stored_files(root)]


def test_it_sets_a_square_avatar_without_metadata_that_everyone_sees(
    alice: User, alice_client: ApiClient, anon_client: ApiClient, media_root: Path
) -> None:
    response = upload_avatar(alice_client, imagedata.jpeg_with_exif(800, 400))

    assert response.status_code == 200, response.content
    url = response.json()["avatar_url"]
    alice.refresh_from_db()
    name = alice.avatar.name or ""
    assert url == alice.avatar.url
    assert stored(media_root) == [name]
    assert name.startswith("avatars/")
    with Image.open(media_root / name) as image:
        assert (image.format, image.size) == ("JPEG", THUMB_SIZE)
        assert not image.getexif()
    # Public profile data, even for a private account.
    assert anon_client.get_json("/api/users/alice").json()["avatar_url"] == url
    served = anon_client.get(url)
    assert served.status_code == 200
    assert Image.open(io.BytesIO(b"".join(served.streaming_content))).size == THUMB_SIZE


def test_a_new_avatar_replaces_the_old_file_once_stored(
    alice: User, alice_client: ApiClient, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    upload_avatar(alice_client, imagedata.jpeg())
    first = User.objects.get(pk=alice.pk).avatar.name

    with django_capture_on_commit_callbacks(execute=True):
        response = upload_avatar(alice_client, imagedata.png(), name="new.png")

    assert response.status_code == 200, response.content
    second = User.objects.get(pk=alice.pk).avatar.name
    assert second != first
    assert stored(media_root) == [second]


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"GIF89a not an image we take", 400, "invalid_image"),
        (imagedata.truncated_jpeg(), 400, "invalid_image"),
        (declared_png(8000, 5000), 400, "image_too_large"),
        (imagedata.png_bomb(), 400, "image_too_large"),
    ],
    ids=["not-an-image", "truncated", "too-many-pixels", "bomb"],
)
def test_a_bad_file_is_refused_and_the_old_avatar_kept(
    alice: User, alice_client: ApiClient, media_root: Path, data: bytes, status: int, code: str
) -> None:
    upload_avatar(alice_client, imagedata.jpeg())
    before = User.objects.get(pk=alice.pk).avatar.name

    assert_error(upload_avatar(alice_client, data), status, code)

    assert User.objects.get(pk=alice.pk).avatar.name == before
    assert stored(media_root) == [before]


def test_a_file_over_the_byte_limit_is_refused(
    alice: User, alice_client: ApiClient, media_root: Path, settings: Any
) -> None:
    data = imagedata.jpeg(400, 300)
    settings.MAX_UPLOAD_BYTES = len(data) - 1

    assert_error(upload_avatar(alice_client, data), 400, "image_too_large")
    assert stored(media_root) == []
    assert not User.objects.get(pk=alice.pk).avatar


def test_a_failed_write_leaves_the_old_avatar_and_no_new_file(
    alice: User, alice_client: ApiClient, media_root: Path
) -> None:
    upload_avatar(alice_client, imagedata.jpeg())
    before = User.objects.get(pk=alice.pk).avatar.name

    # A subscriber that fails inside the write's transaction (the domain-event rule): the
    # row update rolls back with it.
    def fail(event: events.AuthorChanged) -> None:
        raise RuntimeError("the transaction fails after the row was written")

    events.subscribe(events.AuthorChanged, fail)
    try:
        with pytest.raises(RuntimeError):
            avatar.avatar_set(
                user=User.objects.get(pk=alice.pk), upload=imagedata.upload(imagedata.png())
            )
    finally:
        events.unsubscribe(events.AuthorChanged, fail)

    assert User.objects.get(pk=alice.pk).avatar.name == before
    assert stored(media_root) == [before]


def test_it_removes_the_avatar_idempotently(
    alice: User, alice_client: ApiClient, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    upload_avatar(alice_client, imagedata.jpeg())

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = alice_client.delete_json("/api/me/avatar")
        assert response.status_code == 200
        assert response.json()["avatar_url"] is None
    assert stored(media_root) == []


def test_it_needs_an_image_and_a_signed_in_user(
    alice_client: ApiClient, anon_client: ApiClient
) -> None:
    response = alice_client.post(
        "/api/me/avatar", {}, HTTP_AUTHORIZATION=f"Bearer {alice_client.token}"
    )
    assert_error(response, 400, "invalid_request")
    assert_error(upload_avatar(anon_client, imagedata.jpeg()), 401, "not_authenticated")
    assert_error(anon_client.delete_json("/api/me/avatar"), 401, "not_authenticated")


def test_it_tells_the_form_its_limits(alice_client: ApiClient, settings: Any) -> None:
    body = alice_client.get_json("/api/me/limits").json()

    assert body == {
        "name_max": 64,
        "bio_max": 150,
        "avatar_types": ["image/jpeg", "image/png", "image/webp"],
        "avatar_max_bytes": settings.MAX_UPLOAD_BYTES,
    }
    # The limits are the ones PATCH /api/me enforces.
    too_long = alice_client.patch(
        "/api/me",
        {"bio": "b" * 151},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {alice_client.token}",
    )
    assert_error(too_long, 400, "invalid_request")
