"""Offline evaluation: a train / validation / test split by time, ranking metrics with
bootstrap intervals, baselines, blend and tuning on validation only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from itertools import product
from typing import Any

import numpy as np
import scipy.sparse as sp

from app.recs import data, rank
from app.recs.train import Params, model_fit

Array = np.ndarray[Any, Any]
K = 10
MIN_TRAIN = 5
# Each held-out window holds this share of all events: validation, then test, at the end.
WINDOW_SHARE = 0.1
CHUNK = 500
BLEND_WEIGHTS = (0.9, 0.75, 0.5)
# Recency time constants (days) scored for every fitted model when tuning; None: no recency.
TAUS: tuple[float | None, ...] = (1.0, 3.0, 7.0, None)
POPULAR_DECAY_US = 3 * 24 * 3600 * 1_000_000
DRAWS = 1000
PER_USER = ("precision@10", "recall@10", "ndcg@10")
METRICS = (*PER_USER, "coverage", "community@10")
WITH_INTERVAL = ("precision@10", "ndcg@10")


@dataclass(frozen=True)
class Catalogue:
    """Every item: sorted ids, and when each was created (None: the data does not say)."""

    ids: Array
    created: Array | None = None


@dataclass
class Split:
    """Train: every event before ``start``. Held out: the items each tested user first
    touched in [start, end) among those that existed at ``start``."""

    train: data.Matrix
    train_events: data.Interactions
    test_rows: Array  # rows of the users that have held-out items
    test: sp.csr_matrix  # user x item, 1 = held out
    candidates: Array  # bool per column: the item existed at ``start`` (recommendable)
    created: Array | None  # creation time per column, None when the data has none
    start: int
    end: int
    cold_pairs: int  # held-out (user, item) pairs dropped: the item did not exist at start


def windows(events: data.Interactions, share: float = WINDOW_SHARE) -> tuple[int, int, int]:
    """(validation start, test start, end): the last two windows of ``share`` of the events."""
    ts = np.sort(events.ts)
    if len(ts) == 0:
        raise ValueError("no events to split")
    n = len(ts)
    test_start = int(ts[min(int(n * (1 - share)), n - 1)])
    validation_start = int(ts[min(int(n * (1 - 2 * share)), n - 1)])
    return validation_start, test_start, int(ts[-1]) + 1


def split_by_time(
    events: data.Interactions,
    *,
    start: int,
    end: int,
    catalogue: Catalogue,
    min_train: int = MIN_TRAIN,
    weights: dict[str, float] | None = None,
) -> Split:
    """Train on every event before ``start``; test each user with at least ``min_train``
    distinct train items on the items they first touched in [start, end). An item created
    at or after ``start`` (without creation times: one nobody touched before ``start``)
    could not have been recommended then, so it is dropped from the held-out set and
    counted in ``cold_pairs``. Events at or after ``end`` play no part."""
    users = np.unique(events.user)
    n_items = len(catalogue.ids)
    rows = np.searchsorted(users, events.user)
    cols = np.minimum(np.searchsorted(catalogue.ids, events.post), max(n_items - 1, 0))
    if n_items == 0 or (catalogue.ids[cols] != events.post).any():
        raise ValueError("an event names an item missing from the catalogue")
    pair = rows * n_items + cols
    order = np.lexsort((events.ts, pair))
    first = np.r_[True, pair[order][1:] != pair[order][:-1]]
    pairs, first_ts = pair[order][first], events.ts[order][first]
    train_events = events.subset(events.ts < start)
    train = data.matrix_build(
        train_events, weights=weights or data.WEIGHTS, user_ids=users, post_ids=catalogue.ids
    )
    if catalogue.created is not None:
        candidates = catalogue.created < start
    else:
        candidates = np.diff(train.items.tocsc().indptr) > 0
    window = (first_ts >= start) & (first_ts < end)
    known = candidates[pairs % n_items]
    train_size = np.diff(train.items.indptr)
    held = pairs[window & known]
    held = held[train_size[held // n_items] >= min_train]
    ones = np.ones(len(held), dtype=np.float32)
    test = sp.csr_matrix((ones, (held // n_items, held % n_items)), shape=train.items.shape)
    return Split(
        train=train,
        train_events=train_events,
        test_rows=np.flatnonzero(np.diff(test.indptr) > 0),
        test=test,
        candidates=candidates,
        created=catalogue.created,
        start=start,
        end=end,
        cold_pairs=int((window & ~known).sum()),
    )


def top_k(scores: Array, seen: sp.csr_matrix, k: int = K) -> Array:
    """The ``k`` best columns per row of ``scores``, never a column ``seen`` holds; as in
    serving (rank.rank_top), -1 pads a row with fewer than ``k`` finite scores, so neither a
    seen column nor one scored -inf (outside the window, not yet created) can fill it."""
    scores = scores.astype(np.float32, copy=True)
    seen = seen.tocoo()
    scores[seen.row, seen.col] = -np.inf
    k = min(k, scores.shape[1])
    best = np.argpartition(-scores, kth=k - 1, axis=1)[:, :k]
    ordered = np.take_along_axis(scores, best, axis=1)
    order = np.argsort(-ordered, axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(ordered, order, axis=1)), best, -1)


def per_user_metrics(recommended: Array, relevant: list[Array]) -> dict[str, Array]:
    """precision@k, recall@k and nDCG@k (binary relevance) of each user's list; -1 pads
    count as misses."""
    k = recommended.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    out = {name: np.zeros(len(relevant)) for name in PER_USER}
    for i, (row, truth) in enumerate(zip(recommended, relevant, strict=True)):
        hits = np.isin(row, truth) & (row >= 0)
        found = float(hits.sum())
        out["precision@10"][i] = found / k
        out["recall@10"][i] = found / len(truth)
        ideal = discounts[: min(len(truth), k)].sum()
        out["ndcg@10"][i] = float((hits * discounts).sum() / ideal)
    return out


def ranking_metrics(recommended: Array, relevant: list[Array], n_items: int) -> dict[str, float]:
    """The per-user metrics averaged over users, and catalogue coverage (distinct
    recommended items / all items)."""
    per_user = per_user_metrics(recommended, relevant)
    shown = np.unique(recommended)
    return {
        **{name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()},
        "coverage": int((shown >= 0).sum()) / max(n_items, 1),
    }


@dataclass
class Outcome:
    """One strategy on one split: per-user metrics (for intervals) and the averages."""

    per_user: dict[str, Array]
    metrics: dict[str, float]


def bootstrap(
    outcomes: dict[str, Outcome], *, draws: int = DRAWS, seed: int = 42
) -> dict[str, dict[str, tuple[float, float]]]:
    """95 % percentile intervals of the mean of precision@10 and nDCG@10, resampling users
    with replacement; every strategy is resampled with the same draws (the same users), so
    the ratio of two strategies can take its interval from them too (``ratio_interval``)."""
    n = len(next(iter(outcomes.values())).per_user["precision@10"]) if outcomes else 0
    if n == 0:
        return {}
    picks = np.random.default_rng(seed).integers(0, n, size=(draws, n))
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for name, outcome in outcomes.items():
        out[name] = {}
        for metric in WITH_INTERVAL:
            means = outcome.per_user[metric][picks].mean(axis=1)
            low, high = np.percentile(means, [2.5, 97.5])
            out[name][metric] = (float(low), float(high))
    return out


def ratio_interval(
    top: Outcome, bottom: Outcome, metric: str, *, draws: int = DRAWS, seed: int = 42
) -> tuple[float | None, float | None, float | None]:
    """(ratio of means, 95 % low, high) of ``top`` over ``bottom``, users resampled in pairs;
    None where the bound is unbounded (draws in which ``bottom`` scored nothing)."""
    a, b = top.per_user[metric], bottom.per_user[metric]
    picks = np.random.default_rng(seed).integers(0, len(a), size=(draws, len(a)))
    above, below = a[picks].mean(axis=1), b[picks].mean(axis=1)
    ratios = np.divide(above, below, out=np.full(draws, np.inf), where=below > 0)
    low, high = np.percentile(ratios, [2.5, 97.5], method="nearest")

    def finite(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return finite(a.mean() / b.mean() if b.mean() > 0 else np.inf), finite(low), finite(high)


def popularity(split: Split) -> Array:
    """Per item: train weight decayed by age from the split's start, as `popular` serves it
    (engagement, recent counts more)."""
    events = split.train_events
    age = split.start - events.ts
    weight = events.weights() * np.exp(-age / POPULAR_DECAY_US)
    cols = split.train.post_columns(events.post)
    return np.bincount(cols, weights=weight, minlength=len(split.train.post_ids))


def normalised(values: Array) -> Array:
    top = values.max(initial=0)
    return (values / top if top > 0 else values).astype(np.float32)


Scorer = Callable[[Array], Array]


def tau_name(tau: float | None) -> str:
    return f"als (tau={'none' if tau is None else f'{tau:g}'})"


def _scorers(
    split: Split,
    model: Any,
    params: Params,
    *,
    seed: int,
    blends: Iterable[float],
    taus: Iterable[float | None] = (),
) -> dict[str, Scorer]:
    n_items = len(split.train.post_ids)
    decayed = normalised(popularity(split))
    # MostPop: how many train users touched each item, no decay.
    counts = normalised(np.diff(split.train.items.tocsc().indptr).astype(np.float64))
    items = np.asarray(model.item_factors)
    users = np.asarray(model.user_factors)
    rng = np.random.default_rng(seed)

    def plain(rows: Array) -> Array:
        return np.asarray(users[rows] @ items.T)

    def served(tau: float | None) -> Scorer:
        """As served (app/recs/rank.py): recent items only, affinity x decay, anchored at
        the split's start. Without creation times there is no window: plain ALS."""
        if split.created is None or tau is None:
            return plain
        recency = rank.Recency.of(split.created, anchor=split.start, tau_days=tau)
        inside = np.zeros(n_items, dtype=bool)
        inside[recency.columns] = True
        weights = np.zeros(n_items, dtype=np.float32)
        weights[recency.columns] = recency.weights

        def score(rows: Array) -> Array:
            # -inf outside the window; inside, a negative affinity stays below every positive.
            return np.where(inside, plain(rows) * weights, -np.inf)

        return score

    als = served(params.recency_days)

    def blended(weight: float) -> Scorer:
        def score(rows: Array) -> Array:
            raw = np.maximum(als(rows), 0)
            top = np.maximum(raw.max(axis=1, keepdims=True), 1e-9)
            return weight * raw / top + (1 - weight) * decayed

        return score

    scorers: dict[str, Scorer] = {
        "random": lambda rows: rng.random((len(rows), n_items), dtype=np.float32),
        "popular (train counts)": lambda rows: np.broadcast_to(counts, (len(rows), n_items)),
        "popular": lambda rows: np.broadcast_to(decayed, (len(rows), n_items)),
        "als": als,
    }
    if split.created is not None:
        scorers["als (no recency)"] = plain
    for weight in blends:
        scorers[f"blend({weight})"] = blended(weight)
    for tau in taus:
        scorers[tau_name(tau)] = served(tau)
    return scorers


