"""The seed's post phases: posts with their captions' hashtags, mentions and images; then the
hashtag and place rows, whose counters the posts decided."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from faker import Faker

from seed.copy import text_escape, ts_text
from seed.loader import Loader
from seed.plan import K, Plan
from seed.sampling import DAY_US, PH_PLACE, PH_POST, US, Array, GroupSampler, chunks, rng_for
from seed.vocab import COMMUNITIES, EMOJI

NULL = "\\N"
POST_COLUMNS = ["id", "caption", "like_count", "comment_count", "created_at", "updated_at"]
POST_COLUMNS += ["author_id", "place_id"]
IMAGE_COLUMNS = ["id", "position", "original", "feed", "thumb", "width", "height", "post_id"]


@dataclass
class _PostSources:
    """What every chunk of posts draws its captions, tags, mentions and images from."""

    tags: GroupSampler
    users: GroupSampler
    pool_by_comm: list[list[int]]
    image_suffix: list[str]
    text_ko: list[list[str]]
    text_en: list[list[str]]
    emoji: list[str]
    # The next id of each child table, carried from chunk to chunk.
    ids: dict[str, int]


def _post_sources(plan: Plan) -> _PostSources:
    return _PostSources(
        tags=plan.tags_by_comm(),
        users=plan.users_by_comm(),
        pool_by_comm=[
            [i for i, img in enumerate(plan.pool) if img.community == k] for k in range(K)
        ],
        image_suffix=[
            f"\t{img.original}\t{img.feed}\t{img.thumb}\t{img.width}\t{img.height}\t"
            for img in plan.pool
        ],
        text_ko=[[text_escape(t) for t in pool] for pool in plan.text_ko],
        text_en=[[text_escape(t) for t in pool] for pool in plan.text_en],
        emoji=[text_escape(e) for e in EMOJI],
        ids={"tag": 1, "mention": 1, "image": 1},
    )


@dataclass
class _PostDraws:
    """One chunk's random choices, indexed by a post's place in the chunk."""

    korean: list[bool]
    sentence: list[list[int]]
    two: list[bool]
    mood: list[int]
    images: list[int]
    image_pick: list[int]
    # Post i's candidate tags are tags[tag_at[i]:tag_at[i + 1]]; mentions likewise.
    tags: list[int]
    tag_at: Array
    mentioned: list[int]
    men_at: Array


def _post_draws(
    plan: Plan, src: _PostSources, rng: np.random.Generator, lo: int, hi: int
) -> _PostDraws:
    m = hi - lo
    comm = plan.post_comm[lo:hi]
    author = plan.post_author[lo:hi]
    count = rng.choice([0, 1, 2, 3, 4, 5, 6, 9], size=m, p=[0.3, 0.15] + [0.1] * 5 + [0.05])
    slot_post = np.repeat(np.arange(m), count)
    group = np.where(rng.random(len(slot_post)) < 0.85, comm[slot_post] + 1, 0)
    drawn = src.tags.within(rng, group)
    mention_n = np.where(rng.random(m) < 0.12, rng.integers(1, 3, m), 0)
    mention_post = np.repeat(np.arange(m), mention_n)
    mentioned = src.users.within(rng, plan.community[author[mention_post]])
    images = rng.choice([1, 2, 3], size=m, p=[0.72, 0.13, 0.15])
    korean = (plan.korean[author] ^ (rng.random(m) < 0.2)).tolist()
    sentence = rng.integers(0, 1 << 30, size=(m, 2)).tolist()
    two = (rng.random(m) < 0.3).tolist()
    mood = rng.integers(0, len(src.emoji), m).tolist()
    image_pick = rng.integers(0, 1 << 30, size=3 * m).tolist()
    return _PostDraws(
        korean=korean,
        sentence=sentence,
        two=two,
        mood=mood,
        images=images.tolist(),
        image_pick=image_pick,
        tags=drawn.tolist(),
        tag_at=np.searchsorted(slot_post, np.arange(m + 1)),
        mentioned=mentioned.tolist(),
        men_at=np.searchsorted(mention_post, np.arange(m + 1)),
    )


def _caption(
    plan: Plan, src: _PostSources, d: _PostDraws, i: int, author: int, comm: int
) -> tuple[str, list[int], list[int]]:
    """Post i's caption (COPY-escaped), with the users it mentions and the tags it carries."""
    pool = (src.text_ko if d.korean[i] else src.text_en)[comm]
    body = pool[d.sentence[i][0] % len(pool)]
    if d.two[i]:
        body += " " + pool[d.sentence[i][1] % len(pool)]
    body += src.emoji[d.mood[i]]
    who = list(dict.fromkeys(d.mentioned[d.men_at[i] : d.men_at[i + 1]]))
    who = [u for u in who if u != author]
    if who:
        body += " " + " ".join(f"@{plan.usernames[u]}" for u in who)
    chosen = list(dict.fromkeys(d.tags[d.tag_at[i] : d.tag_at[i + 1]]))
    if chosen:
        body += "\\n\\n" + " ".join(f"#{plan.tag_names[t]}" for t in chosen)
    return body, who, chosen


