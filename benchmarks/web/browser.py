"""The web benchmark's measurements in chromium, driven by Playwright: the feed's paint, the
JavaScript its pages load, the layout shift while images load, and live DM latency."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.web.common import (
    CLS_BUDGET,
    FCP_BUDGET_MS,
    JS_BUDGET_BYTES,
    LIVE_P95_BUDGET_MS,
    BudgetError,
    percentile,
    say,
    static_js_bytes,
)

CHROMIUM = Path(os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WARMUP_LOADS = 3
WARMUP_EVENTS = 3
# Under the chat limit (5 messages a second per user, app/chat/services.py).
SEND_INTERVAL_S = 0.25
# Long enough for every card to be laid out before its picture arrives.
IMAGE_DELAY_S = 0.4
# Scrolled until two pages of cards are in (the feed loads the next page near its end).
SCROLL_CARDS = 20
SCROLL_STEPS_MAX = 40
VIEWPORT = {"width": 1100, "height": 900}
TIMEOUT_MS = 30_000

# Before any page script: the layout shifts, the first post card's arrival, and (on the
# receiving side of the live step) when each benchmark message appears.
INIT_SCRIPT = """
const describe = (node) => {
  if (!node || node.nodeType !== 1) return "";
  const badge = node.dataset.badge ? `[data-badge=${node.dataset.badge}]` : "";
  const classes = [...node.classList].map((name) => `.${name}`).join("");
  return `${node.localName}${classes}${badge}`;
};
window.__cls = { value: 0, entries: [] };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.hadRecentInput) continue;
    window.__cls.value += entry.value;
    window.__cls.entries.push({
      value: entry.value,
      at: Math.round(entry.startTime),
      nodes: (entry.sources || []).map((source) => describe(source.node)),
    });
  }
}).observe({ type: "layout-shift", buffered: true });
window.__firstPost = null;
window.__seen = {};
new MutationObserver(() => {
  if (window.__firstPost === null && document.querySelector("[data-post-id]")) {
    window.__firstPost = performance.now();
  }
  const now = Date.now();
  for (const node of document.querySelectorAll("#messages .bubble:not([data-bench])")) {
    node.dataset.bench = "1";
    const found = /^bench#(\\S+) /.exec(node.textContent);
    if (found && !(found[1] in window.__seen)) window.__seen[found[1]] = now;
  }
}).observe(document, { childList: true, subtree: true });
"""
VISIBLE_IMAGES_LOADED = """() => [...document.querySelectorAll("#feed img")]
  .filter((img) => {
    const box = img.getBoundingClientRect();
    return box.bottom > 0 && box.top < innerHeight;
  })
  .every((img) => img.complete)"""
CARDS = "() => document.querySelectorAll('[data-post-id]').length"
AT_BOTTOM = "() => scrollY + innerHeight >= document.documentElement.scrollHeight - 2"
SEND = """(text) => {
  const input = document.querySelector("#message-text");
  input.value = text;
  const sentAt = Date.now();
  document.querySelector("#message-form").requestSubmit();
  return sentAt;
}"""


def chromium_check(path: Path = CHROMIUM) -> None:
    if not path.exists():
        raise BudgetError(
            f"no chromium at {path}. Install it with `apt-get install -y chromium` (Debian), or "
            "point LAB_CHROMIUM at a Chromium binary."
        )
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        raise BudgetError("Playwright is not installed: run `make install-dev`.") from None


async def _context(browser: Any, base_url: str, token: str) -> Any:
    """A fresh context (empty cache) holding the session the login returned."""
    context = await browser.new_context(base_url=base_url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_cookies([{"name": "sessionid", "value": token, "url": base_url}])
    await context.add_init_script(INIT_SCRIPT)
    return context


async def _open(page: Any, path: str) -> None:
    response = await page.goto(path)
    if response is None or response.status != 200:
        status = response.status if response is not None else "no response"
        raise BudgetError(f"{path} answered {status} (is the session cookie accepted?)")
    await page.wait_for_selector("body[data-ready=true]")


def _script_sizes(page: Any) -> list[tuple[str, Any]]:
    """Collects every script response of ``page``: (path, response), bodies read later."""
    found: list[tuple[str, Any]] = []

    def seen(response: Any) -> None:
        if response.request.resource_type == "script":
            found.append((urlsplit(response.url).path, response))

    page.on("response", seen)
    return found


async def _bytes(scripts: list[tuple[str, Any]]) -> dict[str, int]:
    return {path: len(await response.body()) for path, response in scripts}


async def _feed_load(context: Any) -> tuple[dict[str, Any], dict[str, int]]:
    """One load of the home feed in a new page: its paint timings and its scripts' sizes."""
    page = await context.new_page()
    found = _script_sizes(page)
    await _open(page, "/")
    await page.wait_for_selector("[data-post-id]")
    timing: dict[str, Any] = await page.evaluate(
        """() => ({
          fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
          firstPost: window.__firstPost,
          cards: document.querySelectorAll("[data-post-id]").length,
        })"""
    )
    scripts = await _bytes(found)
    await page.close()
    if timing["fcp"] is None:
        raise BudgetError("chromium reported no first-contentful-paint for the feed")
    return timing, scripts


