"""The account pages in a real browser: edit profile (name, bio, photo, privacy), follow
requests, the Saved tab, follower and following lists, and the profile's counts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.accounts import services as account_services
from app.accounts.models import Follow, FollowRequest, User
from app.posts import services as post_services
from app.testing.factories import UserFactory
from app.web.testing import (
    fits_a_phone,
    loaded_width,
    needs_chromium,
    ready,
    screenshots,
    upload_post,
)

# Every signed-in page opens the user's socket (the unread badges): a real /ws/ server.
pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.usefixtures("media_root", "ws_server"),
]


def counts(page: Page) -> list[str]:
    return [" ".join(text.split()) for text in page.locator(".counts li").all_inner_texts()]


@pytest.mark.http_errors(400)
def test_it_edits_name_bio_and_photo_and_shows_them_on_the_profile(
    page: Page, live_server: Any, sign_in: Any, charlie: User, jpeg: Path, tmp_path: Path
) -> None:
    for index in range(4):
        upload_post(charlie, jpeg, f"Evening walk {index} #seoul")
    sign_in(page, charlie)
    ready(page, f"{live_server.url}/u/charlie")
    page.get_by_role("link", name="Edit profile").click()
    page.wait_for_url(f"{live_server.url}/accounts/edit")
    page.wait_for_selector("body[data-ready=true]")

    expect(page.get_by_label("Name")).to_have_value("Charlie")
    expect(page.locator(".avatar-hint")).to_have_text("JPEG, PNG, WEBP, up to 12 MB")
    bio = page.get_by_label("Bio")
    bio.fill("Photos from Seoul 🌆")
    expect(page.locator("#bio-count")).to_have_text("19 / 150")
    bio.fill("b" * 151)
    expect(page.locator("#bio-count")).to_have_class(re.compile(r"\bover\b"))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("bios 150"))

    # A file that is not an image: the API's reason in the alert line, no avatar.
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("not a photo")
    page.get_by_label("Change photo").set_input_files(bogus)
    expect(page.get_by_role("alert")).to_contain_text("not a JPEG, PNG or WebP image")
    page.get_by_label("Change photo").set_input_files(jpeg)
    expect(page.get_by_role("status").filter(has_text="Profile photo updated.")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()
    assert loaded_width(page.locator(".avatar-row .avatar img")) > 0
    expect(page.get_by_role("button", name="Remove photo")).to_be_visible()

    page.get_by_label("Name").fill("Charlie Kim")
    bio.fill("Photos from Seoul and the coast")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Profile saved.")).to_be_visible()
    charlie.refresh_from_db()
    assert (charlie.name, charlie.bio) == ("Charlie Kim", "Photos from Seoul and the coast")
    assert charlie.avatar.name and charlie.avatar.name.startswith("avatars/")
    fits_a_phone(page)
    screenshots(page, "account_edit")

    ready(page, f"{live_server.url}/u/charlie")
    expect(page.locator(".profile-name")).to_have_text("Charlie Kim")
    expect(page.locator(".profile-bio")).to_have_text("Photos from Seoul and the coast")
    assert loaded_width(page.locator(".profile-header .avatar img")) > 0
    expect(page.locator(".tile img")).to_have_count(4)
    for tile in page.locator(".tile img").all():
        assert loaded_width(tile) > 0
    fits_a_phone(page)
    screenshots(page, "profile")


def test_going_private_changes_what_a_stranger_sees(
    page: Page,
    open_as: Any,
    live_server: Any,
    sign_in: Any,
    charlie: User,
    jpeg: Path,
) -> None:
    upload_post(charlie, jpeg, "Harbour lights")
    dana = UserFactory(username="dana")
    theirs = open_as(dana)
    ready(theirs, "/u/charlie")
    expect(theirs.locator(".tile")).to_have_count(1)
    expect(theirs.locator('[data-list="followers"]')).to_have_attribute(
        "href", "/u/charlie/followers"
    )

    sign_in(page, charlie)
    ready(page, f"{live_server.url}/accounts/edit")
    switch = page.get_by_role("switch", name="Private account")
    expect(switch).not_to_be_checked()
    expect(page.locator("#private-hint")).to_contain_text("only people you approve")
    switch.check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Profile saved.")).to_be_visible()
    assert User.objects.get(pk=charlie.pk).is_private

    ready(theirs, "/u/charlie")
    expect(theirs.get_by_text("This account is private.")).to_be_visible()
    expect(theirs.locator(".tile")).to_have_count(0)
    for side in ("followers", "following"):
        expect(theirs.locator(f'[data-list="{side}"]')).not_to_have_attribute(
            "href", re.compile("")
        )
    ready(theirs, "/u/charlie/followers")
    expect(theirs.get_by_text("This account is private.")).to_be_visible()
    theirs.context.close()


def test_it_approves_and_declines_follow_requests(
    page: Page, live_server: Any, sign_in: Any, alice: User, charlie: User
) -> None:
    dana = UserFactory(username="dana", name="Dana Park")
    for requester in (dana, charlie):
        account_services.follow_create(follower=requester, followee=alice)
    sign_in(page, alice)
    ready(page, f"{live_server.url}/u/alice")
    page.get_by_role("link", name="Follow requests (2)").click()
    page.wait_for_url(f"{live_server.url}/accounts/requests")
    page.wait_for_selector("body[data-ready=true]")

    rows = page.locator(".person")
    expect(rows).to_have_count(2)
    fits_a_phone(page)
    screenshots(page, "follow_requests")
    charlies = page.locator('.person[data-username="charlie"]')
    charlies.get_by_role("button", name="Approve").click()
    expect(charlies).to_contain_text("Approved: now follows you")
    danas = page.locator('.person[data-username="dana"]')
    danas.get_by_role("button", name="Decline").click()
    expect(danas).to_contain_text("Declined")
    assert Follow.objects.filter(follower=charlie, followee=alice).exists()
    assert not Follow.objects.filter(follower=dana, followee=alice).exists()

    ready(page, f"{live_server.url}/u/alice")
    expect(page.get_by_role("link", name="Edit profile")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Follow requests"))).to_have_count(0)


def test_the_saved_tab_shows_a_saved_post(
    page: Page, live_server: Any, sign_in: Any, bob: User, charlie: User, jpeg: Path
) -> None:
    post = upload_post(charlie, jpeg, "Worth keeping")
    post_services.save_set(user=bob, post_id=post.pk, saved=True)
    sign_in(page, bob)
    ready(page, f"{live_server.url}/u/bob")
    tabs = page.get_by_role("navigation", name="Profile sections")
    expect(tabs.get_by_role("link", name="Posts")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("No posts yet.")).to_be_visible()

    tabs.get_by_role("link", name="Saved").click()
    page.wait_for_url(f"{live_server.url}/u/bob/saved")
    page.wait_for_selector("body[data-ready=true]")
    expect(tabs.get_by_role("link", name="Saved")).to_have_attribute("aria-current", "page")
    tile = page.locator(f'.tile[data-post-id="{post.pk}"] img')
    expect(tile).to_be_visible()
    assert loaded_width(tile) > 0

    # Someone else's profile has no tabs.
    ready(page, f"{live_server.url}/u/charlie")
    expect(page.get_by_role("navigation", name="Profile sections")).to_have_count(0)


def test_a_follower_list_opens_from_the_profile_scrolls_and_follows(
    page: Page, live_server: Any, sign_in: Any, alice: User, bob: User, charlie: User
) -> None:
    dana = UserFactory(username="dana", name="Dana Park")
    erin = UserFactory(username="erin", is_private=True)
    crowd = [dana, erin, alice, *UserFactory.create_batch(22)]
    for follower in crowd:
        account_services.follow_create(follower=follower, followee=charlie)
    sign_in(page, bob)
    ready(page, f"{live_server.url}/u/charlie")
    page.get_by_role("link", name=re.compile(r"^25\s+followers$")).click()
    page.wait_for_url(f"{live_server.url}/u/charlie/followers")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator(".list-count")).to_have_text("25 followers")

    rows = page.locator(".person")
    expect(rows).to_have_count(20)
    rows.last.scroll_into_view_if_needed()
    expect(rows).to_have_count(25)  # the next page loads as the end of the list scrolls in
    # bob follows alice already; a public account is followed, a private one asked.
    # Rows by username (data-username): Faker's display names can contain "erin" or "dana".
    expect(page.locator('.person[data-username="alice"]').get_by_role("button")).to_have_text(
        "Following"
    )
    row = page.locator('.person[data-username="dana"]')
    row.get_by_role("button", name="Follow", exact=True).click()
    expect(row.get_by_role("button", name="Following")).to_be_visible()
    assert Follow.objects.filter(follower=bob, followee=dana).exists()
    private = page.locator('.person[data-username="erin"]')
    private.get_by_role("button", name="Follow", exact=True).click()
    expect(private.get_by_role("button", name="Requested")).to_be_visible()
    assert FollowRequest.objects.filter(requester=bob, target=erin).exists()
    page.evaluate("scrollTo(0, 0)")
    fits_a_phone(page)
    screenshots(page, "follow_list")

    ready(page, f"{live_server.url}/u/dana/followers")
    expect(page.locator(".person")).to_have_count(1)
    expect(page.locator(".person").get_by_role("button")).to_have_count(0)  # bob is the viewer


def test_counts_read_in_singular_and_plural(
    page: Page, live_server: Any, sign_in: Any, bob: User, charlie: User, jpeg: Path
) -> None:
    upload_post(charlie, jpeg, "The only one")
    sign_in(page, bob)
    ready(page, f"{live_server.url}/u/charlie")
    expect(page.locator(".counts li")).to_have_text(["1 post", "0 followers", "0 following"])

    page.get_by_role("button", name="Follow").click()
    expect(page.get_by_role("button", name="Following")).to_be_visible()
    expect(page.locator(".counts li")).to_have_text(["1 post", "1 follower", "0 following"])
    # Server-rendered the same way.
    ready(page, f"{live_server.url}/u/charlie")
    assert counts(page) == ["1 post", "1 follower", "0 following"]
    account_services.follow_create(follower=UserFactory(), followee=charlie)
    ready(page, f"{live_server.url}/u/charlie")
    expect(page.locator(".counts li")).to_have_text(["1 post", "2 followers", "0 following"])
