"""Offline evaluation: leave-last-k-out split, ranking metrics, baselines, blend and tuning."""

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
HOLD_OUT = 5
MIN_TRAIN = 5
CHUNK = 500
BLEND_WEIGHTS = (0.9, 0.75, 0.5)
POPULAR_DECAY_US = 3 * 24 * 3600 * 1_000_000
METRICS = ("precision@10", "recall@10", "ndcg@10", "coverage", "community@10")


@dataclass
class Split:
    """Train events as a matrix over every user and post; held-out columns per test row."""

    train: data.Matrix
    train_events: data.Interactions
    test_rows: Array  # rows of the users that have held-out posts
    test: sp.csr_matrix  # user x post, 1 = held out


def split_leave_last_k(
    events: data.Interactions,
    *,
    k: int = HOLD_OUT,
    min_train: int = MIN_TRAIN,
    weights: dict[str, float] | None = None,
) -> Split:
    """Per user with at least ``k + min_train`` distinct posts, hold out the ``k`` posts they
    touched last (by their latest event on each); every event on those pairs leaves train."""
    full = data.matrix_build(events)
    n_posts = len(full.post_ids)
    rows, cols = full.user_rows(events.user), full.post_columns(events.post)
    pair = rows * n_posts + cols
    # The latest event per (user, post): sort by pair then time, keep each pair's last.
    order = np.lexsort((events.ts, pair))
    last = np.r_[pair[order][1:] != pair[order][:-1], True]
    pairs, stamps = pair[order][last], events.ts[order][last]
    pair_rows = pairs // n_posts
    # Newest first within each user, then the position of each pair in its user's history.
    by_user = np.lexsort((-stamps, pair_rows))
    pairs, pair_rows = pairs[by_user], pair_rows[by_user]
    counts = np.bincount(pair_rows, minlength=len(full.user_ids))
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    position = np.arange(len(pairs)) - starts[pair_rows]
    held = (position < k) & (counts[pair_rows] >= k + min_train)
    test_pairs = pairs[held]
    train_events = events.subset(~np.isin(pair, test_pairs))
    train = data.matrix_build(
        train_events,
        weights=weights or data.WEIGHTS,
        user_ids=full.user_ids,
        post_ids=full.post_ids,
    )
    ones = np.ones(len(test_pairs), dtype=np.float32)
    test = sp.csr_matrix(
        (ones, (test_pairs // n_posts, test_pairs % n_posts)), shape=full.items.shape
    )
    return Split(
        train=train,
        train_events=train_events,
        test_rows=np.flatnonzero(np.diff(test.indptr) > 0),
        test=test,
    )


def top_k(scores: Array, seen: sp.csr_matrix, k: int = K) -> Array:
    """The ``k`` best columns per row of ``scores``, never a column ``seen`` holds."""
    scores = scores.astype(np.float32, copy=True)
    seen = seen.tocoo()
    scores[seen.row, seen.col] = -np.inf
    best = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
    ordered = np.take_along_axis(scores, best, axis=1)
    return np.take_along_axis(best, np.argsort(-ordered, axis=1, kind="stable"), axis=1)


def ranking_metrics(recommended: Array, relevant: list[Array], n_items: int) -> dict[str, float]:
    """precision@k, recall@k, nDCG@k (binary relevance) averaged over users, and catalogue
    coverage (distinct recommended items / all items)."""
    k = recommended.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precision = recall = ndcg = 0.0
    for row, truth in zip(recommended, relevant, strict=True):
        hits = np.isin(row, truth)
        found = float(hits.sum())
        precision += found / k
        recall += found / len(truth)
        ideal = discounts[: min(len(truth), k)].sum()
        ndcg += float((hits * discounts).sum() / ideal)
    users = max(len(relevant), 1)
    return {
        "precision@10": precision / users,
        "recall@10": recall / users,
        "ndcg@10": ndcg / users,
        "coverage": len(np.unique(recommended)) / max(n_items, 1),
    }


def popularity(split: Split) -> Array:
    """Per post: train weight decayed by age from the newest train event, as `popular`
    serves it (engagement, recent counts more)."""
    events = split.train_events
    age = events.ts.max(initial=0) - events.ts
    weight = events.weights() * np.exp(-age / POPULAR_DECAY_US)
    cols = split.train.post_columns(events.post)
    return np.bincount(cols, weights=weight, minlength=len(split.train.post_ids))


Scorer = Callable[[Array], Array]


def _scorers(split: Split, model: Any, params: Params, seed: int) -> dict[str, Scorer]:
    n_posts = len(split.train.post_ids)
    pop = popularity(split)
    pop_norm = (pop / pop.max()).astype(np.float32) if pop.max() > 0 else pop
    items = np.asarray(model.item_factors)
    users = np.asarray(model.user_factors)
    rng = np.random.default_rng(seed)
    # As served (app/recs/rank.py): recent posts only, ALS affinity x decay. "Now" is the
    # newest train event, so nothing after the split leaks into the weights.
    post_ids, _, created = data.post_catalogue()
    post_ts = created[np.searchsorted(post_ids, split.train.post_ids)]
    anchor = int(split.train_events.ts.max(initial=0))
    recency = rank.Recency.of(post_ts, anchor=anchor, tau_days=params.recency_days)
    inside = np.zeros(n_posts, dtype=bool)
    inside[recency.columns] = True
    weights = np.zeros(n_posts, dtype=np.float32)
    weights[recency.columns] = recency.weights

    def plain(rows: Array) -> Array:
        return np.asarray(users[rows] @ items.T)

    def als(rows: Array) -> Array:
        scores = plain(rows)
        # -inf outside the window; inside, a negative affinity stays below every positive one.
        return np.where(inside, scores * weights, -np.inf)

    def blended(weight: float) -> Scorer:
        def score(rows: Array) -> Array:
            raw = np.maximum(als(rows), 0)
            top = np.maximum(raw.max(axis=1, keepdims=True), 1e-9)
            return weight * raw / top + (1 - weight) * pop_norm

        return score

    scorers: dict[str, Scorer] = {
        "random": lambda rows: rng.random((len(rows), n_posts), dtype=np.float32),
        "popular": lambda rows: np.broadcast_to(pop_norm, (len(rows), n_posts)),
        "als": als,
        "als (no recency)": plain,
    }
    for weight in BLEND_WEIGHTS:
        scorers[f"blend({weight})"] = blended(weight)
    return scorers


def communities(split: Split, manifest: dict[str, Any] | None) -> tuple[Array, Array] | None:
    """(community per matrix row, community per matrix column by its author), from the seed
    manifest's planted communities; None without a manifest."""
    if not manifest or "communities" not in manifest:
        return None
    planted = np.asarray(manifest["communities"]["user_community"], dtype=np.int64)

    def of_users(user_ids: Array) -> Array:
        index = user_ids - 1  # the manifest lists the user with id i + 1 at index i
        inside = (index >= 0) & (index < len(planted))
        return np.where(inside, planted[np.clip(index, 0, len(planted) - 1)], -1)

    post_ids, author_ids, _ = data.post_catalogue()
    by_post = dict(zip(post_ids.tolist(), of_users(author_ids).tolist(), strict=True))
    columns = np.array([by_post.get(p, -2) for p in split.train.post_ids.tolist()])
    return of_users(split.train.user_ids), columns


def evaluate(
    split: Split,
    params: Params,
    *,
    max_users: int = 5000,
    seed: int = 42,
    manifest: dict[str, Any] | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Fit on the train split and score every strategy on the same test users."""
    bm25 = data.Bm25.fit(split.train.items) if params.scaling == "bm25" else None
    confidences = data.confidence(split.train.items, scaling=params.scaling, bm25=bm25)
    model = model_fit(confidences, params)
    rng = np.random.default_rng(seed)
    rows = split.test_rows
    if len(rows) > max_users:
        rows = np.sort(rng.choice(rows, size=max_users, replace=False))
    relevant = [split.test.indices[split.test.indptr[r] : split.test.indptr[r + 1]] for r in rows]
    planted = communities(split, manifest)
    results: dict[str, dict[str, float]] = {}
    for name, scorer in _scorers(split, model, params, seed).items():
        if only is not None and name not in only:
            continue
        picks = (
            np.vstack(
                [
                    top_k(scorer(rows[i : i + CHUNK]), split.train.items[rows[i : i + CHUNK]])
                    for i in range(0, len(rows), CHUNK)
                ]
            )
            if len(rows)
            else np.empty((0, K), dtype=np.int64)
        )
        metrics = ranking_metrics(picks, relevant, len(split.train.post_ids))
        if planted is not None:
            user_comm, post_comm = planted
            metrics["community@10"] = float((post_comm[picks] == user_comm[rows, None]).mean())
        results[name] = metrics
    blends = {name: m for name, m in results.items() if name.startswith("blend")}
    if blends:
        best = max(blends, key=lambda name: blends[name]["ndcg@10"])
        for name in blends:
            if name != best:
                results.pop(name)
        results["best blend " + best.removeprefix("blend")] = results.pop(best)
    return results


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
    split: Split, base: Params, *, max_users: int = 2000, echo: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """ALS alone over the grid, best nDCG@10 first."""
    rows = []
    for params in grid(base):
        started = time.perf_counter()
        metrics = evaluate(split, params, max_users=max_users, only=("als",))["als"]
        row = {**asdict(params), **metrics, "seconds": round(time.perf_counter() - started, 2)}
        row.pop("weights", None)
        rows.append(row)
        echo(
            f"  factors={params.factors:<4} reg={params.regularization:<5} "
            f"iters={params.iterations:<3} {params.scaling:<4} alpha={params.alpha:<5} "
            f"p@10={metrics['precision@10']:.4f} ndcg@10={metrics['ndcg@10']:.4f} "
            f"({row['seconds']:.1f} s)"
        )
    return sorted(rows, key=lambda row: -row["ndcg@10"])


def table(results: dict[str, dict[str, float]]) -> str:
    columns = [m for m in METRICS if any(m in r for r in results.values())]
    width = max(len(name) for name in results) + 2
    lines = [f"{'strategy':<{width}}" + "".join(f"{c:>14}" for c in columns)]
    for name, metrics in results.items():
        cells = "".join(f"{metrics.get(c, float('nan')):>14.4f}" for c in columns)
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def served_community(manifest: dict[str, Any] | None, *, k: int = K) -> tuple[float, int] | None:
    """Share of the live precomputed top-``k`` lists (what explore serves first) by authors of
    the user's planted community, and the number of users measured."""
    from app.recs import serving

    version = serving.live_get()
    if version is None or not manifest or "communities" not in manifest:
        return None
    planted = np.asarray(manifest["communities"]["user_community"], dtype=np.int64)
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
