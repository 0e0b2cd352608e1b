"""Likes and saves: idempotent, private-aware, and an exact like_count under concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from app.posts import services
from app.posts.models import Like, Post, Save
from app.testing.factories import PostFactory, UserFactory


@pytest.fixture
def alice_post(alice):
    return PostFactory(author=alice)


def test_it_likes_and_unlikes_idempotently(alice_post, bob_client):
    path = f"/api/posts/{alice_post.pk}/like"

    first = bob_client.post_json(path)
    second = bob_client.post_json(path)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"liked": True, "like_count": 1}
    assert Like.objects.filter(post=alice_post).count() == 1
    assert bob_client.get_json(f"/api/posts/{alice_post.pk}").json()["viewer_has_liked"] is True

    for _ in range(2):
        response = bob_client.delete_json(path)
        assert response.status_code == 200
        assert response.json() == {"liked": False, "like_count": 0}
    assert not Like.objects.exists()
    assert Post.objects.get(pk=alice_post.pk).like_count == 0


def test_it_counts_likes_from_several_users(alice_post, alice_client, bob_client):
    bob_client.post_json(f"/api/posts/{alice_post.pk}/like")
    response = alice_client.post_json(f"/api/posts/{alice_post.pk}/like")
    assert response.json() == {"liked": True, "like_count": 2}
    response = bob_client.delete_json(f"/api/posts/{alice_post.pk}/like")
    assert response.json() == {"liked": False, "like_count": 1}


@pytest.mark.parametrize(
    ("viewer", "status"),
    [("alice_client", 200), ("bob_client", 200), ("charlie_client", 404), ("anon_client", 401)],
)
@pytest.mark.parametrize("action", ["like", "save"])
@pytest.mark.parametrize("method", ["post_json", "delete_json"])
def test_it_lets_only_viewers_of_a_private_post_like_or_save_it(
    request, alice_post, bob, viewer, status, action, method
):
    client = request.getfixturevalue(viewer)
    response = getattr(client, method)(f"/api/posts/{alice_post.pk}/{action}")
    assert response.status_code == status, response.content
    if status != 200:
        assert "error" in response.json()
    if viewer in ("charlie_client", "anon_client"):
        assert not Like.objects.exists()
        assert not Save.objects.exists()
        assert Post.objects.get(pk=alice_post.pk).like_count == 0


def test_it_404s_a_like_of_an_unknown_post(bob_client):
    response = bob_client.post_json("/api/posts/424242/like")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_saves_and_unsaves_idempotently(alice_post, bob, bob_client):
    path = f"/api/posts/{alice_post.pk}/save"
    for _ in range(2):
        response = bob_client.post_json(path)
        assert (response.status_code, response.json()) == (200, {"saved": True})
    assert Save.objects.filter(user=bob, post=alice_post).count() == 1
    assert bob_client.get_json(f"/api/posts/{alice_post.pk}").json()["viewer_has_saved"] is True

    for _ in range(2):
        response = bob_client.delete_json(path)
        assert (response.status_code, response.json()) == (200, {"saved": False})
    assert not Save.objects.exists()


def test_it_enforces_csrf_for_cookie_sessions(alice_post, bob):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(bob)
    response = browser.post(f"/api/posts/{alice_post.pk}/like")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert not Like.objects.exists()


def run_in_threads(count: int, work) -> list[BaseException]:
    """Start ``count`` threads that all begin ``work(index)`` at once; collect failures."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_like_count_stays_exact_under_concurrent_likes_and_unlikes():
    post = PostFactory()
    likers = [UserFactory() for _ in range(10)]

    # Every liker likes twice at once: 20 racing requests, 10 distinct likes.
    errors = run_in_threads(
        20, lambda i: services.like_set(user=likers[i % 10], post_id=post.pk, liked=True)
    )
    assert errors == []
    post.refresh_from_db()
    assert Like.objects.filter(post=post).count() == 10
    assert post.like_count == 10

    # The first six unlike twice at once; the other four keep their like.
    errors = run_in_threads(
        12, lambda i: services.like_set(user=likers[i % 6], post_id=post.pk, liked=False)
    )
    assert errors == []
    post.refresh_from_db()
    assert Like.objects.filter(post=post).count() == 4
    assert post.like_count == 4
