"""Search, upload and the hashtag and place pages in a real browser: the top bar's typeahead,
recent searches, trending, "More" per kind, a post with a place, alt text and a square crop,
and a real 404 for an unknown tag."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from app.accounts.models import User
from app.posts.models import Place, PostImage
from app.search import services as search_services
from app.search.models import SearchQuery
from app.search.selectors import TRENDING_KEY
from app.testing.factories import PlaceFactory, UserFactory
from app.web.testing import needs_chromium, no_horizontal_overflow, ready, screenshots, upload_post

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.usefixtures("media_root")]


def test_it_suggests_from_the_top_bar_and_remembers_searches(
    page: Page, live_server: Any, ws_server: str, sign_in: Any, bob: User, charlie: User, jpeg: Path
) -> None:
    upload_post(charlie, jpeg, "Morning laps #skatepark")
    sign_in(page, bob)
    ready(page, f"{live_server.url}/")
    box = page.locator("#topbar-q")
    # A leading # asks for hashtags only (it used to be a 400 at the first key).
    box.press_sequentially("#park", delay=30)
    expect(page.locator("#topbar-suggestions").get_by_role("option")).to_have_text(
        [re.compile(r"^#skatepark")]
    )
    box.fill("")
    box.press_sequentially("char", delay=30)
    page.locator("#topbar-suggestions").get_by_role("option", name=re.compile("charlie")).click()
    page.wait_for_url(f"{live_server.url}/u/charlie")

    # Enter searches: the search page's own box, the top bar's hidden, no list over results.
    ready(page, f"{live_server.url}/")
    page.locator("#topbar-q").fill("skatepark")
    page.locator("#topbar-q").press("Enter")
    page.wait_for_url(f"{live_server.url}/search?q=skatepark")
    expect(page.locator("#results").get_by_role("heading", name="Hashtags")).to_be_visible()
    expect(page.locator("#topbar-q")).to_be_hidden()
    search = page.locator("#search-q")
    search.fill("")
    search.press_sequentially("char", delay=30)
    search.press("Enter")
    expect(page.locator("#results").get_by_role("heading", name="Accounts")).to_be_visible()
    expect(page.locator("#suggestions")).to_be_hidden()

    # Recent searches while the box is empty: newest first, one removed, then all cleared.
    search.fill("")
    search.focus()
    recent = page.locator("#suggestions").get_by_role("option")
    expect(recent).to_have_text(
        [re.compile(r"^char\b"), re.compile(r"^skatepark\b"), re.compile(r"^charlie")]
    )
    recent.nth(1).get_by_role("button", name="Remove skatepark").click()
    expect(recent).to_have_count(2)
    assert not SearchQuery.objects.filter(user=bob, query="skatepark").exists()
    page.get_by_role("button", name="Clear all").click()
    expect(page.locator("#suggestions")).to_be_hidden()
    assert not SearchQuery.objects.filter(user=bob).exists()


def test_it_shows_trending_and_more_results_per_kind(
    page: Page, live_server: Any, ws_server: str, sign_in: Any, bob: User, charlie: User, jpeg: Path
) -> None:
    for user in (bob, charlie, *UserFactory.create_batch(2)):
        search_services.history_record(user=user, query="park")
    search_services.history_record(user=bob, query="seoul")
    search_services.history_record(
        user=bob, query="charlie", kind="click", target_type="user", target_id=charlie.pk
    )
    cache.delete(TRENDING_KEY)
    central = PlaceFactory(name="Central Park", address="New York, NY", post_count=40)
    for index in range(8):
        PlaceFactory(name=f"Park Lane {index + 1}", address="London", post_count=8 - index)
    for index, caption in enumerate(["Picnic #parklife", "Laps #skatepark", "Dusk #parkrun"]):
        upload_post(charlie, jpeg, caption, place_id=central.pk if index else None)
    sign_in(page, bob)

    ready(page, f"{live_server.url}/search")
    trending = page.locator(".trending")
    expect(trending.get_by_role("link")).to_have_text([re.compile(r"park\s*4 searches")])
    screenshots(page, "search-trending")
    page.locator("#search-q").focus()
    expect(page.locator("#suggestions").get_by_role("option")).to_have_count(3)
    screenshots(page, "search-recent")
    page.locator("#search-q").press("Escape")

    trending.get_by_role("link", name=re.compile("park")).click()
    page.wait_for_url(f"{live_server.url}/search?q=park")
    places = page.locator('[data-kind="places"] li')
    # Prefix matches first (the most used first), the rest inside the name after them.
    expect(places).to_have_count(6)
    expect(places.first).to_contain_text("Park Lane 1")
    more = page.get_by_role("button", name="More places")
    more.click()
    expect(places).to_have_count(9)
    expect(places.last).to_contain_text("Central Park")
    expect(more).to_be_hidden()
    expect(page.locator('[data-kind="hashtags"] li')).to_have_text(
        [re.compile(r"#parkrun"), re.compile(r"#parklife"), re.compile(r"#skatepark")]
    )
    expect(page.locator('[data-kind="posts"] .tile img')).to_have_count(3)
    screenshots(page, "search")
    page.set_viewport_size({"width": 360, "height": 780})
    assert no_horizontal_overflow(page)


def test_it_uploads_with_a_place_alt_text_and_a_square_crop(
    page: Page, live_server: Any, ws_server: str, sign_in: Any, bob: User, jpeg: Path
) -> None:
    han = PlaceFactory(name="Han River Park", address="Seoul", post_count=3)
    PlaceFactory(name="Hanok Village", address="Jeonju")
    sign_in(page, bob)
    ready(page, f"{live_server.url}/upload")
    page.locator("#upload-images").set_input_files(str(jpeg))
    page.get_by_label("Square 1:1").check()
    page.get_by_label("Alt text for photo").fill("A low sun over a calm river")
    page.get_by_label("Caption").fill("Evening walk #hanriver")
    page.get_by_label("Location").press_sequentially("river", delay=30)
    page.get_by_role("option", name=re.compile("Han River Park")).click()
    expect(page.locator(".place-chosen")).to_contain_text("Han River Park")
    screenshots(page, "upload")
    page.set_viewport_size({"width": 360, "height": 780})
    assert no_horizontal_overflow(page)
    page.get_by_role("button", name="Share").click()

    page.wait_for_url(re.compile(r"/p/\d+$"))
    card = page.locator("article.post-card")
    expect(card.get_by_role("link", name="Han River Park")).to_have_attribute(
        "href", f"/places/{han.pk}"
    )
    image = PostImage.objects.get(post__author=bob)
    # The browser cropped the 800x1000 photo to its centre square before the upload.
    assert (image.width, image.height) == (800, 800)
    assert image.alt_text == "A low sun over a calm river"
    assert Place.objects.get(pk=han.pk).post_count == 4
    # What the card's <img alt> reads (js/render.js): the post as the API sends it.
    sent = page.request.get(f"/api/posts/{image.post_id}").json()
    assert sent["images"][0]["alt_text"] == "A low sun over a calm river"


@pytest.mark.http_errors(404)
def test_it_shows_hashtag_and_place_pages_and_a_404_for_an_unknown_tag(
    page: Page, live_server: Any, charlie: User, jpeg: Path
) -> None:
    park = PlaceFactory(name="Seoul Forest", address="Seongdong-gu, Seoul")
    upload_post(charlie, jpeg, "Spring light #SeoulForest", place_id=park.pk)
    for index in range(2):
        upload_post(charlie, jpeg, f"Walk {index} #seoulforest")

    ready(page, f"{live_server.url}/tags/SeoulForest")
    expect(page.get_by_role("heading", name="#seoulforest")).to_be_visible()
    expect(page.locator('[data-role="summary"]')).to_have_text("3 posts")
    expect(page.locator("#grid .tile")).to_have_count(3)
    screenshots(page, "hashtag")

    ready(page, f"{live_server.url}/places/{park.pk}")
    expect(page.get_by_role("heading", name="Seoul Forest")).to_be_visible()
    expect(page.locator('[data-role="summary"]')).to_have_text("Seongdong-gu, Seoul · 1 post")
    expect(page.locator("#grid .tile")).to_have_count(1)
    screenshots(page, "place")
    page.set_viewport_size({"width": 360, "height": 780})
    assert no_horizontal_overflow(page)

    response = page.goto(f"{live_server.url}/tags/nosuchtag")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Sorry, this page isn't available.")).to_be_visible()
