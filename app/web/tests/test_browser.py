"""The web app in a real browser (Debian's chromium via Playwright) against the live server:
sign up, log in, upload, the profile grid, likes, comments, follows, the feed and search."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.accounts import services as account_services
from app.accounts.models import Follow, User
from app.chat import services as chat_services
from app.chat.models import Message
from app.posts import services as post_services
from app.posts.models import Comment, Like, Post
from app.testing.factories import PlaceFactory, UserFactory
from app.web.testing import (
    DESKTOP,
    MOBILE,
    loaded_width,
    needs_chromium,
    no_horizontal_overflow,
    ready,
    screenshots,
    session_cookie,
    upload_post,
)

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.usefixtures("media_root")]


def test_it_signs_up_and_lands_on_an_empty_feed(page: Page, live_server: Any) -> None:
    ready(page, f"{live_server.url}/signup")
    screenshots(page, "signup")
    assert no_horizontal_overflow(page)
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("a-long-lab-password")
    page.get_by_role("button", name="Sign up").click()

    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_text("Your feed is empty.")).to_be_visible()
    expect(page.get_by_role("link", name="Profile")).to_have_attribute("href", "/u/dana")
    assert User.objects.filter(username="dana", email="dana@example.com").exists()


@pytest.mark.http_errors(409)
def test_it_shows_why_a_signup_was_refused(page: Page, live_server: Any) -> None:
    UserFactory(username="dana")
    ready(page, f"{live_server.url}/signup")
    page.get_by_label("Email").fill("other@example.com")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("a-long-lab-password")
    page.get_by_role("button", name="Sign up").click()

    expect(page.get_by_role("alert")).to_contain_text("taken")
    assert page.url == f"{live_server.url}/signup"


@pytest.mark.http_errors(401)
def test_it_logs_in_back_to_the_page_asked_for_and_out(page: Page, live_server: Any) -> None:
    UserFactory(username="erin")
    page.goto(f"{live_server.url}/upload")
    page.wait_for_url(re.compile(r"/login\?next=/upload$"))
    screenshots(page, "login")

    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")

    page.get_by_label("Password").fill("lab-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/upload")
    expect(page.get_by_role("heading", name="New post")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/login")
    page.goto(f"{live_server.url}/")
    page.wait_for_url(re.compile(r"/login\?next=/$"))


def test_it_uploads_a_photo_that_shows_on_the_profile_grid(
    page: Page, live_server: Any, sign_in: Any, charlie: User, jpeg: Path
) -> None:
    sign_in(page, charlie)
    ready(page, f"{live_server.url}/upload")
    page.get_by_label("Photos").set_input_files(jpeg)
    expect(page.get_by_alt_text("Preview of sunset.jpg")).to_be_visible()
    page.get_by_label("Caption").fill("First light #sunrise with @charlie")
    page.get_by_role("button", name="Share").click()

    page.wait_for_url(re.compile(r"/p/\d+$"))
    post = Post.objects.get(author=charlie)
    photo = page.get_by_alt_text(re.compile(r"^Photo by @charlie: First light"))
    expect(photo).to_be_visible()
    assert loaded_width(photo) > 0, "the feed rendition did not load"
    expect(page.get_by_role("link", name="#sunrise")).to_have_attribute("href", "/tags/sunrise")

    ready(page, f"{live_server.url}/u/charlie")
    tile = page.locator(f'.tile[data-post-id="{post.pk}"] img')
    expect(tile).to_be_visible()
    assert "/thumb/" in (tile.get_attribute("src") or "")
    assert loaded_width(tile) > 0, "the thumbnail did not load"
    expect(page.locator('[data-count="post_count"]')).to_have_text("1")


def test_it_likes_and_comments_on_a_post(
    page: Page, live_server: Any, sign_in: Any, bob: User, charlie: User, jpeg: Path
) -> None:
    post = upload_post(charlie, jpeg, "Harbour at dusk #sunset")
    sign_in(page, bob)
    ready(page, f"{live_server.url}/p/{post.pk}")

    like = page.get_by_role("button", name="Like")
    expect(like).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".likes")).to_have_text("0 likes")
    like.click()
    expect(page.locator(".likes")).to_have_text("1 like")
    expect(like).to_have_attribute("aria-pressed", "true")
    assert Like.objects.filter(post=post, user=bob).exists()

    page.get_by_label("Add a comment").fill("Beautiful light!")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator(".comment")).to_have_text("bobBeautiful light!")
    screenshots(page, "post")
    page.set_viewport_size(MOBILE)
    assert no_horizontal_overflow(page)
    page.set_viewport_size(DESKTOP)
    assert Comment.objects.filter(post=post, author=bob, text="Beautiful light!").exists()

    ready(page, f"{live_server.url}/p/{post.pk}")
    expect(page.locator(".likes")).to_have_text("1 like")
    expect(page.locator(".comment")).to_have_text("bobBeautiful light!")
    page.get_by_role("button", name="Like").click()
    expect(page.locator(".likes")).to_have_text("0 likes")


def test_it_follows_a_user_from_their_profile(
    page: Page, live_server: Any, sign_in: Any, bob: User, charlie: User
) -> None:
    sign_in(page, bob)
    ready(page, f"{live_server.url}/u/charlie")
    expect(page.locator('[data-count="follower_count"]')).to_have_text("0")

    page.get_by_role("button", name="Follow").click()
    expect(page.get_by_role("button", name="Following")).to_be_visible()
    expect(page.locator('[data-count="follower_count"]')).to_have_text("1")
    assert Follow.objects.filter(follower=bob, followee=charlie).exists()

    page.get_by_role("button", name="Following").click()
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_visible()
    expect(page.locator('[data-count="follower_count"]')).to_have_text("0")


def test_it_hides_a_private_grid_until_the_request_is_approved(
    page: Page, live_server: Any, sign_in: Any, alice: User, charlie: User, jpeg: Path
) -> None:
    upload_post(alice, jpeg, "only for friends")
    sign_in(page, charlie)
    ready(page, f"{live_server.url}/u/alice")

    expect(page.get_by_text("This account is private.")).to_be_visible()
    expect(page.locator(".tile")).to_have_count(0)
    page.get_by_role("button", name="Follow").click()
    expect(page.get_by_role("button", name="Requested")).to_be_visible()


def test_it_shows_followed_accounts_posts_on_the_home_feed(
    page: Page, live_server: Any, sign_in: Any, bob: User, charlie: User, jpeg: Path
) -> None:
    account_services.follow_create(follower=bob, followee=charlie)
    park = PlaceFactory(name="Han River Park")
    post = upload_post(charlie, jpeg, "Golden hour on the river #sunset @bob", place_id=park.pk)
    post_services.like_set(user=charlie, post_id=post.pk, liked=True)
    for text in ("Wow, what a sky", "Going there tomorrow!", "Those colours!"):
        post_services.comment_create(author=charlie, post_id=post.pk, text=text)
    sign_in(page, bob)
    ready(page, f"{live_server.url}/")

    card = page.locator(f'article[data-post-id="{post.pk}"]')
    expect(card).to_be_visible()
    expect(card.get_by_role("link", name="charlie").first).to_have_attribute("href", "/u/charlie")
    expect(card.get_by_role("link", name="Han River Park")).to_have_attribute(
        "href", f"/places/{park.pk}"
    )
    expect(card.locator(".caption")).to_contain_text("Golden hour on the river")
    expect(card.get_by_role("link", name="@bob")).to_have_attribute("href", "/u/bob")
    expect(card.locator(".likes")).to_have_text("1 like")
    # The two newest comments, oldest of them first, and a link to the rest.
    expect(card.locator(".comment")).to_have_text(
        ["charlieGoing there tomorrow!", "charlieThose colours!"]
    )
    expect(card.get_by_role("link", name="View all 3 comments")).to_be_visible()


def test_it_suggests_accounts_while_typing_and_searches(
    page: Page, live_server: Any, sign_in: Any, bob: User, charlie: User
) -> None:
    sign_in(page, bob)
    ready(page, f"{live_server.url}/search")
    box = page.locator("#search-q")
    box.press_sequentially("char", delay=30)

    option = page.get_by_role("option").filter(has_text="charlie")
    expect(option).to_be_visible()
    box.press("ArrowDown")
    expect(page.get_by_role("option").first).to_have_attribute("aria-selected", "true")

    box.press("Enter")
    page.wait_for_url(f"{live_server.url}/u/charlie")

    ready(page, f"{live_server.url}/search?q=charlie")
    results = page.locator("#results")
    expect(results.get_by_role("heading", name="Accounts")).to_be_visible()
    expect(results.get_by_role("link", name=re.compile("charlie"))).to_have_attribute(
        "href", "/u/charlie"
    )


def test_it_lays_out_a_profile_grid_whose_photos_load(
    page: Page, live_server: Any, sign_in: Any, bob: User, charlie: User, jpeg: Path
) -> None:
    User.objects.filter(pk=charlie.pk).update(
        name="Charlie Kim", bio="Photos from Seoul and the coast"
    )
    for index in range(5):
        upload_post(charlie, jpeg, f"Walk number {index} #seoul")
    sign_in(page, bob)
    ready(page, f"{live_server.url}/u/charlie")

    expect(page.locator(".tile img")).to_have_count(5)
    for tile in page.locator(".tile img").all():
        assert loaded_width(tile) > 0
    expect(page.get_by_text("Photos from Seoul")).to_be_visible()


def test_it_chats_live_over_the_websocket(
    browser: Any, live_server: Any, ws_server: str, bob: User, charlie: User
) -> None:
    room, _ = chat_services.room_open(user=bob, usernames=["charlie"])
    pages = {}
    for user in (bob, charlie):
        context = browser.new_context(base_url=live_server.url)
        context.add_cookies([session_cookie(user, live_server.url)])
        pages[user.username] = context.new_page()
        ready(pages[user.username], f"/inbox/{room.pk}")
        expect(pages[user.username].locator('[data-role="status"]')).to_have_text("live")
    bobs, charlies = pages["bob"], pages["charlie"]
    expect(bobs.get_by_role("heading", name="charlie")).to_be_visible()

    bobs.get_by_label("Message").press_sequentially("Hi charlie!", delay=20)
    expect(charlies.get_by_text("bob is typing…")).to_be_visible()
    bobs.get_by_role("button", name="Send").click()

    # Delivered to the other member's open page without a reload, and confirmed for the sender.
    expect(charlies.locator(".message .bubble")).to_have_text(["Hi charlie!"])
    expect(charlies.locator(".message .who")).to_have_text(["bob"])
    expect(bobs.locator(".message.mine")).to_have_count(1)
    expect(bobs.locator(".message.pending")).to_have_count(0)
    message = Message.objects.get(room=room)
    assert (message.sender_id, message.text) == (bob.pk, "Hi charlie!")

    charlies.get_by_label("Message").fill("Hey bob")
    charlies.get_by_label("Message").press("Enter")
    expect(bobs.locator(".message .bubble")).to_have_text(["Hi charlie!", "Hey bob"])
    for page in pages.values():
        page.context.close()
