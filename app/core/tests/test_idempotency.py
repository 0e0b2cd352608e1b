"""Idempotency-Key: a retried create returns the first response and writes nothing more."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from app.accounts.models import User
from app.core.models import IdempotencyKey
from app.posts.models import Comment, Post, PostImage
from app.testing import imagedata
from app.testing.client import ApiClient
from app.testing.factories import PostFactory


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def create_post(client: ApiClient, key: str | None, caption: str = "once") -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {client.token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    upload = imagedata.upload(imagedata.jpeg())
    return Client().post("/api/posts", {"images": [upload], "caption": caption}, **headers)


@pytest.mark.django_db
def test_a_retried_post_create_makes_one_post(alice_client: ApiClient, media: Path) -> None:
    first = create_post(alice_client, "k-1")
    again = create_post(alice_client, "k-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Post.objects.count() == 1
    assert PostImage.objects.count() == 1
    # The retry's upload was stored nowhere: the first post's three renditions only.
    assert len(imagedata.stored_files(media)) == 3


@pytest.mark.django_db
def test_without_a_key_each_request_creates(alice_client: ApiClient, media: Path) -> None:
    create_post(alice_client, None)
    create_post(alice_client, None)
    assert Post.objects.count() == 2


@pytest.mark.django_db
def test_a_key_reused_for_another_request_is_422(alice_client: ApiClient, media: Path) -> None:
    assert create_post(alice_client, "k-2", caption="one").status_code == 201
    response = create_post(alice_client, "k-2", caption="another")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Post.objects.count() == 1


@pytest.mark.django_db
def test_a_failed_request_keeps_no_key_so_the_retry_runs(
    alice_client: ApiClient, alice: User
) -> None:
    post = PostFactory(author=alice)
    headers = {"HTTP_IDEMPOTENCY_KEY": "k-3"}
    failed = alice_client.post_json(f"/api/posts/{post.pk}/comments", {"text": ""}, **headers)
    assert failed.status_code == 400
    assert not IdempotencyKey.objects.exists()

    ok = alice_client.post_json(f"/api/posts/{post.pk}/comments", {"text": "hi"}, **headers)
    again = alice_client.post_json(f"/api/posts/{post.pk}/comments", {"text": "hi"}, **headers)
    assert ok.status_code == again.status_code == 201
    assert again.json() == ok.json()
    assert Comment.objects.filter(post=post).count() == 1


@pytest.mark.django_db
def test_keys_belong_to_their_user(
    alice_client: ApiClient, bob_client: ApiClient, alice: User
) -> None:
    post = PostFactory(author=alice)
    headers = {"HTTP_IDEMPOTENCY_KEY": "shared"}
    path = f"/api/posts/{post.pk}/comments"
    assert alice_client.post_json(path, {"text": "a"}, **headers).status_code == 201
    assert bob_client.post_json(path, {"text": "a"}, **headers).status_code == 201
    assert Comment.objects.filter(post=post).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 101, "bad\x00key", "naïve"])
def test_a_malformed_key_is_400(alice_client: ApiClient, alice: User, key: str) -> None:
    post = PostFactory(author=alice)
    response = alice_client.post_json(
        f"/api/posts/{post.pk}/comments", {"text": "hi"}, HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Comment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_write_once(alice_client: ApiClient, alice: User) -> None:
    post = PostFactory(author=alice)
    path = f"/api/posts/{post.pk}/comments"
    statuses: list[int] = []
    start = threading.Barrier(4)

    def send() -> None:
        start.wait()
        try:
            response = alice_client.post_json(path, {"text": "race"}, HTTP_IDEMPOTENCY_KEY="k-r")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [201] * 4
    assert Comment.objects.filter(post=post).count() == 1