def model_on(split: Split, params: Params) -> Any:
    """ALS fitted on the split's train matrix."""
    bm25 = data.Bm25.fit(split.train.items) if params.scaling == "bm25" else None
    return model_fit(data.confidence(split.train.items, scaling=params.scaling, bm25=bm25), params)


def evaluate(
    split: Split,
    params: Params,
    *,
    max_users: int = 5000,
    seed: int = 42,
    communities: tuple[Array, Array] | None = None,
    only: Iterable[str] | None = None,
    blends: Iterable[float] = BLEND_WEIGHTS,
    taus: Iterable[float | None] = (),
) -> dict[str, Outcome]:
    """Fit on the split's train events and score every strategy on the same held-out users
    (at most ``max_users``, sampled with ``seed``). Items that did not exist at the split's
    start are never recommended by any strategy."""
    model = model_on(split, params)
    rows = split.test_rows
    if len(rows) > max_users:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_users, replace=False))
    relevant = [split.test.indices[split.test.indptr[r] : split.test.indptr[r + 1]] for r in rows]
    absent = np.flatnonzero(~split.candidates)
    wanted = set(only) if only is not None else None
    results: dict[str, Outcome] = {}
    for name, scorer in _scorers(split, model, params, seed=seed, blends=blends, taus=taus).items():
        if wanted is not None and name not in wanted:
            continue
        picks = np.empty((0, K), dtype=np.int64)
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i : i + CHUNK]
            scores = np.array(scorer(chunk), dtype=np.float32)
            scores[:, absent] = -np.inf
            picks = np.vstack([picks, top_k(scores, split.train.items[chunk])])
        per_user = per_user_metrics(picks, relevant)
        metrics = ranking_metrics(picks, relevant, int(split.candidates.sum()))
        if communities is not None:
            user_comm, item_comm = communities
            shown = picks >= 0
            same = (item_comm[np.maximum(picks, 0)] == user_comm[rows, None]) & shown
            metrics["community@10"] = float(same.sum() / max(shown.sum(), 1))
        results[name] = Outcome(per_user=per_user, metrics=metrics)
    return results


