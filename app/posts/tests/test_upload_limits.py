"""POST /api/posts under its budget: pixels per image and per request read from the headers
before any decode, CPU per request, and a bounded number of image decodes per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core.images import upload_budget
from app.posts.models import Post
from app.testing import imagedata
from app.testing.client import ApiClient, assert_error, post_create


def png_upload(data: bytes) -> Any:
    return imagedata.upload(data, name="p.png", content_type="image/png")


def test_a_near_limit_image_is_refused_from_its_header(alice_client: ApiClient) -> None:
    # 40 MP in a few hundred bytes: under the old 40 MP cap it was decoded (seconds of CPU).
    response = post_create(alice_client, [png_upload(imagedata.declared_png(8000, 5000))])

    assert_error(response, 400, "image_too_large")
    assert "images[0]" in response.json()["error"]["message"]


def test_a_request_over_the_pixel_budget_is_refused_before_any_decode(
    alice_client: ApiClient, settings: Any, media_root: Path
) -> None:
    settings.UPLOAD_PIXEL_BUDGET = 2 * 400 * 300 - 1
    # The first image is corrupt past its header: decoding it first would answer 400.
    files = [
        imagedata.upload(imagedata.truncated_jpeg()),
        imagedata.upload(imagedata.jpeg(400, 300), name="b.jpg"),
    ]

    response = post_create(alice_client, files)

    assert_error(response, 413, "upload_too_large")
    assert "images[1]" in response.json()["error"]["message"]
    assert not Post.objects.exists()
    assert imagedata.stored_files(media_root) == []


def test_images_within_the_budget_are_accepted(
    alice_client: ApiClient, settings: Any, media_root: Path
) -> None:
    settings.UPLOAD_PIXEL_BUDGET = 2 * 64 * 48
    files = [imagedata.upload(imagedata.jpeg()), imagedata.upload(imagedata.jpeg(), name="b.jpg")]
    assert post_create(alice_client, files).status_code == 201


def test_a_request_over_its_cpu_budget_stops_before_the_next_image(
    alice_client: ApiClient, settings: Any, media_root: Path
) -> None:
    settings.UPLOAD_CPU_SECONDS = 1e-9
    files = [
        imagedata.upload(imagedata.jpeg(800, 600)),
        imagedata.upload(imagedata.jpeg(800, 600), name="b.jpg"),
    ]

    response = post_create(alice_client, files)

    assert_error(response, 413, "upload_too_costly")
    assert not Post.objects.exists()
    assert imagedata.stored_files(media_root) == []


def test_when_every_processing_slot_is_taken_it_answers_503_with_retry_after(
    alice_client: ApiClient, settings: Any, media_root: Path
) -> None:
    settings.IMAGE_PROCESSING_SLOTS = 1
    settings.IMAGE_SLOT_WAIT = 0.05
    # Another request of this process holds the one slot.
    with upload_budget(uploads=[]):
        response = post_create(alice_client, [imagedata.upload(imagedata.jpeg())])

    assert_error(response, 503, "busy")
    assert response["Retry-After"] == "1"
    assert not Post.objects.exists()
    # Released: the next upload goes through.
    assert post_create(alice_client, [imagedata.upload(imagedata.jpeg())]).status_code == 201
