"""The generators: a compact in-memory plan, then one streaming COPY phase per table family."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from faker import Faker
from tqdm import tqdm

from seed.copy import binary_rows, copy_binary, copy_text, text_escape, ts_text
from seed.images import PoolImage
from seed.presets import Preset
from seed.vocab import (
    CHAT_EN,
    CHAT_KO,
    COMMENTS_EN,
    COMMENTS_KO,
    COMMUNITIES,
    EMOJI,
    GENERIC_TAGS,
    GROUP_TITLES_EN,
    GROUP_TITLES_KO,
    KO_GIVEN_ROMAN,
    KO_SURNAME_ROMAN,
    TAG_SUFFIX_EN,
    TAG_SUFFIX_KO,
)

Array = np.ndarray[Any, Any]

US = 1_000_000
DAY_US = 86_400 * US
# Every timestamp derives from the anchor (the plan's end_us: by default the seeding time, so
# the newest activity is minutes old), never from a clock read later: the same SEED and anchor
# give the same bytes, and another anchor changes the timestamps only. The data spans the six
# months before it.
SPAN_DAYS = 180
# A small share of posts is drawn by age from the anchor (exponential, this mean), on top of
# the months-long rhythm: the newest posts are minutes old at any hour of the day, even in the
# pre-dawn trough, and activity thins out over the day before.
RECENT_SHARE = 0.004
RECENT_MEAN_HOURS = 12.0
K = len(COMMUNITIES)
# Share of activity per hour of day in Korea (KST = UTC+9): lunch and late-evening peaks,
# a trough before dawn.
HOUR_KST = np.array(
    [
        2,
        1,
        0.6,
        0.4,
        0.4,
        0.6,
        1.2,
        2.2,
        3,
        3,
        3.2,
        4,
        5,
        4.2,
        3.6,
        3.6,
        3.8,
        4.2,
        5,
        6,
        6.8,
        7,
        6,
        4,
    ]
)
HOUR_KST = HOUR_KST / HOUR_KST.sum()
TIERS = ("lurker", "casual", "active", "heavy")
NULL = "\\N"
# Zipf exponent of popularity and the share of follows aimed at celebrities: tuned so the top
# 1% of accounts hold over 30% of follows at small scale and above (the bar).
POP_EXP = 1.1
CELEB_SHARE = 0.22


# Phase numbers feed the random streams: fixed, so adding a phase never shifts another's data.
PH_PLAN, PH_FOLLOW, PH_LIKE, PH_COMMENT, PH_SAVE, PH_POST, PH_TAG, PH_PLACE = range(1, 9)
PH_USER, PH_CHAT, PH_SEARCH, PH_TEXT, PH_RECENT = range(9, 14)


def anchor_now() -> int:
    """The default anchor: now, to the whole second, in Unix microseconds."""
    return int(datetime.now(UTC).timestamp()) * US


def anchor_parse(text: str) -> int:
    """An ISO 8601 anchor (naive means UTC) in Unix microseconds."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * US)


def rng_for(seed: int, phase: int, chunk: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed, phase, chunk]))


def capped_multinomial(rng: np.random.Generator, total: int, weights: Array, cap: int) -> Array:
    """Split ``total`` by ``weights`` with no share above ``cap``; the excess goes elsewhere."""
    need = rng.multinomial(total, weights / weights.sum())
    for _ in range(20):
        excess = int(np.maximum(need - cap, 0).sum())
        need = np.minimum(need, cap)
        room = weights * (need < cap)
        if excess == 0 or room.sum() == 0:
            break
        need += rng.multinomial(excess, room / room.sum())
    return np.minimum(need, cap)