def best_blend(results: dict[str, Outcome]) -> float | None:
    """The blend weight with the best nDCG@10 among ``results``' blends."""
    blends = {name: o for name, o in results.items() if name.startswith("blend(")}
    if not blends:
        return None
    best = max(blends, key=lambda name: blends[name].metrics["ndcg@10"])
    return float(best.removeprefix("blend(").removesuffix(")"))


def grid(base: Params) -> list[Params]:
    """The --tune grid: size, regularisation, iterations, and confidence scaling x alpha."""
    scalings = (("bm25", 1.0), ("bm25", 4.0), ("log", 4.0), ("log", 16.0))
    return [
        replace(
            base,
            factors=factors,
            regularization=regularization,
            iterations=iterations,
            scaling=scaling,
            alpha=alpha,
        )
        for (scaling, alpha), factors, regularization, iterations in product(
            scalings, (32, 64, 128), (0.01, 0.1), (10, 20)
        )
    ]


def tune(
    split: Split,
    base: Params,
    *,
    max_users: int = 2000,
    echo: Callable[[str], None] = print,
    params_grid: list[Params] | None = None,
) -> list[dict[str, Any]]:
    """ALS alone over the grid, each fit scored at every recency tau in ``TAUS`` (no refit:
    the decay only reweighs scores); best nDCG@10 first. Call it on the validation split."""
    taus = TAUS if split.created is not None and base.recency_days is not None else ()
    rows = []
    for params in params_grid or grid(base):
        started = time.perf_counter()
        names = [tau_name(tau) for tau in taus] or ["als"]
        scored = evaluate(split, params, max_users=max_users, only=names, blends=(), taus=taus)
        seconds = round(time.perf_counter() - started, 2)
        for tau, name in zip(taus or (params.recency_days,), names, strict=True):
            metrics = scored[name].metrics
            row = {**asdict(replace(params, recency_days=tau)), **metrics, "seconds": seconds}
            row.pop("weights", None)
            rows.append(row)
            echo(
                f"  factors={params.factors:<4} reg={params.regularization:<5} "
                f"iters={params.iterations:<3} {params.scaling:<4} alpha={params.alpha:<5} "
                f"tau={tau} p@10={metrics['precision@10']:.4f} "
                f"ndcg@10={metrics['ndcg@10']:.4f} ({seconds:.1f} s)"
            )
    return sorted(rows, key=lambda row: -row["ndcg@10"])