async def feed_loads(browser: Any, base_url: str, token: str, loads: int) -> dict[str, Any]:
    """Loads with a cold browser cache (a fresh context each), after warm-up loads that warm
    the server; then as many in one context, whose cache a returning reader has."""
    cold: list[dict[str, Any]] = []
    scripts: dict[str, int] = {}
    for number in range(WARMUP_LOADS + loads):
        context = await _context(browser, base_url, token)
        timing, scripts = await _feed_load(context)
        await context.close()
        if number >= WARMUP_LOADS:
            cold.append(timing)
            say(
                f"feed load {len(cold)}/{loads} (cold browser cache): FCP {timing['fcp']:.0f} "
                f"ms, first post {timing['firstPost']:.0f} ms, {timing['cards']} cards"
            )
    context = await _context(browser, base_url, token)
    await _feed_load(context)  # fills the cache
    warm = [(await _feed_load(context))[0] for _ in range(loads)]
    await context.close()
    say(f"{loads} feed loads with a warm browser cache")

    def median(timings: list[dict[str, Any]], key: str) -> float:
        return round(statistics.median(float(timing[key]) for timing in timings), 1)

    fcp = [float(timing["fcp"]) for timing in cold]
    return {
        "loads": loads,
        "warmup_loads": WARMUP_LOADS,
        "fcp_median_ms": median(cold, "fcp"),
        "fcp_p90_ms": round(percentile(fcp, 0.9), 1),
        "first_post_median_ms": median(cold, "firstPost"),
        "warm_cache_fcp_median_ms": median(warm, "fcp"),
        "warm_cache_first_post_median_ms": median(warm, "firstPost"),
        "cards_on_first_page": int(cold[-1]["cards"]),
        "fcp_samples_ms": [round(value, 1) for value in fcp],
        "budget_fcp_ms": FCP_BUDGET_MS,
        "passed": median(cold, "fcp") <= FCP_BUDGET_MS,
        "scripts": scripts,
    }


async def layout_shift(browser: Any, base_url: str, token: str) -> dict[str, Any]:
    """The feed with its pictures held back, scrolled through: every shift counts."""
    context = await _context(browser, base_url, token)
    page = await context.new_page()
    held = 0

    async def hold(route: Any) -> None:
        nonlocal held
        held += 1
        await asyncio.sleep(IMAGE_DELAY_S)
        await route.continue_()

    await page.route("**/media/**", hold)
    await _open(page, "/")
    await page.wait_for_selector("[data-post-id]")
    cards = 0
    for _ in range(SCROLL_STEPS_MAX):
        await page.wait_for_function(VISIBLE_IMAGES_LOADED)
        cards = await page.evaluate(CARDS)
        if cards >= SCROLL_CARDS and await page.evaluate(AT_BOTTOM):
            break
        await page.evaluate("() => scrollBy(0, innerHeight * 0.8)")
    # Two frames, so the observer has been handed the last shifts.
    cls = await page.evaluate(
        """() => new Promise((done) => requestAnimationFrame(() =>
             requestAnimationFrame(() => done(window.__cls))))"""
    )
    await context.close()
    return {
        "value": round(float(cls["value"]), 4),
        "budget": CLS_BUDGET,
        "passed": float(cls["value"]) <= CLS_BUDGET,
        "shifts": cls["entries"][:20],
        "images_held_back": held,
        "image_delay_ms": int(IMAGE_DELAY_S * 1000),
        "cards_scrolled": cards,
    }


