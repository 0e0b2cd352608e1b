"""POST /api/posts under its budget: pixels per image and per request read from the headers
before any decode, CPU per request, and a bounded number of image decodes per process."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from app.conftest import ApiClient
from app.core.images import upload_budget
from app.posts.models import Post
from app.posts.tests import imagedata
from app.posts.tests.test_create import assert_error, create


def declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` but whose pixel data is a few bytes:
    what the header promises is all a precheck may read."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def png_upload(data: bytes) -> Any:
    return imagedata.upload(data, name="p.png", content_type="image/png")


def test_a_near_limit_image_is_refused_from_its_header(alice_client: ApiClient) -> None:
    # 40 MP in a few hundred bytes: under the old 40 MP cap it was decoded (seconds of CPU).
    response = create(alice_client, [png_upload(declared_png(8000, 5000))])

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

    response = create(alice_client, files)

    assert_error(response, 413, "upload_too_large")
    assert "images[1]" in response.json()["error"]["message"]
    assert not Post.objects.exists()
    assert imagedata.stored_files(media_root) == []


def test_images_within_the_budget_are_accepted(
    alice_client: ApiClient, settings: Any, media_root: Path
) -> None:
    settings.UPLOAD_PIXEL_BUDGET = 2 * 64 * 48
    files = [imagedata.upload(imagedata.jpeg()), imagedata.upload(imagedata.jpeg(), name="b.jpg")]
    assert create(alice_client, files).status_code == 201


def test_a_request_over_its_cpu_budget_stops_before_the_next_image(
    alice_client: ApiClient, settings: Any, media_root: Path
) -> None:
    settings.UPLOAD_CPU_SECONDS = 1e-9
    files = [
        imagedata.upload(imagedata.jpeg(800, 600)),
        imagedata.upload(imagedata.jpeg(800, 600), name="b.jpg"),
    ]

    response = create(alice_client, files)

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
        response = create(alice_client, [imagedata.upload(imagedata.jpeg())])

    assert_error(response, 503, "busy")
    assert response["Retry-After"] == "1"
    assert not Post.objects.exists()
    # Released: the next upload goes through.
    assert create(alice_client, [imagedata.upload(imagedata.jpeg())]).status_code == 201