def params_of(row: dict[str, Any], base: Params) -> Params:
    """The Params of a ``tune`` row."""
    fields = ("factors", "regularization", "iterations", "scaling", "alpha", "recency_days")
    return replace(base, **{name: row[name] for name in fields})


def table(
    results: dict[str, dict[str, float]],
    intervals: dict[str, dict[str, tuple[float, float]]] | None = None,
) -> str:
    """A markdown table: one row per strategy, 95 % intervals under the means they bound."""
    columns = [m for m in METRICS if any(m in r for r in results.values())]
    lines = [
        "| strategy | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, metrics in results.items():
        cells = []
        for column in columns:
            cell = f"{metrics.get(column, float('nan')):.4f}"
            bounds = (intervals or {}).get(name, {}).get(column)
            if bounds is not None:
                cell += f" [{bounds[0]:.4f}, {bounds[1]:.4f}]"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def served_community(planted: Array | None, *, k: int = K) -> tuple[float, int] | None:
    """Share of the live precomputed top-``k`` lists (what explore serves first) by authors of
    the user's planted community, and the number of users measured."""
    from app.recs import serving

    version = serving.live_get()
    if version is None or planted is None:
        return None
    post_ids, author_ids, _ = data.post_catalogue()
    author_comm = planted[np.clip(author_ids - 1, 0, len(planted) - 1)]
    user_ids = np.arange(1, len(planted) + 1)
    conn = serving.connection()
    raws = conn.mget([serving.list_key(version, int(u)) for u in user_ids])
    same, total, users = 0, 0, 0
    for user_id, raw in zip(user_ids.tolist(), raws, strict=True):
        if not raw:
            continue
        top = np.array(serving.unpack(raw)[:k], dtype=np.int64)
        comm = author_comm[np.searchsorted(post_ids, top)]
        same += int((comm == planted[user_id - 1]).sum())
        total += len(top)
        users += 1
    return (same / total if total else 0.0), users
