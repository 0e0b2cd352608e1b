"""The seed's plan: per-user and per-post attributes every phase shares, drawn once in memory."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from faker import Faker

from seed.images import PoolImage
from seed.presets import Preset
from seed.sampling import (
    DAY_US,
    PH_PLAN,
    PH_RECENT,
    PH_TEXT,
    US,
    Array,
    GroupSampler,
    recent_ts,
    rhythm_ts,
    rng_for,
)
from seed.vocab import (
    COMMUNITIES,
    GENERIC_TAGS,
    KO_GIVEN_ROMAN,
    KO_SURNAME_ROMAN,
    TAG_SUFFIX_EN,
    TAG_SUFFIX_KO,
)

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
TIERS = ("lurker", "casual", "active", "heavy")
# Zipf exponent of popularity and the share of follows aimed at celebrities: tuned so the top
# 1% of accounts hold over 30% of follows at small scale and above (the bar).
POP_EXP = 1.1
CELEB_SHARE = 0.22


def anchor_now() -> int:
    """The default anchor: now, to the whole second, in Unix microseconds."""
    return int(datetime.now(UTC).timestamp()) * US


def anchor_parse(text: str) -> int:
    """An ISO 8601 anchor (naive means UTC) in Unix microseconds."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * US)


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

    def tags_by_comm(self) -> GroupSampler:
        """Zipf within each community's vocabulary; generic tags form their own group."""
        tag_rank = np.zeros(len(self.tag_names))
        for k in range(-1, K):
            members = np.flatnonzero(self.tag_comm == k)
            tag_rank[members] = np.arange(len(members))
        return GroupSampler(self.tag_comm + 1, 1.0 / (tag_rank + 1.0) ** 1.1, K + 1)


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


@dataclass
class _Accounts:
    """The plan's per-user columns, before names; ``post_w`` weighs who writes the posts."""

    community: Array
    korean: Array
    tier: Array
    pop: Array
    celebs: Array
    private: Array
    like_w: Array
    joined: Array
    post_w: Array


def _accounts_draw(rng: np.random.Generator, n: int, start_us: int) -> _Accounts:
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
    return _Accounts(community, korean, tier, pop, celebs, private, like_w, joined, post_w)


@dataclass
class _Posts:
    """The plan's per-post columns (quality apart) and the places' communities."""

    author: Array
    ts: Array
    comm: Array
    place: Array
    place_comm: Array


def _posts_draw(
    rng: np.random.Generator, preset: Preset, seed: int, accounts: _Accounts, end_us: int
) -> _Posts:
    n, p = preset.users, preset.posts
    post_w = accounts.post_w
    author = rng.choice(n, size=p, p=post_w / post_w.sum()).astype(np.int64)
    post_ts = rhythm_ts(rng, p, end_us - SPAN_DAYS * DAY_US, end_us)
    # Its own stream, so the rest of the plan is the same draws as without it.
    recent_rng = rng_for(seed, PH_RECENT)
    recent = recent_rng.random(p) < RECENT_SHARE
    post_ts[recent] = recent_ts(recent_rng, int(recent.sum()), end_us, RECENT_MEAN_HOURS)
    post_ts = np.sort(post_ts)
    post_comm = np.where(rng.random(p) < 0.85, accounts.community[author], rng.integers(0, K, p))
    place_comm = np.arange(preset.places, dtype=np.int64) % K
    place_rank = np.arange(preset.places, dtype=np.int64) // K
    places = GroupSampler(place_comm, 1.0 / (place_rank + 1.0), K)
    post_place = np.where(rng.random(p) < 0.35, places.within(rng, post_comm), -1)
    return _Posts(
        author, post_ts, post_comm.astype(np.int64), post_place.astype(np.int64), place_comm
    )


def _names_draw(rng: np.random.Generator, seed: int, korean: Array) -> tuple[list[str], list[str]]:
    """(usernames, display names): romanised or English, each username ending in its user id."""
    n = len(korean)
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
    return usernames, names


def plan_build(preset: Preset, seed: int, pool: list[PoolImage], *, end_us: int) -> Plan:
    # One stream, drawn in this order: accounts, posts, the tag vocabulary, names, quality.
    rng = rng_for(seed, PH_PLAN)
    accounts = _accounts_draw(rng, preset.users, end_us - SPAN_DAYS * DAY_US)
    posts = _posts_draw(rng, preset, seed, accounts, end_us)
    tag_names, tag_comm = _tag_vocabulary(rng, preset.hashtags)
    usernames, names = _names_draw(rng, seed, accounts.korean)
    text_ko, text_en = _text_pools(seed)
    return Plan(
        preset=preset,
        seed=seed,
        end_us=end_us,
        community=accounts.community,
        korean=accounts.korean,
        tier=accounts.tier,
        pop=accounts.pop,
        celebs=accounts.celebs,
        private=accounts.private,
        like_w=accounts.like_w,
        joined=accounts.joined,
        usernames=usernames,
        names=names,
        post_author=posts.author,
        post_ts=posts.ts,
        post_comm=posts.comm,
        post_place=posts.place,
        post_quality=rng.lognormal(0, 0.8, preset.posts),
        tag_names=tag_names,
        tag_comm=tag_comm,
        place_comm=posts.place_comm,
        text_ko=text_ko,
        text_en=text_en,
        pool=pool,
    )
