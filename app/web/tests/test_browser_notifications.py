"""Notifications in a real browser: the badge and the list update live in one context while
another user acts in a second one; a follow request is approved from the list."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.accounts import services as account_services
from app.accounts.models import Follow, User
from app.chat import services as chat_services
from app.notifications.models import Notification
from app.posts import services as post_services
from app.web.testing import fits_a_phone, needs_chromium, ready, screenshots, upload_post

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.usefixtures("media_root")]

BADGE = re.compile(r"^Notifications ?, (\d+) unread$")


def test_a_like_and_a_comment_reach_the_badge_and_the_list_live(
    page: Page, open_as: Any, sign_in: Any, jpeg: Path, alice: User, bob: User
) -> None:
    post = upload_post(alice, jpeg, "Low tide at dawn")
    # 22 older notifications, read: more than a page, so the list scrolls on to the rest.
    Notification.objects.bulk_create(
        Notification(recipient=alice, actor=bob, verb="comment", post=post, text=f"old {i}")
        for i in range(22)
    )
    Notification.objects.update(read_at=post.created_at)
    sign_in(page, alice)
    ready(page, "/")
    link = page.get_by_role("link", name=re.compile("^Notifications"))
    expect(link).to_have_accessible_name("Notifications")

    bobs = open_as(bob)
    ready(bobs, f"/p/{post.pk}")
    bobs.get_by_role("button", name="Like").click()
    expect(bobs.get_by_role("button", name="Like")).to_have_attribute("aria-pressed", "true")

    # alice's badge goes up live, on whatever page she is.
    expect(link).to_have_accessible_name(BADGE)
    expect(link.locator(".badge")).to_contain_text("1")

    with page.expect_response(re.compile(r"/api/notifications/read$")):
        link.click()
    first = page.locator(".notification").first
    expect(first).to_contain_text("bob liked your post.")
    expect(first).to_have_class(re.compile(r"\bunread\b"))
    expect(first.get_by_role("link", name="View post")).to_have_attribute("href", f"/p/{post.pk}")
    expect(page.locator(".notification.unread")).to_have_count(1)
    # Opening the page read them: the badge is gone.
    assert Notification.objects.filter(recipient=alice, read_at=None).count() == 0

    # A comment arrives at the top while she looks.
    bobs.get_by_label("Add a comment").fill("That light!")
    bobs.get_by_role("button", name="Post").click()
    expect(bobs.locator(".comment").last).to_contain_text("That light!")
    expect(first).to_contain_text("bob commented: That light!")
    expect(page.locator(".notification.unread")).to_have_count(2)
    expect(link.locator(".badge")).to_be_hidden()

    # Infinite scroll: the rest load as the end of the list comes into view.
    expect(page.locator(".notification")).to_have_count(21)
    page.locator(".notification").last.scroll_into_view_if_needed()
    expect(page.locator(".notification")).to_have_count(24)
    expect(page.locator(".notification").last).to_contain_text("old 0")
    fits_a_phone(page)


def test_a_follow_request_is_approved_from_the_list(
    page: Page,
    sign_in: Any,
    jpeg: Path,
    alice: User,
    bob: User,
    charlie: User,
) -> None:
    post = upload_post(alice, jpeg, "Harbour lights")
    bobs_post = upload_post(bob, jpeg, "Ferry at noon")
    post_services.comment_create(author=bob, post_id=bobs_post.pk, text="@alice you'd love this")
    chat_services.post_share(
        sender=bob, post_id=post.pk, usernames=["alice"], room_ids=[], text="", client_id=None
    )
    post_services.like_set(user=bob, post_id=post.pk, liked=True)
    account_services.follow_create(follower=charlie, followee=alice)
    sign_in(page, alice)
    ready(page, "/notifications")

    items = page.locator(".notification")
    expect(items).to_have_count(4)
    expect(items.nth(0)).to_contain_text("charlie requested to follow you.")
    expect(items.nth(1)).to_contain_text("bob liked your post.")
    expect(items.nth(2)).to_contain_text("bob sent you a post.")
    expect(items.nth(3)).to_contain_text("bob mentioned you: @alice you'd love this")
    for index in (1, 2, 3):
        expect(items.nth(index).locator(".thumb img")).to_be_visible()
    screenshots(page, "notifications")
    fits_a_phone(page)

    # Found by its text, not its place: the follow the approval makes is pushed
    # live to the top of the list and can arrive before the next assertion.
    request = items.filter(has_text="requested to follow you.")
    request.get_by_role("button", name="Approve").click()
    expect(request.locator(".decide")).to_have_text("Approved")
    assert Follow.objects.filter(follower=charlie, followee=alice).exists()
    # The follow that the approval made arrives live at the top.
    expect(items.first).to_contain_text("charlie started following you.")
    expect(items).to_have_count(5)
