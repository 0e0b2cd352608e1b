"""DELETE /api/posts/{id}: owner only, counters decremented, files removed on commit."""

from __future__ import annotations

import pytest

from app.accounts.models import User
from app.posts import services
from app.posts.models import Comment, Hashtag, Like, Place, Post, PostImage
from app.testing import imagedata
from app.testing.factories import PlaceFactory


def posted(client, caption: str, place=None) -> int:
    fields = {"caption": caption, **({"place": place.pk} if place else {})}
    response = client.post(
        "/api/posts",
        {
            "images": [imagedata.upload(imagedata.jpeg()), imagedata.upload(imagedata.jpeg())],
            **fields,
        },
        HTTP_AUTHORIZATION=f"Bearer {client.token}",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_the_owner_deletes_a_post_with_its_counters_and_files(
    alice, alice_client, bob, bob_client, media_root, django_capture_on_commit_callbacks
):
    place = PlaceFactory()
    kept = posted(alice_client, "#shared", place)
    doomed = posted(alice_client, "#shared #solo", place)
    bob_client.post_json(f"/api/posts/{doomed}/like")
    bob_client.post_json(f"/api/posts/{doomed}/comments", {"text": "bye"})
    doomed_files = [
        name
        for image in PostImage.objects.filter(post_id=doomed)
        for name in (image.original.name, image.feed.name, image.thumb.name)
    ]
    assert len(imagedata.stored_files(media_root)) == 12

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.delete_json(f"/api/posts/{doomed}")

    assert response.status_code == 204
    assert list(Post.objects.values_list("id", flat=True)) == [kept]
    assert not Like.objects.exists()
    assert not Comment.objects.exists()
    assert User.objects.get(pk=alice.pk).post_count == 1
    assert Place.objects.get(pk=place.pk).post_count == 1
    assert dict(Hashtag.objects.values_list("name", "post_count")) == {"shared": 1, "solo": 0}
    remaining = imagedata.stored_files(media_root)
    assert len(remaining) == 6
    assert not any((media_root / name).exists() for name in doomed_files)
    assert alice_client.get_json(f"/api/posts/{doomed}").status_code == 404


def test_a_second_delete_is_a_404_and_decrements_nothing(alice, alice_client):
    post_id = posted(alice_client, "#once")
    assert alice_client.delete_json(f"/api/posts/{post_id}").status_code == 204
    assert alice_client.delete_json(f"/api/posts/{post_id}").status_code == 404
    assert User.objects.get(pk=alice.pk).post_count == 0
    assert Hashtag.objects.get(name="once").post_count == 0


def test_it_deletes_files_only_once_the_transaction_commits(
    alice, alice_client, media_root, django_capture_on_commit_callbacks
):
    posted(alice_client, "kept files")
    # Until the commit callback runs, a rollback would leave rows whose files still exist.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.post_delete(user=alice, post_id=Post.objects.get().pk)
    # The author's cached row (post_count), the files, the feed's invalidation and fan-out
    # removal, and search's hashtag and place windows.
    assert len(callbacks) == 4
    assert len(imagedata.stored_files(media_root)) == 6


@pytest.mark.parametrize(
    ("viewer", "status", "code"),
    [
        ("bob_client", 403, "forbidden"),
        ("charlie_client", 404, "not_found"),
        ("anon_client", 401, "not_authenticated"),
    ],
)
def test_only_the_owner_may_delete(alice, alice_client, bob, request, viewer, status, code):
    post_id = posted(alice_client, "mine")
    response = request.getfixturevalue(viewer).delete_json(f"/api/posts/{post_id}")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert Post.objects.filter(pk=post_id).exists()
    assert User.objects.get(pk=alice.pk).post_count == 1


def test_it_404s_an_unknown_post(alice_client):
    response = alice_client.delete_json("/api/posts/31337")
    assert response.status_code == 404
