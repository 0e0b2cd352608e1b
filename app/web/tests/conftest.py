"""Browser-test plumbing: Debian's chromium, the live server, media in a temporary folder."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings
from django.db import connections
from django.urls import URLPattern
from PIL import Image, ImageDraw
from playwright.sync_api import (
    Browser,
    BrowserContext,
    BrowserType,
    ConsoleMessage,
    Playwright,
    Request,
    Response,
    expect,
    sync_playwright,
)

from app import urls
from app.accounts.models import User
from app.lab.testing import database_url_for_tests
from app.web.testing import CHROMIUM, session_cookie, signed_in_page

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

# Sync Playwright keeps an event loop running in this thread while it is started, so
# Django's async-safety check would refuse every ORM call the tests make meanwhile.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# A shared 2-core CI box under load can take longer than Playwright's 5 s default.
expect.set_options(timeout=15_000)

# CI sets LAB_REQUIRE_BROWSER=1: there a missing chromium fails the run instead of skipping.
if os.environ.get("LAB_REQUIRE_BROWSER") == "1" and not CHROMIUM.exists():
    raise pytest.UsageError(f"LAB_REQUIRE_BROWSER=1 but there is no chromium at {CHROMIUM}")


# pytest-playwright starts Playwright once per session. While its loop runs, Django keeps
# this thread's database connections per async context (asgiref's thread-critical Local),
# so every later test would open a connection that the test-database teardown never closes
# ("database is being accessed by other users"). These overrides scope Playwright to the
# browser-test module and close that context's connections before stopping it.


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    started = sync_playwright().start()
    yield started
    connections.close_all()
    started.stop()


@pytest.fixture(scope="module")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return cast(BrowserType, getattr(playwright, browser_name))


@pytest.fixture(scope="module")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="module")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium: `playwright install` cannot download browsers here."""
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def browser_context_args(base_url: str) -> dict[str, Any]:
    """Replaces pytest-playwright's (which needs the session-wide Playwright)."""
    return {"base_url": base_url, "viewport": {"width": 1100, "height": 900}}


@pytest.fixture
def media_root(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploads go to a temporary MEDIA_ROOT, and the live server's /media/ serves from it
    (app/urls.py binds the folder when it is imported, so its pattern is repointed too)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    for pattern in urls.urlpatterns:
        if isinstance(pattern, URLPattern) and "document_root" in pattern.default_args:
            monkeypatch.setitem(pattern.default_args, "document_root", root)
    return root


@pytest.fixture
def jpeg(tmp_path: Path) -> Path:
    """A real 800x1000 JPEG: a sunset gradient with a sun, so screenshots look like a photo."""
    width, height = 800, 1000
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(255, int(140 + 80 * t), int(90 + 120 * t)))
    draw.ellipse((300, 520, 500, 720), fill=(255, 236, 150))
    draw.rectangle((0, 760, width, height), fill=(40, 70, 110))
    path = tmp_path / "sunset.jpg"
    image.save(path, format="JPEG", quality=85)
    return path


@pytest.fixture
def sign_in(live_server: Any) -> Any:
    """``sign_in(page, user)``: the page's browser context holds ``user``'s session."""

    def _sign_in(page: Any, user: User) -> None:
        page.context.add_cookies([session_cookie(user, live_server.url)])

    return _sign_in


@pytest.fixture
def open_as(browser: Browser, live_server: Any, ws_server: str, page_problems: Any) -> Any:
    """``open_as(user)``: a page in a browser context of its own, signed in as ``user`` and
    watched like ``page``: another person in the same test."""
    return lambda user: signed_in_page(browser, live_server.url, page_problems, user)


@pytest.fixture(scope="session")
def base_url(live_server: Any) -> str:
    """Relative ``page.goto("/x")`` opens the live server (and replaces pytest-playwright's
    fallback fixture, which pytest 9 warns about)."""
    return str(live_server.url)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def ws_process(live_server: Any, django_db_setup: None) -> Iterator[str]:
    """A real uvicorn serving /ws/ on the test database and this run's Redis keys (the live
    server speaks HTTP only), one per browser-test module."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "LAB_TESTING": "1",
        "DB_POOL_MIN": "0",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    argv = [sys.executable, "-m", "uvicorn", "app.asgi:application"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(argv, env=env, cwd=settings.BASE_DIR)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, "uvicorn exited before it listened"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert time.monotonic() < deadline, "uvicorn did not listen within 20 s"
            time.sleep(0.1)
        # Same host name as the live server, so the browser sends its session cookie.
        yield f"ws://localhost:{port}/ws/"
    finally:
        # Before the test database is dropped: its pooled connections must go.
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def ws_server(ws_process: str, settings: Any) -> str:
    """The module's /ws/ server, which pages learn from LAB_WS_URL, as under `make run`."""
    settings.LAB_WS_URL = ws_process
    return ws_process


class PageProblems:
    """What went wrong in the browser during a test: console errors, uncaught exceptions,
    failed requests and HTTP errors. A clean page has none; tests that provoke an HTTP error
    on purpose list its status with ``@pytest.mark.http_errors(400, ...)``."""

    def __init__(self, allowed: set[int]) -> None:
        self.allowed = allowed
        self.found: list[str] = []

    def watch(self, context: BrowserContext) -> BrowserContext:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.found.append(f"uncaught: {error.error}"))
        context.on("requestfailed", self._failed)
        context.on("response", self._response)
        return context

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        # Chromium logs every 4xx/5xx response as a console error too; the response itself
        # is judged below, against the statuses the test allows.
        if text.startswith("Failed to load resource: the server responded with a status of"):
            return
        self.found.append(f"console error: {text} ({message.location.get('url', '')})")

    def _failed(self, request: Request) -> None:
        failure = request.failure or ""
        # A navigation cancels what the old page still had in flight; that is not a failure.
        if "ERR_ABORTED" in failure or request.resource_type == "websocket":
            return
        self.found.append(f"request failed: {request.method} {request.url} ({failure})")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and response.status not in self.allowed:
            self.found.append(f"HTTP {response.status}: {response.request.method} {response.url}")


@pytest.fixture
def page_problems(request: pytest.FixtureRequest) -> Iterator[PageProblems]:
    """Watches the ``page`` fixture's context (if the test has one); ``page_problems.watch``
    takes any other context the test opens. The test fails on anything found."""
    marker = request.node.get_closest_marker("http_errors")
    problems = PageProblems(set(marker.args) if marker else set())
    if "page" in request.fixturenames:
        problems.watch(request.getfixturevalue("context"))
    yield problems
    assert not problems.found, "the browser reported:\n" + "\n".join(problems.found)


@pytest.fixture(autouse=True)
def _no_page_problems(request: pytest.FixtureRequest) -> None:
    """Every browser test runs with ``page_problems`` watching its page, and a /ws/ server:
    every signed-in page opens the user's socket (the unread badges are live everywhere)."""
    if request.node.get_closest_marker("browser") and "page" in request.fixturenames:
        request.getfixturevalue("ws_server")
        request.getfixturevalue("page_problems")