async def live_latency(
    browser: Any, base_url: str, tokens: tuple[str, str], room_id: int, events: int
) -> dict[str, Any]:
    """DMs typed in one context, timed until they are on screen in the other."""
    sender_context = await _context(browser, base_url, tokens[0])
    receiver_context = await _context(browser, base_url, tokens[1])
    sender, receiver = await sender_context.new_page(), await receiver_context.new_page()
    found = _script_sizes(sender)
    for page in (sender, receiver):
        await _open(page, f"/inbox/{room_id}")
        await page.wait_for_selector("body[data-socket=live]")
    scripts = await _bytes(found)
    samples: list[float] = []
    # Tells this run's messages from earlier runs' in the room's history (--reuse-data).
    run = f"{time.time():.0f}"
    loop = asyncio.get_running_loop()
    next_send = loop.time()
    for number in range(WARMUP_EVENTS + events):
        await asyncio.sleep(max(0.0, next_send - loop.time()))
        next_send = loop.time() + SEND_INTERVAL_S
        key = f"{run}-{number}"
        sent_at = await sender.evaluate(SEND, f"bench#{key} the live event benchmark")
        await receiver.wait_for_function("(key) => key in window.__seen", arg=key)
        shown_at = await receiver.evaluate("(key) => window.__seen[key]", key)
        if number >= WARMUP_EVENTS:
            samples.append(float(shown_at - sent_at))
        if number >= WARMUP_EVENTS and (number - WARMUP_EVENTS + 1) % 10 == 0:
            say(f"live DMs: {number - WARMUP_EVENTS + 1}/{events}, last {samples[-1]:.0f} ms")
    await sender_context.close()
    await receiver_context.close()
    p95 = percentile(samples, 0.95)
    return {
        "events": events,
        "warmup_events": WARMUP_EVENTS,
        "send_interval_ms": int(SEND_INTERVAL_S * 1000),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(samples), 1),
        "budget_p95_ms": LIVE_P95_BUDGET_MS,
        "passed": p95 <= LIVE_P95_BUDGET_MS,
        "samples_ms": samples,
        "scripts": scripts,
    }


async def measure(
    *, base_url: str, tokens: dict[str, str], room_id: int, loads: int, events: int
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            say(f"chromium {browser.version}: feed first contentful paint, {loads} loads")
            feed = await feed_loads(browser, base_url, tokens["demo"], loads)
            say(f"feed FCP median {feed['fcp_median_ms']:.0f} ms; now layout shift as images load")
            cls = await layout_shift(browser, base_url, tokens["demo"])
            say(f"layout shift {cls['value']} over {cls['cards_scrolled']} cards; now live DMs")
            live = await live_latency(
                browser, base_url, (tokens["demo"], tokens["other"]), room_id, events
            )
            say(f"live DM p95 {live['p95_ms']:.0f} ms over {events} events")
            version = browser.version
        finally:
            await browser.close()
    pages = {"/ (home feed)": feed.pop("scripts"), f"/inbox/{room_id}": live.pop("scripts")}
    totals = {page: sum(sizes.values()) for page, sizes in pages.items()}
    javascript = {
        "budget_bytes": JS_BUDGET_BYTES,
        "pages": {page: {"total": totals[page], "files": sizes} for page, sizes in pages.items()},
        "max_bytes": max(totals.values()),
        "all_files_bytes": sum(static_js_bytes().values()),
        "passed": max(totals.values()) <= JS_BUDGET_BYTES,
    }
    return {
        "chromium": version,
        "feed": feed,
        "javascript": javascript,
        "layout_shift": cls,
        "live_dm": live,
    }
