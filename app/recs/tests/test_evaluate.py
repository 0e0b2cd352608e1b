"""Offline evaluation: the split, the metrics and the recs_evaluate command."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
import scipy.sparse as sp
from django.core.management import call_command

from app.recs import data, evaluate, rank


def events(rows: list[tuple[int, int, int, int]]) -> data.Interactions:
    user, post, kind, ts = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    return data.Interactions(user, post, kind.astype(np.int8), ts)


def test_metrics_match_a_hand_computed_example():
    recommended = np.array(
        [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]]
    )
    relevant = [np.array([1, 5, 99]), np.array([100])]
    metrics = evaluate.ranking_metrics(recommended, relevant, n_items=40)
    assert metrics["precision@10"] == pytest.approx((2 / 10 + 0) / 2)
    assert metrics["recall@10"] == pytest.approx((2 / 3 + 0) / 2)
    dcg = 1 / np.log2(2) + 1 / np.log2(6)
    ideal = 1 / np.log2(2) + 1 / np.log2(3) + 1 / np.log2(4)
    assert metrics["ndcg@10"] == pytest.approx(dcg / ideal / 2)
    assert metrics["coverage"] == pytest.approx(20 / 40)


def test_the_split_holds_out_each_users_latest_posts():
    rows = [(1, post, data.LIKE, post * 10) for post in range(1, 9)]  # user 1: 8 posts
    rows += [(1, 8, data.COMMENT, 5)]  # an older comment on a held-out post leaves too
    rows += [(2, post, data.LIKE, post) for post in range(1, 4)]  # user 2: too few to test
    split = evaluate.split_leave_last_k(events(rows), k=2, min_train=3)
    assert split.train.user_ids.tolist() == [1, 2]
    held = split.train.post_ids[split.test[0].indices].tolist()
    assert sorted(held) == [7, 8]
    assert split.test[1].nnz == 0
    assert split.test_rows.tolist() == [0]
    train_posts = split.train.post_ids[split.train.items[0].indices].tolist()
    assert sorted(train_posts) == [1, 2, 3, 4, 5, 6]
    assert len(split.train_events) == 6 + 3


def test_top_k_never_returns_a_seen_column():
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    seen = sp.csr_matrix(np.array([[1, 0, 1, 0, 0]], dtype=np.float32))
    assert evaluate.top_k(scores, seen, k=2).tolist() == [[1, 3]]


def test_ranking_weights_recent_posts_and_skips_old_ones():
    day = rank.DAY_US
    post_ts = np.array([10 * day, 9 * day, -40 * day])  # the last is outside the window
    recency = rank.Recency.of(post_ts, anchor=10 * day, tau_days=3, window_days=30)
    items = np.array([[1.0], [1.2], [5.0]], dtype=np.float32)
    exclude = sp.csr_matrix((1, 3), dtype=np.float32)
    # 1.2 x e^(-1/3) = 0.86 < 1.0: a day older costs post 1 its lead.
    assert rank.rank_top(np.array([1.0]), items, recency, exclude=exclude, n=3).tolist() == [
        [0, 1, -1]
    ]


def test_bm25_weights_a_single_row_like_the_matrix():
    items = sp.csr_matrix(np.array([[1, 0, 3], [2, 1, 0], [0, 0, 1]], dtype=np.float32))
    bm25 = data.Bm25.fit(items)
    whole = bm25.apply(items).toarray()
    assert np.allclose(bm25.apply(items[1]).toarray()[0], whole[1], atol=1e-6)
    assert (whole >= 0).all()


def test_the_command_prints_json_per_strategy(world):
    out = StringIO()
    small = ["--factors", "8", "--iterations", "5", "--scaling", "bm25", "--alpha", "1"]
    call_command("recs_evaluate", "--json", "--hold-out", "1", *small, stdout=out)
    results = json.loads(out.getvalue())
    assert {"random", "popular", "als", "als (no recency)"} <= set(results)
    assert any(name.startswith("best blend") for name in results)
    for metrics in results.values():
        assert {"precision@10", "recall@10", "ndcg@10", "coverage"} <= set(metrics)
    # Two planted communities with disjoint likes: ALS finds the held-out posts.
    assert results["als"]["recall@10"] > results["random"]["recall@10"]
