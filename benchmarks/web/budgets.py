"""`make bench-web`: the browser app's budgets, measured with Playwright on Debian's chromium.

It seeds a database of its own (``instalab_web``, Redis database 12 under the key prefix
``webbench``, media under var/web-bench-media), builds the demo account's world there with
``python -m seed.demo_user`` as `make run` does, and starts the production-mode server the
other HTTP instruments use (benchmarks/drive.py: DEBUG=0, granian WSGI for HTTP, uvicorn for
/ws/, on 127.0.0.1 only). Then, signed in as the demo account:

- **feed first contentful paint**: the median over ``--loads`` loads of the home feed, each in
  a fresh browser context (a cold browser cache) after three warm-up loads (a warm server);
  budget 500 ms;
  the time the first post card is in the page is reported beside it, and both again for as
  many loads in one context (the cache of a returning reader);
- **JavaScript bytes**: everything with the ``script`` resource type that the feed and a chat
  room load (app.js and the modules it imports), decoded; budget 100 KB (100,000 bytes);
- **cumulative layout shift while images load**: the home feed with every /media/ response
  held back, scrolled through two pages of posts, summed from a ``layout-shift``
  PerformanceObserver; budget 0;
- **live event latency**: ``--events`` DMs typed into a chat room in one browser context,
  each timed until it is on screen in the other member's context (both clocks are the same
  machine's); budget p95 <= 500 ms.

Writes reports/web-budgets.json and reports/web-budgets.md; exits 1 when a budget is missed.
Run as ``python -m benchmarks.web.budgets``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from benchmarks import drive

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CHROMIUM = Path(os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STATIC_JS = ROOT / "app" / "web" / "static" / "web"
OUT_JSON = ROOT / "reports" / "web-budgets.json"
OUT_MD = ROOT / "reports" / "web-budgets.md"

WEB_DATABASE = "instalab_web"
WEB_PREFIX = "webbench"
# Its own Redis database: the fan-out jobs the demo world queues must not reach the dev
# server's worker, which would run them against the dev database.
WEB_REDIS_DB = 12
WEB_MEDIA = ROOT / "var" / "web-bench-media"
SEED = 42

# The feed's first contentful paint on a warm server, the median of the cold-cache loads.
FCP_BUDGET_MS = 500.0
JS_BUDGET_BYTES = 100_000
CLS_BUDGET = 0.0
LIVE_P95_BUDGET_MS = 500.0
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


class BudgetError(RuntimeError):
    """The run cannot be made: no chromium or Playwright, no data, the server did not start."""


def say(message: str) -> None:
    drive.say(f"bench-web: {message}")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web.budgets", description=__doc__)
    parser.add_argument("--scale", default="small", help="seed scale of the data (default small)")
    parser.add_argument("--loads", type=int, default=15, help="measured feed loads (default 15)")
    parser.add_argument("--events", type=int, default=50, help="live DMs timed (default 50)")
    parser.add_argument("--reuse-data", action="store_true", help="skip the seed if data is there")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default 8110 or free)")
    parser.add_argument(
        "--ws-port", type=int, default=None, help="/ws/ port (default 8111 or free)"
    )
    args = parser.parse_args(argv)
    if args.loads < 1 or args.events < 1:
        parser.error("--loads and --events must be at least 1")
    return args


# --- what the run needs ----------------------------------------------------------------------


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


def static_js_bytes(root: Path = STATIC_JS) -> dict[str, int]:
    """Every JavaScript file of the browser app and its size: an upper bound of what a page
    loads, since each page imports only its own module."""
    return {str(path.relative_to(root)): path.stat().st_size for path in sorted(root.rglob("*.js"))}


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def redis_db_url(url: str, db: int) -> str:
    """The same Redis server, another numbered database (unix socket or TCP URL)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        # urlunsplit would drop the empty authority (unix:///path becomes unix:/path).
        query = {**dict(parse_qsl(parts.query)), "db": str(db)}
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def data_environment() -> dict[str, str]:
    """The database, Redis and media of this benchmark, for its commands and its server."""
    parts = urlsplit(drive.database_url())
    return {
        "DATABASE_URL": urlunsplit(parts._replace(path=f"/{WEB_DATABASE}")),
        "REDIS_URL": redis_db_url(drive.redis_url(), WEB_REDIS_DB),
        "REDIS_KEY_PREFIX": WEB_PREFIX,
        "MEDIA_ROOT": str(WEB_MEDIA),
    }


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BudgetError(f"{what} failed:\n{(result.stdout + result.stderr).strip()[-3000:]}")
    return result.stdout