def rhythm_ts(rng: np.random.Generator, n: int, lo_us: int, hi_us: int) -> Array:
    """``n`` timestamps in [lo, hi) with a daily rhythm and a mild growth trend.

    The days are 24-hour windows counted back from ``hi``; each holds every hour of the (UTC)
    clock once, so the rhythm follows the clock whatever time of day ``hi`` is.
    """
    days = max(1, (hi_us - lo_us) // DAY_US)
    trend = np.linspace(0.7, 1.3, days)
    day = rng.choice(days, size=n, p=trend / trend.sum())
    hour = (rng.choice(24, size=n, p=HOUR_KST) - 9) % 24
    window = hi_us - (days - day) * DAY_US
    ts = window - window % DAY_US + hour * 3600 * US + rng.integers(0, 3600 * US, size=n)
    ts = np.where(ts < window, ts + DAY_US, ts)
    clipped: Array = np.clip(ts, lo_us, hi_us - 1).astype(np.int64)
    return clipped


def recent_ts(rng: np.random.Generator, n: int, end_us: int, mean_hours: float) -> Array:
    """``n`` timestamps by age before ``end_us``: exponential, at most a week old."""
    age = np.minimum(rng.exponential(mean_hours * 3600 * US, size=n), 7 * DAY_US)
    return (end_us - 1 - age).astype(np.int64)


def after(rng: np.random.Generator, base: Array, fast_scale_h: float, end_us: int) -> Array:
    """Reaction times after ``base``: most within hours, a long tail, never past the end."""
    fast = rng.exponential(fast_scale_h * 3600 * US, size=len(base))
    late = rng.random(len(base)) * (end_us - base)
    delay = np.where(rng.random(len(base)) < 0.8, fast, late).astype(np.int64)
    ts = base + 1 + delay
    spill = ts >= end_us
    ts[spill] = base[spill] + 1 + (rng.random(int(spill.sum())) * (end_us - 1 - base[spill]))
    return ts.astype(np.int64)


class GroupSampler:
    """Weighted draws of items, either within a group (community) or across all items."""

    def __init__(self, labels: Array, weights: Array, groups: int) -> None:
        self.order = np.argsort(labels, kind="stable")
        self.cum = np.cumsum(weights[self.order].astype(np.float64))
        self.bounds = np.searchsorted(labels[self.order], np.arange(groups + 1))
        self.global_cum = np.cumsum(weights.astype(np.float64))

    def any(self, rng: np.random.Generator, n: int) -> Array:
        r = rng.random(n) * self.global_cum[-1]
        picked: Array = np.searchsorted(self.global_cum, r, side="right")
        return np.minimum(picked, len(self.cum) - 1)

    def within(self, rng: np.random.Generator, groups: Array) -> Array:
        start, end = self.bounds[groups], self.bounds[groups + 1]
        before = np.where(start > 0, self.cum[np.maximum(start - 1, 0)], 0.0)
        total = self.cum[np.maximum(end - 1, 0)] - before
        r = before + rng.random(len(groups)) * total
        pos = np.clip(np.searchsorted(self.cum, r, side="right"), start, np.maximum(end - 1, 0))
        out: Array = self.order[pos]
        empty = end <= start
        if empty.any():
            out[empty] = self.any(rng, int(empty.sum()))
        return out


def unique_pairs(
    rng: np.random.Generator,
    lo: int,
    need: Array,
    n_targets: int,
    draw: Callable[[np.random.Generator, Array, int], Array],
    *,
    no_self: bool,
) -> Array:
    """Distinct (source, target) keys, ``need[i]`` per source ``lo + i``, topped up in rounds."""
    have = np.empty(0, dtype=np.int64)
    deficit = need.astype(np.int64).copy()
    for round_no in range(8):
        if deficit.sum() == 0:
            break
        ask = np.ceil(deficit * (1.15 + 0.3 * round_no)).astype(np.int64)
        sources = np.repeat(np.arange(lo, lo + len(need), dtype=np.int64), ask)
        targets = draw(rng, sources, round_no).astype(np.int64)
        keys = sources * n_targets + targets
        if no_self:
            keys = keys[sources != targets]
        keys = keys[~np.isin(keys, have)]
        # First occurrence in draw order: keeps the sample random rather than lowest-id first.
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]
        local = keys // n_targets - lo
        order = np.argsort(local, kind="stable")
        keys, local = keys[order], local[order]
        starts = np.searchsorted(local, np.arange(len(need)))
        rank = np.arange(len(keys)) - starts[local]
        kept = keys[rank < deficit[local]]
        have = np.concatenate([have, kept])
        deficit -= np.bincount(kept // n_targets - lo, minlength=len(need))
    return np.sort(have)


def chunks(total: int, rows_per_item: float, chunk_rows: int) -> Iterator[tuple[int, int, int]]:
    """(chunk number, lo, hi) over ``total`` items, about ``chunk_rows`` rows each."""
    step = max(1, int(chunk_rows / max(rows_per_item, 1e-9)))
    for number, lo in enumerate(range(0, total, step)):
        yield number, lo, min(total, lo + step)


def _name_base(raw: str) -> str:
    base = re.sub(r"[^a-z.]", "", raw.lower())
    base = re.sub(r"\.+", ".", base).strip(".")
    return base[:20] or "user"


@dataclass
class Plan:
    """Per-user and per-post attributes every phase shares; compact numpy columns only."""

    preset: Preset
    seed: int
    # The anchor: every timestamp lies before it (Unix microseconds).
    end_us: int
    community: Array
    korean: Array
    tier: Array
    pop: Array
    celebs: Array
    private: Array
    like_w: Array
    joined: Array
    usernames: list[str]
    names: list[str]
    post_author: Array
    post_ts: Array
    post_comm: Array
    post_place: Array
    post_quality: Array
    tag_names: list[str]
    tag_comm: Array
    place_comm: Array
    text_ko: list[list[str]]
    text_en: list[list[str]]
    pool: list[PoolImage]
    # Accumulated by the phases, so every denormalised counter is exact by construction.
    in_deg: Array = field(default_factory=lambda: np.zeros(0, np.int64))
    out_deg: Array = field(default_factory=lambda: np.zeros(0, np.int64))
    like_count: Array = field(default_factory=lambda: np.zeros(0, np.int64))
    comment_count: Array = field(default_factory=lambda: np.zeros(0, np.int64))
    tag_count: Array = field(default_factory=lambda: np.zeros(0, np.int64))
    tag_last: Array = field(default_factory=lambda: np.zeros(0, np.int64))
    place_names: list[str] = field(default_factory=list)
    celeb_followers: list[int] = field(default_factory=list)

    @property
    def start_us(self) -> int:
        return self.end_us - SPAN_DAYS * DAY_US

    @property
    def n_users(self) -> int:
        return len(self.community)

    @property
    def n_posts(self) -> int:
        return len(self.post_author)

    def users_by_comm(self) -> GroupSampler:
        return GroupSampler(self.community, self.pop, K)


def _tag_vocabulary(rng: np.random.Generator, total: int) -> tuple[list[str], Array]:
    names: list[str] = list(GENERIC_TAGS)
    comm: list[int] = [-1] * len(GENERIC_TAGS)
    seen = set(names)
    per_comm = max(1, (total - len(names)) // K)
    for k, community in enumerate(COMMUNITIES):
        base = [*community.tags_en, *community.tags_ko]
        combos = [f"{b}{s}" for b in community.tags_en for s in TAG_SUFFIX_EN]
        combos += [f"{b}{s}" for b in community.tags_ko for s in TAG_SUFFIX_KO]
        combos = [combos[i] for i in rng.permutation(len(combos))]
        candidates = base + combos
        number = 2
        while len(candidates) < per_comm:
            candidates += [f"{b}{number}" for b in base]
            number += 1
        added = 0
        for name in candidates:
            if added >= per_comm:
                break
            if name not in seen:
                seen.add(name)
                names.append(name)
                comm.append(k)
                added += 1
    return names, np.array(comm, dtype=np.int64)


def _text_pools(seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """Caption sentences per community: its own phrases plus seeded Faker text (ko_KR, en_US)."""
    ko, en = Faker("ko_KR"), Faker("en_US")
    ko.seed_instance(seed * 7919 + PH_TEXT)
    en.seed_instance(seed * 7919 + PH_TEXT + 1)
    text_ko, text_en = [], []
    for community in COMMUNITIES:
        kos = list(community.phrases_ko) + [ko.catch_phrase() for _ in range(60)]
        ens = list(community.phrases_en) + [en.sentence(nb_words=8) for _ in range(60)]
        text_ko.append(kos)
        text_en.append(ens)
    return text_ko, text_en


def plan_build(preset: Preset, seed: int, pool: list[PoolImage], *, end_us: int) -> Plan:
    rng = rng_for(seed, PH_PLAN)
    start_us = end_us - SPAN_DAYS * DAY_US
    n, p = preset.users, preset.posts
    sizes = rng.dirichlet(np.full(K, 4.0))
    community = rng.choice(K, size=n, p=sizes).astype(np.int64)
    korean = rng.random(n) < 0.6
    # Heavy-tailed activity: most accounts lurk, one in a hundred posts a lot.
    tier = np.searchsorted([0.55, 0.90, 0.99], rng.random(n), side="right").astype(np.int64)
    post_w = np.array([0.05, 1.0, 5.0, 25.0])[tier] * rng.lognormal(0, 0.5, n)
    # Popularity is Zipf over a random order; the head are celebrities.
    rank = np.empty(n, dtype=np.int64)
    rank[rng.permutation(n)] = np.arange(n)
    pop = 1.0 / (rank + 1.0) ** POP_EXP
    celebs = np.sort(np.argsort(rank)[: max(2, n // 500)])
    private = (rng.random(n) < 0.1) & (rank >= len(celebs))
    post_w[celebs] = np.maximum(post_w[celebs], 5.0)
    like_w = rng.lognormal(0, 1.2, n) * np.array([0.6, 1.0, 1.5, 2.0])[tier]
    joined = start_us - rng.integers(DAY_US, 3 * 365 * DAY_US, size=n)

    author = rng.choice(n, size=p, p=post_w / post_w.sum()).astype(np.int64)
    post_ts = rhythm_ts(rng, p, start_us, end_us)
    # Its own stream, so the rest of the plan is the same draws as without it.
    recent_rng = rng_for(seed, PH_RECENT)
    recent = recent_rng.random(p) < RECENT_SHARE
    post_ts[recent] = recent_ts(recent_rng, int(recent.sum()), end_us, RECENT_MEAN_HOURS)
    post_ts = np.sort(post_ts)
    post_comm = np.where(rng.random(p) < 0.85, community[author], rng.integers(0, K, p))
    place_comm = np.arange(preset.places, dtype=np.int64) % K
    place_rank = np.arange(preset.places, dtype=np.int64) // K
    places = GroupSampler(place_comm, 1.0 / (place_rank + 1.0), K)
    post_place = np.where(rng.random(p) < 0.35, places.within(rng, post_comm), -1)

    tag_names, tag_comm = _tag_vocabulary(rng, preset.hashtags)
    en = Faker("en_US")
    en.seed_instance(seed * 7919 + PH_PLAN)
    ko = Faker("ko_KR")
    ko.seed_instance(seed * 7919 + PH_PLAN + 1)
    first_en = [_name_base(en.first_name()) for _ in range(400)]
    last_en = [_name_base(en.last_name()) for _ in range(400)]
    full_en = [en.name() for _ in range(800)]
    full_ko = [ko.name() for _ in range(800)]
    pick = rng.integers(0, 400, size=(n, 2))
    style = rng.integers(0, 3, size=n)
    usernames: list[str] = []
    names: list[str] = []
    for i in range(n):
        if korean[i]:
            given = KO_GIVEN_ROMAN[pick[i, 0] % len(KO_GIVEN_ROMAN)]
            family = KO_SURNAME_ROMAN[pick[i, 1] % len(KO_SURNAME_ROMAN)]
            name = full_ko[(pick[i, 0] + pick[i, 1]) % 800]
        else:
            given, family = first_en[pick[i, 0]], last_en[pick[i, 1]]
            name = full_en[(pick[i, 0] + pick[i, 1]) % 800]
        base = (given, f"{given}.{family}", f"{given}_{family}")[style[i]][:24]
        # The digits are the user id and the base has none, so usernames are unique.
        usernames.append(f"{base}{i + 1}")
        names.append(name)
    text_ko, text_en = _text_pools(seed)
    return Plan(
        preset=preset,
        seed=seed,
        end_us=end_us,
        community=community,
        korean=korean,
        tier=tier,
        pop=pop,
        celebs=celebs,
        private=private,
        like_w=like_w,
        joined=joined,
        usernames=usernames,
        names=names,
        post_author=author,
        post_ts=post_ts,
        post_comm=post_comm.astype(np.int64),
        post_place=post_place.astype(np.int64),
        post_quality=rng.lognormal(0, 0.8, p),
        tag_names=tag_names,
        tag_comm=tag_comm,
        place_comm=place_comm,
        text_ko=text_ko,
        text_en=text_en,
        pool=pool,
    )


@dataclass
class PhaseStat:
    name: str
    rows: int
    seconds: float


@dataclass
class Loader:
    """The COPY target plus the bookkeeping every phase reports into."""

    pg: psycopg.Connection[Any]
    progress: bool
    chunk_rows: int
    tables: dict[str, int] = field(default_factory=dict)
    phases: list[PhaseStat] = field(default_factory=list)
    _bar: Any = None

    @contextmanager
    def phase(self, name: str, total: int) -> Iterator[Loader]:
        started = time.perf_counter()
        before = sum(self.tables.values())
        self._bar = tqdm(
            total=total,
            desc=f"{name:<10}",
            unit=" rows",
            unit_scale=True,
            disable=not self.progress,
            mininterval=0.5,
            leave=True,
            # Steps without rows (drawing images, building indexes) show their elapsed time.
            bar_format=None if total else "{desc}: {elapsed}",
        )
        try:
            yield self
        finally:
            self._bar.close()
            rows = sum(self.tables.values()) - before
            self.phases.append(PhaseStat(name, rows, time.perf_counter() - started))

    def binary(self, table: str, columns: list[tuple[str, str, Array]], *, bar: bool = True) -> int:
        if len(columns[0][2]) == 0:
            return 0
        payload = binary_rows([(kind, values) for _, kind, values in columns])
        copy_binary(self.pg, table, [name for name, _, _ in columns], payload)
        return self._count(table, len(columns[0][2]), bar)

    def text(self, table: str, names: list[str], lines: list[str], *, bar: bool = True) -> int:
        if not lines:
            return 0
        copy_text(self.pg, table, names, "".join(lines))
        return self._count(table, len(lines), bar)

    def _count(self, table: str, rows: int, bar: bool) -> int:
        self.tables[table] = self.tables.get(table, 0) + rows
        if bar and self._bar is not None:
            self._bar.update(rows)
        return rows


# --- Phases -------------------------------------------------------------------------------


def follow_chunks(plan: Plan) -> Iterator[tuple[Array, Array, Array]]:
    """The follow graph as (follower, followee, created_at) chunks of 0-based user indexes."""
    preset, n = plan.preset, plan.n_users
    rng = rng_for(plan.seed, PH_FOLLOW)
    out_w = rng.lognormal(0, 1.0, n) * np.array([0.6, 1.0, 1.3, 1.6])[plan.tier]
    need = capped_multinomial(rng, preset.follows, out_w, n // 2)
    users = plan.users_by_comm()
    celeb_pop = plan.pop[plan.celebs] / plan.pop[plan.celebs].sum()

    def draw(rng: np.random.Generator, sources: Array, round_no: int) -> Array:
        r = rng.random(len(sources))
        out = users.any(rng, len(sources))
        # A handful of celebrities collect a large share of everyone's follows.
        celeb = r < CELEB_SHARE
        out[celeb] = plan.celebs[rng.choice(len(plan.celebs), int(celeb.sum()), p=celeb_pop)]
        local = (r >= CELEB_SHARE) & (r < 0.75) & (round_no < 3)
        out[local] = users.within(rng, plan.community[sources[local]])
        return out

    for number, lo, hi in chunks(n, preset.follows / n, 250_000):
        crng = rng_for(plan.seed, PH_FOLLOW, number + 1)
        keys = unique_pairs(crng, lo, need[lo:hi], n, draw, no_self=True)
        follower, followee = keys // n, keys % n
        ts = rhythm_ts(crng, len(keys), plan.start_us - 365 * DAY_US, plan.end_us)
        # Nobody follows before both accounts exist.
        floor = np.maximum(plan.joined[follower], plan.joined[followee])
        early = ts <= floor
        room = plan.end_us - 1 - floor[early]
        ts[early] = floor[early] + 1 + (crng.random(int(early.sum())) * room)
        order = np.argsort(ts, kind="stable")
        yield follower[order], followee[order], ts[order]


def follows_load(plan: Plan, out: Loader) -> None:
    n = plan.n_users
    plan.in_deg = np.zeros(n, np.int64)
    plan.out_deg = np.zeros(n, np.int64)
    next_id = 1
    star = int(plan.celebs[np.argmax(plan.pop[plan.celebs])])
    with out.phase("follows", plan.preset.follows):
        for follower, followee, ts in follow_chunks(plan):
            ids = np.arange(next_id, next_id + len(ts), dtype=np.int64)
            next_id += len(ts)
            plan.in_deg += np.bincount(followee, minlength=n)
            plan.out_deg += np.bincount(follower, minlength=n)
            if len(plan.celeb_followers) < 50:
                plan.celeb_followers += follower[followee == star][:50].tolist()
            out.binary(
                "accounts_follow",
                [
                    ("id", "int8", ids),
                    ("created_at", "ts", ts),
                    ("followee_id", "int8", followee + 1),
                    ("follower_id", "int8", follower + 1),
                ],
            )


def _post_sampler(plan: Plan) -> GroupSampler:
    # Posts by followed and private-free authors draw more engagement; quality adds noise.
    weight = plan.post_quality * np.sqrt(plan.in_deg[plan.post_author] + 5.0)
    weight = weight * np.where(plan.private[plan.post_author], 0.3, 1.0)
    return GroupSampler(plan.post_comm, weight, K)


def _engagement(
    plan: Plan, posts: GroupSampler, in_comm: float
) -> Callable[[np.random.Generator, Array, int], Array]:
    def draw(rng: np.random.Generator, sources: Array, round_no: int) -> Array:
        out = posts.any(rng, len(sources))
        local = (rng.random(len(sources)) < in_comm) & (round_no < 3)
        out[local] = posts.within(rng, plan.community[sources[local]])
        return out

    return draw


def _pair_table(
    plan: Plan, out: Loader, *, table: str, phase: int, total: int, label: str
) -> Array:
    """Likes and saves: distinct (user, post) pairs, community-correlated, binary COPY."""
    n, p = plan.n_users, plan.n_posts
    rng = rng_for(plan.seed, phase)
    need = capped_multinomial(rng, total, plan.like_w, p // 3)
    draw = _engagement(plan, _post_sampler(plan), 0.8)
    counts = np.zeros(p, np.int64)
    next_id = 1
    with out.phase(label, int(need.sum())):
        for number, lo, hi in chunks(n, total / n, out.chunk_rows):
            crng = rng_for(plan.seed, phase, number + 1)
            keys = unique_pairs(crng, lo, need[lo:hi], p, draw, no_self=False)
            user, post = keys // p, keys % p
            ts = after(crng, plan.post_ts[post], 6.0, plan.end_us)
            order = np.argsort(ts, kind="stable")
            user, post, ts = user[order], post[order], ts[order]
            ids = np.arange(next_id, next_id + len(keys), dtype=np.int64)
            next_id += len(keys)
            counts += np.bincount(post, minlength=p)
            out.binary(
                table,
                [
                    ("id", "int8", ids),
                    ("created_at", "ts", ts),
                    ("user_id", "int8", user + 1),
                    ("post_id", "int8", post + 1),
                ],
            )
    return counts


def likes_load(plan: Plan, out: Loader) -> None:
    plan.like_count = _pair_table(
        plan, out, table="posts_like", phase=PH_LIKE, total=plan.preset.likes, label="likes"
    )


def saves_load(plan: Plan, out: Loader) -> None:
    _pair_table(
        plan, out, table="posts_save", phase=PH_SAVE, total=plan.preset.saves, label="saves"
    )


def comments_load(plan: Plan, out: Loader) -> None:
    n, p, total = plan.n_users, plan.n_posts, plan.preset.comments
    rng = rng_for(plan.seed, PH_COMMENT)
    need = rng.multinomial(total, plan.like_w / plan.like_w.sum())
    draw = _engagement(plan, _post_sampler(plan), 0.85)
    plan.comment_count = np.zeros(p, np.int64)
    ko = [text_escape(t) for t in COMMENTS_KO]
    en = [text_escape(t) for t in COMMENTS_EN]
    emoji = [text_escape(e) for e in EMOJI]
    next_id = 1
    names = ["id", "text", "created_at", "author_id", "post_id"]
    with out.phase("comments", total):
        for number, lo, hi in chunks(n, total / n, out.chunk_rows):
            crng = rng_for(plan.seed, PH_COMMENT, number + 1)
            user = np.repeat(np.arange(lo, hi, dtype=np.int64), need[lo:hi])
            post = draw(crng, user, 0)
            ts = after(crng, plan.post_ts[post], 12.0, plan.end_us)
            order = np.argsort(ts, kind="stable")
            user, post, ts = user[order], post[order], ts[order]
            plan.comment_count += np.bincount(post, minlength=p)
            phrase = crng.integers(0, 10, len(user)).tolist()
            mood = crng.integers(0, len(emoji), len(user)).tolist()
            tag_author = (crng.random(len(user)) < 0.15).tolist()
            korean = plan.korean[user].tolist()
            authors = plan.post_author[post].tolist()
            stamps = ts_text(ts)
            lines = []
            for i, (u, po) in enumerate(zip(user.tolist(), post.tolist(), strict=True)):
                body = (ko if korean[i] else en)[phrase[i]] + emoji[mood[i]]
                if tag_author[i]:
                    body = f"@{plan.usernames[authors[i]]} {body}"
                lines.append(f"{next_id}\t{body}\t{stamps[i]}\t{u + 1}\t{po + 1}\n")
                next_id += 1
            out.text("posts_comment", names, lines)


def posts_load(plan: Plan, out: Loader) -> None:
    """Posts with captions, and the hashtag, mention and image rows that captions imply."""
    p = plan.n_posts
    n_tags = len(plan.tag_names)
    tag_rank = np.zeros(n_tags)
    for k in range(-1, K):
        members = np.flatnonzero(plan.tag_comm == k)
        tag_rank[members] = np.arange(len(members))
    # Zipf within each community's vocabulary; generic tags form their own group.
    tags = GroupSampler(plan.tag_comm + 1, 1.0 / (tag_rank + 1.0) ** 1.1, K + 1)
    users = plan.users_by_comm()
    plan.tag_count = np.zeros(n_tags, np.int64)
    plan.tag_last = np.zeros(n_tags, np.int64)
    pool_by_comm = [[i for i, img in enumerate(plan.pool) if img.community == k] for k in range(K)]
    image_suffix = [
        f"\t{img.original}\t{img.feed}\t{img.thumb}\t{img.width}\t{img.height}\t"
        for img in plan.pool
    ]
    text_ko = [[text_escape(t) for t in pool] for pool in plan.text_ko]
    text_en = [[text_escape(t) for t in pool] for pool in plan.text_en]
    emoji = [text_escape(e) for e in EMOJI]
    ids = {"tag": 1, "mention": 1, "image": 1}
    post_names = ["id", "caption", "like_count", "comment_count", "created_at", "updated_at"]
    post_names += ["author_id", "place_id"]
    image_names = ["id", "position", "original", "feed", "thumb", "width", "height", "post_id"]
    with out.phase("posts", p):
        for number, lo, hi in chunks(p, 1, out.chunk_rows // 4):
            rng = rng_for(plan.seed, PH_POST, number + 1)
            m = hi - lo
            comm = plan.post_comm[lo:hi]
            author = plan.post_author[lo:hi]
            count = rng.choice([0, 1, 2, 3, 4, 5, 6, 9], size=m, p=[0.3, 0.15] + [0.1] * 5 + [0.05])
            slot_post = np.repeat(np.arange(m), count)
            group = np.where(rng.random(len(slot_post)) < 0.85, comm[slot_post] + 1, 0)
            drawn = tags.within(rng, group)
            mention_n = np.where(rng.random(m) < 0.12, rng.integers(1, 3, m), 0)
            mention_post = np.repeat(np.arange(m), mention_n)
            mentioned = users.within(rng, plan.community[author[mention_post]])
            images = rng.choice([1, 2, 3], size=m, p=[0.72, 0.13, 0.15])
            korean = (plan.korean[author] ^ (rng.random(m) < 0.2)).tolist()
            sentence = rng.integers(0, 1 << 30, size=(m, 2)).tolist()
            two = (rng.random(m) < 0.3).tolist()
            mood = rng.integers(0, len(emoji), m).tolist()
            image_pick = rng.integers(0, 1 << 30, size=3 * m).tolist()
            stamps = ts_text(plan.post_ts[lo:hi])
            tag_at = np.searchsorted(slot_post, np.arange(m + 1))
            men_at = np.searchsorted(mention_post, np.arange(m + 1))
            drawn_l, mentioned_l = drawn.tolist(), mentioned.tolist()
            author_l, comm_l = author.tolist(), comm.tolist()
            place_l = plan.post_place[lo:hi].tolist()
            likes_l = plan.like_count[lo:hi].tolist()
            comments_l = plan.comment_count[lo:hi].tolist()
            images_l = images.tolist()
            post_lines, image_lines = [], []
            ph_post, ph_tag, men_post, men_user = [], [], [], []
            for i in range(m):
                pid = lo + i + 1
                pool = (text_ko if korean[i] else text_en)[comm_l[i]]
                body = pool[sentence[i][0] % len(pool)]
                if two[i]:
                    body += " " + pool[sentence[i][1] % len(pool)]
                body += emoji[mood[i]]
                who = list(dict.fromkeys(mentioned_l[men_at[i] : men_at[i + 1]]))
                who = [u for u in who if u != author_l[i]]
                if who:
                    body += " " + " ".join(f"@{plan.usernames[u]}" for u in who)
                    men_post += [pid] * len(who)
                    men_user += [u + 1 for u in who]
                chosen = list(dict.fromkeys(drawn_l[tag_at[i] : tag_at[i + 1]]))
                if chosen:
                    body += "\\n\\n" + " ".join(f"#{plan.tag_names[t]}" for t in chosen)
                    ph_post += [pid] * len(chosen)
                    ph_tag += chosen
                place = "\\N" if place_l[i] < 0 else str(place_l[i] + 1)
                post_lines.append(
                    f"{pid}\t{body}\t{likes_l[i]}\t{comments_l[i]}\t{stamps[i]}\t{stamps[i]}"
                    f"\t{author_l[i] + 1}\t{place}\n"
                )
                options = pool_by_comm[comm_l[i]]
                for position in range(images_l[i]):
                    img = options[image_pick[3 * i + position] % len(options)]
                    image_lines.append(f"{ids['image']}\t{position}{image_suffix[img]}{pid}\n")
                    ids["image"] += 1
            out.text("posts_post", post_names, post_lines)
            out.text("posts_postimage", image_names, image_lines, bar=False)
            tag_post = np.array(ph_post, dtype=np.int64)
            tag_ids = np.array(ph_tag, dtype=np.int64)
            tag_ts = plan.post_ts[tag_post - 1] if len(tag_post) else np.empty(0, np.int64)
            plan.tag_count += np.bincount(tag_ids, minlength=n_tags)
            np.maximum.at(plan.tag_last, tag_ids, tag_ts)
            out.binary(
                "posts_posthashtag",
                [
                    ("id", "int8", np.arange(ids["tag"], ids["tag"] + len(tag_ids))),
                    ("created_at", "ts", tag_ts),
                    ("hashtag_id", "int8", tag_ids + 1),
                    ("post_id", "int8", tag_post),
                ],
                bar=False,
            )
            ids["tag"] += len(tag_ids)
            out.binary(
                "posts_mention",
                [
                    ("id", "int8", np.arange(ids["mention"], ids["mention"] + len(men_post))),
                    ("user_id", "int8", np.array(men_user, dtype=np.int64)),
                    ("post_id", "int8", np.array(men_post, dtype=np.int64)),
                ],
                bar=False,
            )
            ids["mention"] += len(men_post)


def hashtags_load(plan: Plan, out: Loader) -> None:
    names = ["id", "name", "post_count", "created_at", "last_used_at"]
    n_tags = len(plan.tag_names)
    created = plan.start_us - 400 * DAY_US + np.arange(n_tags, dtype=np.int64) * 60 * US
    first_use = np.where(plan.tag_count > 0, plan.tag_last, plan.end_us)
    created = np.minimum(created, first_use - 1)
    created_s, last_s = ts_text(created), ts_text(plan.tag_last)
    lines = [
        f"{i + 1}\t{text_escape(name)}\t{plan.tag_count[i]}\t{created_s[i]}\t"
        f"{last_s[i] if plan.tag_count[i] else NULL}\n"
        for i, name in enumerate(plan.tag_names)
    ]
    with out.phase("hashtags", n_tags):
        out.text("posts_hashtag", names, lines)


def places_load(plan: Plan, out: Loader) -> None:
    rng = rng_for(plan.seed, PH_PLACE)
    ko, en = Faker("ko_KR"), Faker("en_US")
    ko.seed_instance(plan.seed * 7919 + PH_PLACE)
    en.seed_instance(plan.seed * 7919 + PH_PLACE + 1)
    total = plan.preset.places
    counts = np.bincount(plan.post_place[plan.post_place >= 0], minlength=total)
    # Most places are in Korea; a few abroad.
    korean_name = rng.random(total) < 0.65
    abroad = ~korean_name & (rng.random(total) < 0.3)
    lat = np.where(abroad, rng.uniform(-40, 60, total), rng.uniform(33.2, 38.3, total))
    lon = np.where(abroad, rng.uniform(-120, 150, total), rng.uniform(126.1, 129.5, total))
    created = np.arange(total, dtype=np.int64) * 3600 * US + plan.start_us - 500 * DAY_US
    created_s = ts_text(created)
    lines = []
    for i in range(total):
        community = COMMUNITIES[int(plan.place_comm[i])]
        if korean_name[i]:
            name = f"{ko.city()} {ko.street_name()} {community.place_ko[i % 3]}"
            address = ko.address()
        else:
            name = f"{en.last_name()} {community.place_en[i % 3]}"
            address = en.address()
        name = name[:120]
        plan.place_names.append(name)
        lines.append(
            f"{i + 1}\t{text_escape(name)}\t{text_escape(address[:255])}\t{lat[i]:.6f}\t"
            f"{lon[i]:.6f}\t{counts[i]}\t{created_s[i]}\n"
        )
    names = ["id", "name", "address", "latitude", "longitude", "post_count", "created_at"]
    with out.phase("places", total):
        out.text("posts_place", names, lines)


def users_load(plan: Plan, out: Loader, password_hash: str) -> None:
    n = plan.n_users
    post_count = np.bincount(plan.post_author, minlength=n)
    names = ["id", "password", "last_login", "is_superuser", "first_name", "last_name", "email"]
    names += ["is_staff", "is_active", "date_joined", "username", "name", "bio", "avatar"]
    names += ["is_private", "follower_count", "following_count", "post_count"]
    password = text_escape(password_hash)
    with out.phase("users", n):
        for number, lo, hi in chunks(n, 1, out.chunk_rows // 4):
            rng = rng_for(plan.seed, PH_USER, number + 1)
            m = hi - lo
            seen = rng.integers(0, 30 * DAY_US, m)
            last_login = ts_text(plan.end_us - seen)
            joined = ts_text(plan.joined[lo:hi])
            bio_pick = rng.integers(0, 1 << 30, m).tolist()
            has_bio = (rng.random(m) < 0.6).tolist()
            lines = []
            for i in range(m):
                u = lo + i
                comm = int(plan.community[u])
                bio = ""
                if has_bio[i]:
                    pool = (plan.text_ko if plan.korean[u] else plan.text_en)[comm]
                    bio = text_escape(pool[bio_pick[i] % len(pool)][:150])
                login = "\\N" if plan.tier[u] == 0 else last_login[i]
                lines.append(
                    f"{u + 1}\t{password}\t{login}\tf\t\t\t{plan.usernames[u]}@example.com\tf\tt\t"
                    f"{joined[i]}\t{plan.usernames[u]}\t{text_escape(plan.names[u])}\t{bio}\t\t"
                    f"{'t' if plan.private[u] else 'f'}\t{plan.in_deg[u]}\t{plan.out_deg[u]}\t"
                    f"{post_count[u]}\n"
                )
            out.text("accounts_user", names, lines)


def chat_load(plan: Plan, out: Loader) -> None:
    """Rooms (1:1 and small groups), memberships with read state, and message histories."""
    preset, n = plan.preset, plan.n_users
    rng = rng_for(plan.seed, PH_CHAT)
    users = plan.users_by_comm()
    chatty = GroupSampler(np.zeros(n, np.int64), plan.like_w, 1)
    want = preset.rooms
    n_groups = int(want * 0.15)
    # DMs: mostly within a community, deduplicated on the unordered pair like dm_key.
    a = chatty.any(rng, int((want - n_groups) * 1.3))
    b = np.where(
        rng.random(len(a)) < 0.7, users.within(rng, plan.community[a]), users.any(rng, len(a))
    )
    keep = a != b
    low, high = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    _, first = np.unique(low * n + high, return_index=True)
    first = np.sort(first)[: want - n_groups]
    dm_members = np.stack([low[first], high[first]], axis=1)
    swap = rng.random(len(dm_members)) < 0.5
    dm_members[swap] = dm_members[swap][:, ::-1]
    sizes = np.minimum(3 + rng.geometric(0.45, n_groups) - 1, 8)
    founders = chatty.any(rng, n_groups)
    group_members = [
        [int(f), *users.within(rng, np.full(int(s) * 2, plan.community[f])).tolist()]
        for f, s in zip(founders, sizes, strict=True)
    ]
    group_members = [
        list(dict.fromkeys(g))[: int(s)] for g, s in zip(group_members, sizes, strict=True)
    ]
    rooms: list[list[int]] = [list(map(int, pair)) for pair in dm_members]
    rooms += [g for g in group_members if len(g) >= 3]
    order = rng.permutation(len(rooms))
    rooms = [rooms[i] for i in order]
    r = len(rooms)
    created = np.sort(rhythm_ts(rng, r, plan.start_us - 90 * DAY_US, plan.end_us - DAY_US))
    weight = rng.lognormal(0, 1.2, r)
    per_room = 1 + rng.multinomial(max(0, preset.messages - r), weight / weight.sum())
    post_ts = plan.post_ts
    ids = {"msg": 1, "member": 1}
    room_names = ["id", "kind", "title", "dm_key", "created_at", "last_message_at"]
    room_names += ["created_by_id", "last_message_id"]
    member_names = ["id", "joined_at", "last_read_message_id", "user_id", "room_id"]
    msg_names = ["id", "kind", "text", "client_id", "created_at", "post_id", "sender_id", "room_id"]
    chat = [[text_escape(t) for t in CHAT_EN], [text_escape(t) for t in CHAT_KO]]
    titles = [GROUP_TITLES_EN, GROUP_TITLES_KO]
    with out.phase("chat", int(per_room.sum())):
        for number, lo, hi in chunks(r, preset.messages / r, out.chunk_rows // 4):
            crng = rng_for(plan.seed, PH_CHAT, number + 1)
            counts = per_room[lo:hi]
            total = int(counts.sum())
            room_of = np.repeat(np.arange(lo, hi), counts)
            span = plan.end_us - created[room_of]
            ts = created[room_of] + 1 + (crng.random(total) * (span - 1)).astype(np.int64)
            ts = ts[np.lexsort((ts, room_of))]
            member_pick = crng.integers(0, 1 << 30, total).tolist()
            is_share = crng.random(total) < 0.08
            visible = np.searchsorted(post_ts, ts)
            shared = (crng.random(total) * visible).astype(np.int64)
            is_share &= visible > 0
            phrase = crng.integers(0, 10, total).tolist()
            uuid_bytes = crng.bytes(16 * total)
            stamps = ts_text(ts)
            share_l, shared_l, room_l = is_share.tolist(), shared.tolist(), room_of.tolist()
            msg_lines, room_lines, member_lines = [], [], []
            last_id: dict[int, tuple[int, int]] = {}
            first_id: dict[int, int] = {}
            for i in range(total):
                room = room_l[i]
                members = rooms[room]
                sender = members[member_pick[i] % len(members)]
                raw = bytearray(uuid_bytes[16 * i : 16 * i + 16])
                raw[6] = (raw[6] & 0x0F) | 0x40
                raw[8] = (raw[8] & 0x3F) | 0x80
                h = raw.hex()
                client = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
                mid = ids["msg"]
                ids["msg"] += 1
                lang = 1 if plan.korean[sender] else 0
                if share_l[i]:
                    kind, text, post = "post", "", str(shared_l[i] + 1)
                else:
                    kind, text, post = "text", chat[lang][phrase[i]], "\\N"
                msg_lines.append(
                    f"{mid}\t{kind}\t{text}\t{client}\t{stamps[i]}\t{post}\t{sender + 1}\t"
                    f"{room + 1}\n"
                )
                first_id.setdefault(room, mid)
                last_id[room] = (mid, i)
            room_created = ts_text(created[lo:hi])
            for room in range(lo, hi):
                members = rooms[room]
                mid, at = last_id[room]
                kind = "dm" if len(members) == 2 else "group"
                if kind == "dm":
                    pair = sorted(members)
                    dm_key, title = f"{pair[0] + 1}:{pair[1] + 1}", ""
                else:
                    lang = 1 if plan.korean[members[0]] else 0
                    dm_key = "\\N"
                    title = titles[lang][members[1] % len(titles[lang])]
                room_lines.append(
                    f"{room + 1}\t{kind}\t{text_escape(title)}\t{dm_key}\t{room_created[room - lo]}"
                    f"\t{stamps[at]}\t{members[0] + 1}\t{mid}\n"
                )
                span_ids = mid - first_id[room] + 1
                for j, member in enumerate(members):
                    # Most members have read everything; some are behind by a few messages.
                    behind = (member + room + j) % 5 == 0
                    read = mid - ((member + room) % span_ids) if behind else mid
                    member_lines.append(
                        f"{ids['member']}\t{room_created[room - lo]}\t{read}\t{member + 1}\t"
                        f"{room + 1}\n"
                    )
                    ids["member"] += 1
            out.text("chat_room", room_names, room_lines, bar=False)
            out.text("chat_membership", member_names, member_lines, bar=False)
            out.text("chat_message", msg_names, msg_lines)


def searches_load(plan: Plan, out: Loader) -> None:
    n, total = plan.n_users, plan.preset.searches
    rng = rng_for(plan.seed, PH_SEARCH)
    per_user = rng.multinomial(total, plan.like_w / plan.like_w.sum())
    user = np.repeat(np.arange(n), per_user)
    users = plan.users_by_comm()
    tag_rank = np.zeros(len(plan.tag_names))
    for k in range(-1, K):
        members = np.flatnonzero(plan.tag_comm == k)
        tag_rank[members] = np.arange(len(members))
    tags = GroupSampler(plan.tag_comm + 1, 1.0 / (tag_rank + 1.0) ** 1.1, K + 1)
    places = GroupSampler(plan.place_comm, np.ones(len(plan.place_comm)), K)
    comm = plan.community[user]
    what = rng.choice(4, size=len(user), p=[0.45, 0.3, 0.15, 0.1])
    tag_pick = tags.within(rng, comm + 1).tolist()
    user_pick = users.within(rng, comm).tolist()
    place_pick = places.within(rng, comm).tolist()
    click = (rng.random(len(user)) < 0.3).tolist()
    cut = rng.integers(2, 7, len(user)).tolist()
    ts = np.sort(rhythm_ts(rng, len(user), plan.end_us - 60 * DAY_US, plan.end_us))
    stamps = ts_text(ts)
    user_l, what_l = user.tolist(), what.tolist()
    lines = []
    for i in range(len(user)):
        kind, target_type, target = "query", "", "\\N"
        if what_l[i] == 0:
            query, target_type, target_id = plan.tag_names[tag_pick[i]], "hashtag", tag_pick[i]
        elif what_l[i] == 1:
            query, target_type, target_id = plan.usernames[user_pick[i]], "user", user_pick[i]
        elif what_l[i] == 2:
            query = plan.place_names[place_pick[i]].lower()
            target_type, target_id = "place", place_pick[i]
        else:
            query, target_type, target_id = plan.tag_names[tag_pick[i]], "post", -1
        if click[i] and target_id >= 0:
            kind, target = "click", str(target_id + 1)
        else:
            target_type = ""
            query = query[: max(cut[i], len(query) // 2)]
        lines.append(
            f"{i + 1}\t{text_escape(query[:100])}\t{kind}\t{target_type}\t{target}\t{stamps[i]}\t"
            f"{user_l[i] + 1}\n"
        )
    names = ["id", "query", "kind", "target_type", "target_id", "created_at", "user_id"]
    with out.phase("search", len(lines)):
        out.text("search_searchquery", names, lines)
