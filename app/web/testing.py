"""Helpers for the browser tests (Playwright on Debian's chromium): open a page and wait for
its script, sign a context in, make a post from a real JPEG, take the docs' screenshots.

Set ``WEB_SCREENSHOTS=docs/screenshots`` to write every page's screenshots, desktop and
mobile width, while the browser tests run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from playwright.sync_api import Browser, Page, ViewportSize

from app.accounts.models import User
from app.posts import services as post_services
from app.posts.models import Post

# Debian's package; LAB_CHROMIUM points elsewhere (a path that does not exist skips the tests).
CHROMIUM = Path(os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium"))

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests need chromium at {CHROMIUM} (Debian: apt-get install -y chromium)",
)

DESKTOP: ViewportSize = {"width": 1100, "height": 900}
MOBILE: ViewportSize = {"width": 360, "height": 780}


def ready(page: Page, url: str) -> None:
    """Open ``url`` and wait until the page script has filled the shell."""
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")


def loaded_width(image: Any) -> int:
    """The image's decoded width once it has loaded; 0 (or a rejection) when it cannot."""
    return int(image.evaluate("img => img.decode().then(() => img.naturalWidth)"))


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """``name``.png at the page's current size, when WEB_SCREENSHOTS names a folder."""
    folder = os.environ.get("WEB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)


def screenshots(page: Page, name: str) -> None:
    """``name``-desktop.png and ``name``-mobile.png (360 px wide), when WEB_SCREENSHOTS is set."""
    if not os.environ.get("WEB_SCREENSHOTS"):
        return
    size = page.viewport_size or DESKTOP
    page.set_viewport_size(DESKTOP)
    screenshot(page, f"{name}-desktop")
    page.set_viewport_size(MOBILE)
    screenshot(page, f"{name}-mobile")
    page.set_viewport_size(size)


def no_horizontal_overflow(page: Page) -> bool:
    """Nothing is cut off: the document is no wider than the viewport."""
    return bool(page.evaluate("(d => d.scrollWidth <= d.clientWidth)(document.documentElement)"))


def fits_a_phone(page: Page) -> None:
    """Nothing is cut off at a phone's 360 px; the page's size comes back after."""
    size = page.viewport_size or DESKTOP
    page.set_viewport_size(MOBILE)
    assert no_horizontal_overflow(page)
    page.set_viewport_size(size)


def upload_post(
    author: User, jpeg: Path, caption: str, place_id: int | None = None, *, count: int = 1
) -> Post:
    """A post by ``author`` made through the real image pipeline from ``jpeg``."""
    uploads = [
        SimpleUploadedFile(f"photo{i}.jpg", jpeg.read_bytes(), content_type="image/jpeg")
        for i in range(count)
    ]
    return post_services.post_create(
        author=author, uploads=uploads, caption=caption, place_id=place_id
    )


def session_cookie(user: User, live_url: str) -> dict[str, Any]:
    """A signed-in session for ``user``, as the cookie a browser would hold."""
    client = Client()
    client.force_login(user)
    key = client.cookies["sessionid"].value
    return {"name": "sessionid", "value": key, "url": live_url}


def signed_in_page(browser: Browser, live_url: str, problems: Any, user: User) -> Page:
    """A page in a browser context of its own, signed in as ``user``, whose problems the test's
    ``page_problems`` fixture (``problems``) watches: a second person in the same test."""
    context = problems.watch(browser.new_context(base_url=live_url))
    context.add_cookies([session_cookie(user, live_url)])
    page: Page = context.new_page()
    return page
