"""Training cost at `medium` shape without seeding it: a synthetic community-structured matrix.

100k users x 1M posts x 20M interactions (the `medium` scale preset), posts spread over 180 days
like the seeder's, users liking mostly inside one of 12 communities. Times the ALS fit with
the production parameters and the top-200 precompute for every user, and reports peak RSS.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.recs.train_medium [--users N --posts N --nnz N]
"""

from __future__ import annotations

import os

import app.recs  # noqa: F401  (first: it limits OpenBLAS to one thread before numpy loads)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import django
import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    django.setup()
    from app.recs import data, rank
    from app.recs.train import BATCH, Params, model_fit

    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--nnz", type=int, default=20_000_000)
    parser.add_argument("--communities", type=int, default=12)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/recs-train-medium.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    started = time.perf_counter()
    user_comm = rng.integers(0, args.communities, args.users)
    post_comm = rng.integers(0, args.communities, args.posts)
    by_comm = [np.flatnonzero(post_comm == c) for c in range(args.communities)]
    users = rng.integers(0, args.users, args.nnz)
    inside = rng.random(args.nnz) < 0.85
    posts = rng.integers(0, args.posts, args.nnz)
    for c in range(args.communities):
        mask = inside & (user_comm[users] == c)
        posts[mask] = by_comm[c][rng.integers(0, len(by_comm[c]), int(mask.sum()))]
    ones = np.ones(args.nnz, dtype=np.float32)
    items = sp.csr_matrix((ones, (users, posts)), shape=(args.users, args.posts))
    items.sum_duplicates()
    del users, posts, ones, inside
    build_s = time.perf_counter() - started
    print(f"matrix: {items.shape[0]:,} x {items.shape[1]:,}, {items.nnz:,} nnz ({build_s:.1f} s)")

    params = Params()
    tick = time.perf_counter()
    bm25 = data.Bm25.fit(items) if params.scaling == "bm25" else None
    confidences = data.confidence(items, scaling=params.scaling, bm25=bm25)
    model = model_fit(confidences, params, progress=True)
    fit_s = time.perf_counter() - tick
    print(f"fit: {fit_s:.1f} s")

    day = rank.DAY_US
    post_ts = rng.integers(0, 180 * day, args.posts)
    recency = rank.Recency.of(post_ts, anchor=180 * day, tau_days=params.recency_days)
    user_factors, item_factors = np.asarray(model.user_factors), np.asarray(model.item_factors)
    tick = time.perf_counter()
    for start in range(0, args.users, BATCH):
        rows = np.arange(start, min(start + BATCH, args.users))
        rank.rank_top(user_factors[rows], item_factors, recency, exclude=items[rows], n=200)
    precompute_s = time.perf_counter() - tick
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"precompute top-200 for {args.users:,} users: {precompute_s:.1f} s; peak {peak:.0f} MiB")
    result = {
        "shape": {"users": args.users, "posts": args.posts, "nnz": int(items.nnz)},
        "params": {k: v for k, v in vars(params).items() if k != "weights"},
        "scored_posts": len(recency.columns),
        "fit_s": round(fit_s, 1),
        "precompute_s": round(precompute_s, 1),
        "peak_rss_mib": round(peak),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
