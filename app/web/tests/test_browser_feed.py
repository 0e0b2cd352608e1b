"""The home feed and explore in a real browser: posts arriving live, infinite scroll, photo
boxes at Instagram's aspect rules, the carousel, double-tap like, suggestions, the explore grid."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_redis import get_redis_connection
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from app.accounts.models import Follow, User
from app.core import realtime
from app.posts import services as post_services
from app.posts.models import Like, Post
from app.testing.factories import UserFactory
from app.web.testing import needs_chromium, no_horizontal_overflow, ready, screenshot, screenshots

# Every signed-in page opens the user's socket: a real /ws/ server for each test.
pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.usefixtures("media_root", "ws_server"),
]

# Sky colours for the test photos, so the screenshots look like a feed of photos.
SKIES = [
    ((255, 140, 90), (255, 220, 210)),
    ((40, 90, 160), (150, 200, 240)),
    ((20, 120, 90), (200, 230, 160)),
]


def photo(folder: Path, width: int, height: int, sky: int = 0) -> Path:
    """A JPEG of the given size: a gradient sky, a sun and a horizon."""
    top, bottom = SKIES[sky % len(SKIES)]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    r = min(width, height) // 8
    draw.ellipse(
        (width // 2 - r, height // 2, width // 2 + r, height // 2 + 2 * r), fill=(255, 236, 150)
    )
    draw.rectangle((0, height * 4 // 5, width, height), fill=(40, 70, 110))
    path = folder / f"photo-{width}x{height}-{sky}.jpg"
    image.save(path, format="JPEG", quality=80)
    return path


def post_of(author: User, photos: list[Path], caption: str, alt: tuple[str, ...] = ()) -> Post:
    """A post through the real image pipeline, one upload per photo (``alt``: their alt texts)."""
    uploads = [
        SimpleUploadedFile(p.name, p.read_bytes(), content_type="image/jpeg") for p in photos
    ]
    return post_services.post_create(
        author=author, uploads=uploads, caption=caption, place_id=None, alt_texts=alt
    )


def card(page: Page, post: Post) -> Any:
    return page.locator(f'article[data-post-id="{post.pk}"]')


def size(locator: Any) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None
    return box["width"], box["height"]


def until(condition: Any, what: str) -> None:
    """Poll ``condition`` for up to 15 s (the pages' CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)


def socket_joined(user: User) -> None:
    """Wait until one of ``user``'s sockets listens on their channel (frames published before
    that go nowhere: pub/sub keeps nothing)."""
    prefix = realtime.pubsub_prefix()
    assert prefix is not None
    channel = realtime.group_channel(prefix, realtime.user_group(user.pk))
    conn = get_redis_connection("default")
    until(lambda: conn.pubsub_numsub(channel)[0][1], f"{user}'s socket joins its channel")


def test_a_followed_accounts_new_post_arrives_live(
    open_as: Any, alice: User, bob: User, tmp_path: Path
) -> None:
    earlier = [post_of(alice, [photo(tmp_path, 800, 1000, i)], f"Earlier {i}") for i in range(3)]
    pages = {}
    for user in (alice, bob):
        pages[user.username] = open_as(user)
    bobs, alices = pages["bob"], pages["alice"]
    ready(bobs, "/")
    expect(card(bobs, earlier[0])).to_be_visible()
    socket_joined(bob)
    bobs.evaluate("scrollTo(0, 900)")

    # Alice shares a photo; bob, scrolled down, is offered it instead of having it pushed in.
    ready(alices, "/upload")
    alices.locator('input[type="file"]').set_input_files(photo(tmp_path, 900, 900, 1))
    alices.get_by_label("Caption").fill("Fresh from the market")
    alices.get_by_role("button", name="Share").click()
    alices.wait_for_url(re.compile(r"/p/\d+$"))
    fresh = Post.objects.get(author=alice, caption="Fresh from the market")
    pill = bobs.get_by_role("button", name="New posts")
    expect(pill).to_be_visible()
    expect(card(bobs, fresh)).to_have_count(0)
    screenshot(bobs, "home-new-posts")
    pill.click()
    expect(bobs.locator("#feed article").first).to_have_attribute("data-post-id", str(fresh.pk))
    expect(pill).to_be_hidden()
    until(lambda: bobs.evaluate("scrollY") == 0, "the pill scrolls back to the top")

    # At the top of the feed, the next one goes straight in.
    again = post_of(alice, [photo(tmp_path, 800, 1000, 2)], "And one more")
    expect(bobs.locator("#feed article").first).to_have_attribute("data-post-id", str(again.pk))
    expect(pill).to_be_hidden()
    expect(bobs.locator("#feed article")).to_have_count(5)
    for each in pages.values():
        each.context.close()


def test_photos_keep_instagrams_aspect_rules_in_cards_and_carousels(
    page: Page, live_server: Any, sign_in: Any, alice: User, bob: User, tmp_path: Path
) -> None:
    noon = ("The sun over the harbour at noon",)
    square = post_of(alice, [photo(tmp_path, 1080, 1080, 0)], "Lunch at the harbour", noon)
    tall = post_of(alice, [photo(tmp_path, 600, 900, 2)], "A tall one #portrait")
    hike = post_of(
        alice,
        [
            photo(tmp_path, 1200, 628, 1),
            photo(tmp_path, 900, 900, 2),
            photo(tmp_path, 800, 1000, 0),
        ],
        "Three from the ridge #hike",
    )
    sign_in(page, bob)
    ready(page, "/")

    # 1:1 shows square and whole; 2:3 is taller than 4:5 allows, so it fills a 4:5 box.
    width, height = size(card(page, square).locator(".post-media"))
    assert abs(width - height) <= 1
    assert size(card(page, square).locator("img")) == (width, height)
    assert size(card(page, square))[1] < width + 300, "the card is a photo and a short footer"
    width, height = size(card(page, tall).locator(".post-media"))
    assert abs(height / width - 5 / 4) < 0.01
    expect(card(page, tall).locator("img")).to_have_class("cover")
    expect(card(page, square).locator("img")).to_have_attribute("width", "1080")
    expect(card(page, square).get_by_alt_text(noon[0])).to_be_visible()  # the author's own
    # The carousel's box takes its first photo's 1.91:1.
    carousel = card(page, hike)
    width, height = size(carousel.locator(".post-media"))
    assert abs(width / height - 1.91) < 0.01

    dots = carousel.locator(".dots span")
    expect(dots).to_have_count(3)
    expect(carousel.get_by_role("button", name="Previous photo")).to_be_hidden()
    carousel.get_by_role("button", name="Next photo").click()
    expect(dots.nth(1)).to_have_class("on")
    expect(carousel.get_by_role("button", name="Previous photo")).to_be_visible()
    carousel.locator(".slides").press("ArrowRight")
    expect(dots.nth(2)).to_have_class("on")
    expect(carousel.get_by_role("button", name="Next photo")).to_be_hidden()
    carousel.locator(".slides").press("ArrowLeft")
    expect(dots.nth(1)).to_have_class("on")
    carousel.get_by_role("button", name="Previous photo").click()
    expect(dots.nth(0)).to_have_class("on")

    # Double-tap likes through the same API as the heart; a second one never unlikes.
    photo_box = card(page, square).locator(".post-media")
    photo_box.dblclick()
    like = card(page, square).get_by_role("button", name="Like")
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(card(page, square).locator(".likes")).to_have_text("1 like")
    photo_box.dblclick()
    expect(card(page, square).locator(".likes")).to_have_text("1 like")
    assert Like.objects.filter(post=square, user=bob).exists()
    expect(card(page, square).get_by_role("button", name="Send")).to_be_visible()

    expect(page.locator(".burst")).to_have_count(0)  # the heart has played and gone
    page.evaluate("scrollTo(0, 0)")
    screenshots(page, "home")
    page.set_viewport_size({"width": 360, "height": 780})
    width, height = size(card(page, square).locator(".post-media"))
    assert width == 360 and abs(width - height) <= 1
    assert no_horizontal_overflow(page)


def test_the_feed_keeps_loading_as_you_scroll_and_suggests_posts(
    page: Page,
    live_server: Any,
    sign_in: Any,
    settings: Any,
    alice: User,
    bob: User,
    charlie: User,
    tmp_path: Path,
) -> None:
    settings.FEED_RECOMMENDED_EVERY = 5  # one suggested post after every four followed ones
    small = photo(tmp_path, 320, 400)
    for day in range(12):
        post_of(alice, [small], f"Day {day}")
    suggested = post_of(charlie, [photo(tmp_path, 400, 400, 1)], "Open to all #sunset")
    sign_in(page, bob)
    ready(page, "/")
    articles = page.locator("#feed article")
    expect(articles).to_have_count(9)  # eight followed and the one suggestion

    page.evaluate("scrollTo(0, document.body.scrollHeight)")
    expect(articles).to_have_count(13)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    tip = card(page, suggested)
    expect(tip.locator(".reason")).to_have_text("Suggested for you")
    tip.get_by_role("button", name="Follow").click()
    expect(tip.get_by_role("button", name="Following")).to_be_visible()
    assert Follow.objects.filter(follower=bob, followee=charlie).exists()


def test_explore_opens_posts_and_an_empty_feed_suggests_accounts(
    page: Page, live_server: Any, sign_in: Any, charlie: User, tmp_path: Path
) -> None:
    dana = UserFactory(username="dana", name="Dana Park")
    small = photo(tmp_path, 200, 200)
    older = [post_of(dana, [small], f"Older {i}") for i in range(17)]  # 26 in all: two pages
    shapes = [(800, 800), (1080, 1350), (1200, 628)]
    posts = [
        post_of(dana, [photo(tmp_path, *shapes[i % 3], i)], f"Out and about {i} #city")
        for i in range(8)
    ]
    pair = [photo(tmp_path, 800, 800, 1), photo(tmp_path, 800, 800, 2)]
    posts.append(post_of(dana, pair, "Two views of the bridge"))
    sign_in(page, charlie)
    ready(page, "/explore")
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(24)
    several = page.locator(f'.tile[data-post-id="{posts[-1].pk}"]')
    expect(several.locator(".multi")).to_have_count(1)
    expect(several.get_by_role("img")).to_have_attribute("alt", re.compile(r"\(2 photos\)"))
    expect(page.get_by_role("link", name="Explore")).to_have_attribute("aria-current", "page")
    screenshots(page, "explore")
    page.evaluate("scrollTo(0, document.body.scrollHeight)")
    expect(tiles).to_have_count(26)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    page.evaluate("scrollTo(0, 0)")
    page.set_viewport_size({"width": 360, "height": 780})
    assert no_horizontal_overflow(page)
    page.set_viewport_size({"width": 1100, "height": 900})

    first = tiles.first
    post_id = first.get_attribute("data-post-id")
    assert post_id in {str(p.pk) for p in posts + older}
    first.click()
    page.wait_for_url(f"**/p/{post_id}")
    expect(page.locator(f'article[data-post-id="{post_id}"]')).to_be_visible()

    ready(page, "/")
    expect(page.get_by_text("Your feed is empty.")).to_be_visible()
    suggestion = page.locator(".suggested li")
    expect(suggestion).to_have_count(1)
    expect(suggestion).to_contain_text("Dana Park")
    suggestion.get_by_role("button", name="Follow").click()
    expect(suggestion.get_by_role("button", name="Following")).to_be_visible()
    assert Follow.objects.filter(follower=charlie, followee=dana).exists()