def data_make(*, scale: str, reuse: bool) -> dict[str, str]:
    """Create and migrate the benchmark database, seed it, and give the demo account its
    world (`make run`'s steps); returns the environment the server runs in."""
    import psycopg

    env = {**os.environ, **data_environment()}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    params = psycopg.conninfo.conninfo_to_dict(env["DATABASE_URL"])
    params["dbname"] = "postgres"
    try:
        with psycopg.connect(psycopg.conninfo.make_conninfo("", **params), autocommit=True) as db:
            exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [WEB_DATABASE])
            if not exists.fetchone():
                db.execute(f'CREATE DATABASE "{WEB_DATABASE}"')
    except psycopg.OperationalError as exc:
        raise BudgetError(
            f"PostgreSQL is not reachable ({exc}); start it with `make services`"
        ) from None
    say(f"migrating {WEB_DATABASE}")
    _run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], env, "migrate")
    if reuse and _demo_ready(env):
        say("reusing the seeded data and the demo account already there (--reuse-data)")
        return env
    say(f"seeding {WEB_DATABASE} at {scale} (seed {SEED}), anchored now")
    seeded = _run(
        [PYTHON, "-m", "seed", "--scale", scale, "--seed", str(SEED), "--reset", "--no-progress"],
        env,
        "seeding",
    )
    say(seeded.splitlines()[0] if seeded else "seeded")
    say("building the demo account's world (python -m seed.demo_user, DEBUG=1 as `make run`)")
    world = _run([PYTHON, "-m", "seed.demo_user"], {**env, "DEBUG": "1"}, "seed.demo_user")
    for line in world.splitlines():
        if line.strip().startswith("world"):
            say(line.strip())
    return env


def _demo_ready(env: dict[str, str]) -> bool:
    check = (
        "from app.accounts.models import User; "
        "print(User.objects.filter(username='demo', following_count__gt=0).exists())"
    )
    out = _run([PYTHON, "manage.py", "shell", "-c", check], env, "the data check")
    return out.strip() == "True"


def demo_targets(env: dict[str, str]) -> dict[str, Any]:
    """The demo account's first DM room and the other member, read with this process's ORM."""
    os.environ.update(data_environment())
    drive.django_setup()
    from app.chat.models import Membership
    from seed.demo_user import DEMO_PASSWORD, DEMO_USERNAME
    from seed.presets import LAB_PASSWORD

    mine = Membership.objects.filter(user__username=DEMO_USERNAME, room__kind="dm")
    room_id = mine.order_by("room_id").values_list("room_id", flat=True).first()
    if room_id is None:
        raise BudgetError("the demo account has no DM room: its world was not built")
    other = (
        Membership.objects.filter(room_id=room_id)
        .exclude(user__username=DEMO_USERNAME)
        .values_list("user__username", flat=True)
        .get()
    )
    return {
        "demo": (DEMO_USERNAME, DEMO_PASSWORD),
        "other": (other, LAB_PASSWORD),
        "room_id": int(room_id),
    }


# --- the browser -----------------------------------------------------------------------------


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


# --- the report ------------------------------------------------------------------------------


def shift_sources(shifts: list[dict[str, Any]]) -> str:
    """Each element that moved and the share of the score its shifts make (a shift with
    several sources counts for each)."""
    score: dict[str, float] = {}
    for shift in shifts:
        for node in shift["nodes"] or ["(unattributed)"]:
            score[node] = score.get(node, 0.0) + float(shift["value"])
    ranked = sorted(score.items(), key=lambda item: -item[1])
    return ", ".join(f"`{node}` {value:.4f}" for node, value in ranked)


