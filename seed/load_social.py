"""The seed's social phases: the follow graph, then likes, saves and comments on posts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from seed.copy import text_escape, ts_text
from seed.loader import Loader
from seed.plan import CELEB_SHARE, K, Plan
from seed.sampling import (
    DAY_US,
    PH_COMMENT,
    PH_FOLLOW,
    PH_LIKE,
    PH_SAVE,
    Array,
    GroupSampler,
    after,
    capped_multinomial,
    chunks,
    rhythm_ts,
    rng_for,
    unique_pairs,
)
from seed.vocab import COMMENTS_EN, COMMENTS_KO, EMOJI


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
