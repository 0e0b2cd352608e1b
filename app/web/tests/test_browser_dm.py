"""DMs in a real browser, two or three people at once: sharing a post from the picker, its
preview arriving live, "Seen", time dividers, and the Messages badge on other pages."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from app.accounts.models import User
from app.chat import services as chat_services
from app.chat.models import Message, Room
from app.web.testing import fits_a_phone, needs_chromium, ready, screenshots, upload_post

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.usefixtures("media_root")]


def say(sender: User, room: Room, text: str, *, ago: timedelta | None = None) -> Message:
    message, _ = chat_services.message_send(
        sender=sender, room_id=room.pk, client_id=uuid.uuid4(), text=text
    )
    if ago is not None:
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - ago)
    return message


def live(page: Page, url: str) -> None:
    ready(page, url)
    expect(page.locator("body")).to_have_attribute("data-socket", "live")


def test_it_shares_a_post_to_two_people_who_get_it_live(
    page: Page, open_as: Any, sign_in: Any, jpeg: Path, alice: User, bob: User, charlie: User
) -> None:
    # alice is private and bob follows her: charlie, a stranger, may not see her post.
    post = upload_post(alice, jpeg, "Golden hour over the bay, #sunset from the pier tonight")
    dm, _ = chat_services.room_open(user=bob, usernames=["alice"])
    say(alice, dm, "hi bob")
    alices = open_as(alice)
    live(alices, f"/inbox/{dm.pk}")
    charlies = open_as(charlie)
    ready(charlies, "/")
    messages_link = charlies.get_by_role("link", name=re.compile("^Messages"))
    expect(messages_link).to_have_accessible_name("Messages")

    sign_in(page, bob)
    ready(page, f"/p/{post.pk}")
    dialog = page.get_by_role("dialog", name="Share")
    send = page.locator(".post-card").get_by_role("button", name="Send")
    send.click()
    expect(dialog.get_by_label("To:")).to_be_focused()
    page.keyboard.press("Escape")  # closes it (it leaves the page), focus back on Send
    expect(page.locator("dialog")).to_have_count(0)
    expect(send).to_be_focused()
    send.click()
    expect(dialog).to_be_visible()
    # The recent conversation is offered first; anyone else is a search away.
    dialog.get_by_role("checkbox", name="alice").check()
    dialog.get_by_label("To:").press_sequentially("char", delay=30)
    dialog.get_by_role("checkbox", name="charlie").check()
    expect(dialog.get_by_role("button", name=re.compile("^Remove"))).to_have_count(2)
    dialog.get_by_label("Message").fill("look at this")
    screenshots(page, "share-dialog")
    fits_a_phone(page)
    dialog.get_by_role("button", name="Send").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Sent to alice and charlie.")).to_be_visible()

    # alice, in her DM with bob, gets the preview live: author, thumbnail, caption, link.
    shared = alices.locator(".message .shared")
    expect(shared).to_have_attribute("href", f"/p/{post.pk}")
    expect(shared.locator(".shared-author")).to_have_text("alice")
    expect(shared.locator(".shared-caption")).to_contain_text("Golden hour over the bay")
    expect(shared.get_by_role("img", name="Post by @alice")).to_be_visible()
    expect(alices.locator(".message .bubble").last).to_have_text("look at this")
    screenshots(alices, "room")
    fits_a_phone(alices)

    # charlie, on another page, sees the Messages badge go up live...
    # (the badge is an inline block: Playwright reads a space before its hidden comma)
    expect(messages_link).to_have_accessible_name(re.compile(r"^Messages ?, 1 unread$"))
    expect(charlies.get_by_role("status").filter(has_text="unread")).to_have_text(
        "Messages, 1 unread"
    )
    messages_link.click()
    charlies.wait_for_selector("body[data-ready=true]")
    expect(charlies.locator(".rooms .unread")).to_have_text("1")
    screenshots(charlies, "inbox")
    fits_a_phone(charlies)
    charlies.get_by_role("link", name=re.compile("bob")).click()
    # ...reads a post he may not see as unavailable, and the badge goes down.
    expect(charlies.get_by_text("This post is unavailable")).to_be_visible()
    expect(charlies.locator('[data-badge="messages"]')).to_be_hidden()
    expect(messages_link).to_have_accessible_name("Messages")
    assert Message.objects.filter(post=post, text="look at this").count() == 2
    for other in (alices, charlies):
        other.context.close()


def test_it_shows_seen_and_time_dividers(open_as: Any, alice: User, bob: User) -> None:
    dm, _ = chat_services.room_open(user=alice, usernames=["bob"])
    say(bob, dm, "morning!", ago=timedelta(hours=3))
    say(alice, dm, "hello", ago=timedelta(hours=2))
    alices = open_as(alice)
    live(alices, f"/inbox/{dm.pk}")

    # Messages further apart than 15 minutes get a divider; each has its time as a tooltip.
    expect(alices.locator(".divider time")).to_have_count(2)
    expect(alices.locator(".message").first).to_have_attribute("title", re.compile(r"\d"))
    expect(alices.locator(".seen")).to_have_count(0)
    alices.get_by_label("Message").fill("you there?")
    alices.get_by_label("Message").press("Enter")
    expect(alices.locator(".divider")).to_have_count(3)

    # bob opens the room: alice sees "Seen" under her last message, live.
    bobs = open_as(bob)
    live(bobs, f"/inbox/{dm.pk}")
    last = alices.locator(".message.mine").last
    expect(last.locator(".seen")).to_have_text("Seen")
    expect(alices.locator(".seen")).to_have_count(1)

    # A reload draws it from the API; bob's reply leaves it where it is.
    live(alices, f"/inbox/{dm.pk}")
    expect(alices.locator(".message.mine").last.locator(".seen")).to_have_text("Seen")
    bobs.get_by_label("Message").fill("yes!")
    bobs.get_by_label("Message").press("Enter")
    expect(alices.locator(".message .bubble").last).to_have_text("yes!")
    expect(alices.locator(".message.mine").last).to_contain_text("Seen")
    for other in (alices, bobs):
        other.context.close()
