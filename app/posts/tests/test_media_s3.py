"""MEDIA_STORAGE=s3: a post's images are written to an S3-compatible bucket through the real
API and read back through their /media/ URLs, with the viewer check still in front, and the
seeder's image pool is copied there (app/testing/s3.py: moto's standalone server stands in
for MinIO or a cloud bucket)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.core.files.storage import default_storage

from app.testing import imagedata
from app.testing.s3 import S3Server, s3_server
from seed.images import PoolImage, pool_store


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    with s3_server() as running:
        yield running


@pytest.fixture
def bucket(server: S3Server, settings) -> str:
    name = f"media-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=name)
    settings.STORAGES = {**settings.STORAGES, "default": server.storage_settings(name)}
    return name


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_post_image_goes_to_the_bucket_and_back_through_its_url(
    server, bucket, alice_client, bob_client, charlie_client
):
    response = alice_client.post(
        "/api/posts",
        {"images": [imagedata.upload(imagedata.jpeg(300, 200))], "caption": "to the bucket"},
        HTTP_AUTHORIZATION=f"Bearer {alice_client.token}",
    )
    assert response.status_code == 201, response.content
    image = response.json()["images"][0]
    assert default_storage.__class__.__name__ == "MediaS3Storage"

    keys = {o["Key"] for o in server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    for field in ("url", "thumb_url", "original_url"):
        url = image[field]
        # The site's own URL, not the bucket's: the viewer check stays in front.
        assert url.startswith("/media/posts/"), url
        name = url.removeprefix("/media/")
        assert name in keys
        stored = server.client().get_object(Bucket=bucket, Key=name)["Body"].read()
        assert stored[:2] == b"\xff\xd8"  # a JPEG

        served = alice_client.get_json(url)
        assert served.status_code == 200
        assert served["Content-Type"] == "image/jpeg"
        assert body(served) == stored
        # alice is private: bob follows her, charlie does not.
        assert body(bob_client.get_json(url)) == stored
        assert charlie_client.get_json(url).status_code == 404


def test_a_deleted_posts_files_leave_the_bucket(
    server, bucket, alice_client, django_capture_on_commit_callbacks
):
    response = alice_client.post(
        "/api/posts",
        {"images": [imagedata.upload(imagedata.jpeg())], "caption": "short-lived"},
        HTTP_AUTHORIZATION=f"Bearer {alice_client.token}",
    )
    assert response.status_code == 201, response.content
    listed = server.client().list_objects_v2(Bucket=bucket)
    assert listed["KeyCount"] == 3  # original, feed and thumb

    # The files go once the delete commits.
    with django_capture_on_commit_callbacks(execute=True):
        deleted = alice_client.delete(
            f"/api/posts/{response.json()['id']}",
            HTTP_AUTHORIZATION=f"Bearer {alice_client.token}",
        )
    assert deleted.status_code in (200, 204), deleted.content
    assert server.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_the_seeders_pool_is_copied_into_the_bucket_once(server, bucket, tmp_path):
    names = {kind: f"seed-pool/{kind}/0000.jpg" for kind in ("original", "feed", "thumb")}
    for name in names.values():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(imagedata.jpeg())
    pool = [PoolImage(**names, width=64, height=48, community=0)]

    assert pool_store(pool, tmp_path) == 3
    client = server.client()
    for name in names.values():
        stored = client.get_object(Bucket=bucket, Key=name)["Body"].read()
        assert stored == (tmp_path / name).read_bytes()
    assert pool_store(pool, tmp_path) == 0  # already there
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 3


def test_on_the_local_disk_the_pool_is_left_where_it_was_drawn(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    assert pool_store([PoolImage("a", "b", "c", 1, 1, 0)], tmp_path) == 0