@dataclass
class _PostRows:
    """One chunk's COPY lines for posts and images, and its hashtag and mention links."""

    posts: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    tag_post: list[int] = field(default_factory=list)
    tag_id: list[int] = field(default_factory=list)
    mention_post: list[int] = field(default_factory=list)
    mention_user: list[int] = field(default_factory=list)


def _post_rows(plan: Plan, src: _PostSources, d: _PostDraws, lo: int, hi: int) -> _PostRows:
    rows = _PostRows()
    stamps = ts_text(plan.post_ts[lo:hi])
    author_l, comm_l = plan.post_author[lo:hi].tolist(), plan.post_comm[lo:hi].tolist()
    place_l = plan.post_place[lo:hi].tolist()
    likes_l = plan.like_count[lo:hi].tolist()
    comments_l = plan.comment_count[lo:hi].tolist()
    for i in range(hi - lo):
        pid = lo + i + 1
        body, who, chosen = _caption(plan, src, d, i, author_l[i], comm_l[i])
        rows.mention_post += [pid] * len(who)
        rows.mention_user += [u + 1 for u in who]
        rows.tag_post += [pid] * len(chosen)
        rows.tag_id += chosen
        place = NULL if place_l[i] < 0 else str(place_l[i] + 1)
        rows.posts.append(
            f"{pid}\t{body}\t{likes_l[i]}\t{comments_l[i]}\t{stamps[i]}\t{stamps[i]}"
            f"\t{author_l[i] + 1}\t{place}\n"
        )
        options = src.pool_by_comm[comm_l[i]]
        for position in range(d.images[i]):
            img = options[d.image_pick[3 * i + position] % len(options)]
            rows.images.append(f"{src.ids['image']}\t{position}{src.image_suffix[img]}{pid}\n")
            src.ids["image"] += 1
    return rows


def _post_links_write(plan: Plan, out: Loader, src: _PostSources, rows: _PostRows) -> None:
    """The chunk's hashtag and mention rows; the hashtags' counters move with them."""
    ids = src.ids
    tag_post = np.array(rows.tag_post, dtype=np.int64)
    tag_ids = np.array(rows.tag_id, dtype=np.int64)
    tag_ts = plan.post_ts[tag_post - 1] if len(tag_post) else np.empty(0, np.int64)
    plan.tag_count += np.bincount(tag_ids, minlength=len(plan.tag_names))
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
    men_post = rows.mention_post
    out.binary(
        "posts_mention",
        [
            ("id", "int8", np.arange(ids["mention"], ids["mention"] + len(men_post))),
            ("user_id", "int8", np.array(rows.mention_user, dtype=np.int64)),
            ("post_id", "int8", np.array(men_post, dtype=np.int64)),
        ],
        bar=False,
    )
    ids["mention"] += len(men_post)


def posts_load(plan: Plan, out: Loader) -> None:
    """Posts with captions, and the hashtag, mention and image rows that captions imply."""
    n_tags = len(plan.tag_names)
    plan.tag_count = np.zeros(n_tags, np.int64)
    plan.tag_last = np.zeros(n_tags, np.int64)
    src = _post_sources(plan)
    with out.phase("posts", plan.n_posts):
        for number, lo, hi in chunks(plan.n_posts, 1, out.chunk_rows // 4):
            rng = rng_for(plan.seed, PH_POST, number + 1)
            rows = _post_rows(plan, src, _post_draws(plan, src, rng, lo, hi), lo, hi)
            out.text("posts_post", POST_COLUMNS, rows.posts)
            out.text("posts_postimage", IMAGE_COLUMNS, rows.images, bar=False)
            _post_links_write(plan, out, src, rows)


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
