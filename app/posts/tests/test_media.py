"""GET /media/<path>: a post's image files only for viewers who may see the post
(alice is private, bob follows her, charlie is a stranger)."""

from __future__ import annotations

from django.test import Client

from app.accounts import services as accounts
from app.accounts.models import User
from app.core import degrade
from app.lab.testing import assert_queries
from app.posts import media, viewcache
from app.testing import imagedata


def posted(client) -> dict[str, str]:
    response = client.post(
        "/api/posts",
        {"images": [imagedata.upload(imagedata.jpeg())], "caption": "mine"},
        HTTP_AUTHORIZATION=f"Bearer {client.token}",
    )
    assert response.status_code == 201, response.content
    return response.json()["images"][0]


def status(client, url: str) -> int:
    response = client.get_json(url)
    if response.status_code == 200:
        assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"  # a JPEG's bytes
    return response.status_code


def test_a_private_authors_images_only_reach_her_and_her_followers(
    alice_client, bob_client, charlie_client, anon_client
):
    image = posted(alice_client)
    for url in (image["url"], image["thumb_url"], image["original_url"]):
        assert url.startswith("/media/posts/")
        assert status(alice_client, url) == 200
        assert status(bob_client, url) == 200
        assert status(charlie_client, url) == 404
        assert status(anon_client, url) == 404


def test_a_browser_session_cookie_is_enough(alice, bob, alice_client):
    url = posted(alice_client)["url"]
    browser = Client()
    assert browser.get(url).status_code == 404
    browser.force_login(bob)
    response = browser.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private"


def test_a_public_authors_images_reach_everyone_from_one_redis_read(
    charlie, charlie_client, anon_client, alice_client
):
    url = posted(charlie_client)["url"]
    assert status(anon_client, url) == 200  # cold: who may see it, from SQL, then kept
    with assert_queries(0):
        response = anon_client.get_json(url)
    assert response.status_code == 200
    assert "Cache-Control" not in response
    assert status(alice_client, url) == 200


def test_turning_private_hides_images_already_checked(
    charlie, charlie_client, anon_client, django_capture_on_commit_callbacks
):
    url = posted(charlie_client)["url"]
    assert status(anon_client, url) == 200
    with django_capture_on_commit_callbacks(execute=True):
        accounts.user_update_profile(user=User.objects.get(pk=charlie.pk), is_private=True)
    assert status(anon_client, url) == 404
    assert status(charlie_client, url) == 200


def test_files_no_post_uses_and_paths_outside_media_are_404(alice_client, anon_client, media_root):
    (media_root / "posts" / "feed").mkdir(parents=True, exist_ok=True)
    (media_root / "posts" / "feed" / "orphan.jpg").write_bytes(imagedata.jpeg())
    (media_root / "notes.txt").write_text("secret")
    for url in (
        "/media/posts/feed/orphan.jpg",
        "/media/posts/feed/missing.jpg",
        "/media/notes.txt",
        "/media/../app/settings.py",
        "/media/posts/feed/orphan.jpg%00.png",
        "/media/",
    ):
        assert anon_client.get_json(url).status_code == 404, url
        assert alice_client.get_json(url).status_code == 404, url


def test_without_redis_sql_decides_with_the_same_rule(
    alice, alice_client, bob_client, charlie_client, anon_client, monkeypatch
):
    url = posted(alice_client)["url"]
    monkeypatch.setattr(degrade, "redis_up", lambda: False)
    assert status(alice_client, url) == 200
    assert status(bob_client, url) == 200
    assert status(charlie_client, url) == 404
    assert status(anon_client, url) == 404
    assert not viewcache.connection().exists(media._key(url.removeprefix("/media/")))
