"""The hashtag and place pages' shells: a real 404 for what the API would not show."""

from __future__ import annotations

import pytest
from django.test import Client

from app.testing.factories import PlaceFactory


@pytest.mark.parametrize(
    "path",
    [
        "/tags/nosuchtag",
        "/tags/%3Cimg%20src=x%20onerror=alert(1)%3E",
        "/tags/a%00b",
        "/places/999999",
        "/places/99999999999999999999",
    ],
)
def test_it_answers_404_for_an_unknown_tag_or_place(db, path):
    response = Client().get(path)

    assert response.status_code == 404
    html = response.content.decode()
    assert "this page isn't available." in html
    assert "<img src=x" not in html


def test_it_answers_404_for_a_tag_only_hidden_posts_carry(alice, bob, charlie, make_post):
    make_post(alice, "only for friends #secretspot")
    client = Client()
    client.force_login(charlie)
    assert client.get("/tags/secretspot").status_code == 404
    # bob follows alice: he sees the post, so the page.
    client.force_login(bob)
    assert client.get("/tags/secretspot").status_code == 200


def test_it_renders_a_known_tag_and_place(charlie, make_post):
    park = PlaceFactory(name="Han River <Park>")
    make_post(charlie, "evening run #hanriver", place=park)

    tag = Client().get("/tags/HanRiver")
    assert tag.status_code == 200
    assert 'data-hashtag="HanRiver"' in tag.content.decode()
    place = Client().get(f"/places/{park.pk}")
    assert place.status_code == 200
    html = place.content.decode()
    assert '<h1 data-role="title">Han River &lt;Park&gt;</h1>' in html
    assert "<title>Han River &lt;Park&gt; · instalab</title>" in html