def summary_markdown(report: dict[str, Any]) -> str:
    feed, js = report["feed"], report["javascript"]
    cls, live = report["layout_shift"], report["live_dm"]
    mark = {True: "pass", False: "**missed**"}
    rows = [
        (
            "Feed first contentful paint (median)",
            f"{feed['fcp_median_ms']:.0f} ms",
            f"<= {feed['budget_fcp_ms']:.0f} ms",
            mark[feed["passed"]],
        ),
        (
            "First post card in the page (median)",
            f"{feed['first_post_median_ms']:.0f} ms",
            "(reported)",
            "",
        ),
        (
            "Feed FCP, warm browser cache (median)",
            f"{feed['warm_cache_fcp_median_ms']:.0f} ms",
            "(reported)",
            "",
        ),
        (
            "JavaScript a page loads (largest)",
            f"{js['max_bytes']:,} B",
            f"<= {js['budget_bytes']:,} B",
            mark[js["passed"]],
        ),
        (
            "Layout shift while images load",
            f"{cls['value']}",
            f"<= {cls['budget']:g}",
            mark[cls["passed"]],
        ),
        (
            "Live DM on screen, p95",
            f"{live['p95_ms']:.0f} ms",
            f"<= {live['budget_p95_ms']:.0f} ms",
            mark[live["passed"]],
        ),
    ]
    machine = report["machine"]
    lines = [
        "# Web budgets",
        "",
        f"`{report['command']}` at {report['generated_at']} (commit {report['commit']}), "
        f"chromium {report['chromium']}, {machine['nproc']} cores ({machine['cpu']}), load "
        f"average {report['loadavg_before'][0]} before and {report['loadavg_after'][0]} after. "
        f"Server: {report['server']}. Data: `{report['data']}`.",
        "",
        "| budget | measured | limit | |",
        "|---|---:|---:|---|",
        *(f"| {name} | {value} | {limit} | {verdict} |" for name, value, limit, verdict in rows),
        "",
        f"Feed: {feed['loads']} loads after {feed['warmup_loads']} warm-up ones, each in a fresh "
        f"browser context (cold browser cache, warm server); FCP p90 {feed['fcp_p90_ms']:.0f} ms, "
        f"{feed['cards_on_first_page']} cards on the first page. Then {feed['loads']} loads in "
        "one context (the browser cache of a returning reader): first post card "
        f"{feed['warm_cache_first_post_median_ms']:.0f} ms.",
        "",
        "JavaScript (decoded bytes of every script response): "
        + "; ".join(f"{page}: {data['total']:,} B" for page, data in js["pages"].items())
        + f". All files under app/web/static/web: {js['all_files_bytes']:,} B.",
        "",
        f"Layout shift: every /media/ response held back {cls['image_delay_ms']} ms, the feed "
        f"scrolled through {cls['cards_scrolled']} cards while {cls['images_held_back']} images "
        f"loaded. What moved: {shift_sources(cls['shifts']) or 'nothing'}.",
        "",
        f"Live DMs: {live['events']} messages typed in one browser context, "
        f"{live['send_interval_ms']} ms apart (under the chat rate limit), timed until on screen "
        "in the other member's: p50 "
        f"{live['p50_ms']:.0f} ms, p95 {live['p95_ms']:.0f} ms, max {live['max_ms']:.0f} ms.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.monotonic()
    say("checking chromium and Playwright")
    chromium_check()
    drive.services_ensure()
    env = data_make(scale=args.scale, reuse=args.reuse_data)
    targets = demo_targets(env)
    loadavg_before = drive.loadavg()
    server = drive.server_start(port=args.port, ws_port=args.ws_port, workers=2, environ=env)
    try:
        tokens = {
            role: drive.login(base_url=server.base_url, username=name, password=password)
            for role, (name, password) in (("demo", targets["demo"]), ("other", targets["other"]))
        }
        who = f"{targets['demo'][0]} and {targets['other'][0]}"
        say(f"signed in as {who} (DM room {targets['room_id']})")
        measured = asyncio.run(
            measure(
                base_url=server.base_url,
                tokens=tokens,
                room_id=targets["room_id"],
                loads=args.loads,
                events=args.events,
            )
        )
    finally:
        server.stop()
    report = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(
            ["python -m benchmarks.web.budgets", *(argv if argv is not None else sys.argv[1:])]
        ),
        "commit": drive.commit(),
        "machine": drive.machine(),
        "loadavg_before": loadavg_before,
        "loadavg_after": drive.loadavg(),
        "server": "DEBUG=0, SERVER=split (granian WSGI, 2 workers; uvicorn /ws/), 127.0.0.1",
        "data": f"python -m seed --scale {args.scale} --seed {SEED}; python -m seed.demo_user",
        **measured,
        "seconds": round(time.monotonic() - started, 1),
    }
    report["passed"] = all(
        report[part]["passed"] for part in ("feed", "javascript", "layout_shift", "live_dm")
    )
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(report, indent=1) + "\n")
    OUT_MD.write_text(summary_markdown(report))
    say(f"{'all budgets met' if report['passed'] else 'a budget was missed'}: {OUT_MD}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BudgetError, drive.DriveError) as exc:
        print(f"bench-web: {exc}", file=sys.stderr)
        sys.exit(2)
