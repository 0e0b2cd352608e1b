"""The seed's random streams and draws: one stream per phase, timestamps, weighted samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

US = 1_000_000
DAY_US = 86_400 * US
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

# Phase numbers feed the random streams: fixed, so adding a phase never shifts another's data.
PH_PLAN, PH_FOLLOW, PH_LIKE, PH_COMMENT, PH_SAVE, PH_POST, PH_TAG, PH_PLACE = range(1, 9)
PH_USER, PH_CHAT, PH_SEARCH, PH_TEXT, PH_RECENT = range(9, 14)


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
