"""Offline evaluation: the split, the metrics and the recs_evaluate command."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
import scipy.sparse as sp
from django.core.management import call_command
from django.utils import timezone

from app.posts.models import Like
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


def test_the_time_split_holds_out_first_touches_inside_the_window():
    day = rank.DAY_US
    rows = [(1, post, data.LIKE, post * day) for post in range(1, 6)]  # user 1: 5 in train
    rows += [(1, 6, data.LIKE, 11 * day)]  # first touched in the window: held out
    rows += [(1, 2, data.COMMENT, 12 * day)]  # touched again: already seen, not held out
    rows += [(1, 9, data.LIKE, 13 * day)]  # post 9 is created in the window: cold, dropped
    rows += [(1, 7, data.LIKE, 30 * day)]  # after the window: plays no part
    rows += [(2, post, data.LIKE, post * day) for post in range(1, 4)]  # too few to test
    rows += [(2, 6, data.LIKE, 11 * day)]
    catalogue = evaluate.Catalogue(
        ids=np.arange(1, 10), created=np.array([0, 0, 0, 0, 0, 0, 0, 0, 12]) * day
    )
    split = evaluate.split_by_time(
        events(rows), start=10 * day, end=20 * day, catalogue=catalogue, min_train=5
    )
    assert split.train.user_ids.tolist() == [1, 2]
    assert split.test_rows.tolist() == [0]
    assert split.train.post_ids[split.test[0].indices].tolist() == [6]
    assert split.test[1].nnz == 0
    assert split.cold_pairs == 1
    assert split.candidates.tolist() == [True] * 8 + [False]
    assert len(split.train_events) == 5 + 3
    assert sorted(split.train.post_ids[split.train.items[0].indices].tolist()) == [1, 2, 3, 4, 5]


def test_the_windows_are_the_last_two_shares_of_the_events():
    rows = [(1, 1, data.LIKE, ts) for ts in range(100)]
    assert evaluate.windows(events(rows), 0.1) == (80, 90, 100)


def test_top_k_never_returns_a_seen_column():
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    seen = sp.csr_matrix(np.array([[1, 0, 1, 0, 0]], dtype=np.float32))
    assert evaluate.top_k(scores, seen, k=2).tolist() == [[1, 3]]


def test_top_k_pads_with_minus_one_when_fewer_than_k_scores_are_finite():
    # Two finite scores, one of them seen: the rest must be -1, as rank.rank_top serves it,
    # never the seen column nor a column scored -inf (outside the window, not yet created).
    scores = np.full((2, 8), -np.inf, dtype=np.float32)
    scores[0, [2, 5]] = [1.0, 3.0]
    scores[1, [0, 7]] = [2.0, 1.0]
    seen = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 0, 0, 0], [0] * 8], dtype=np.float32))
    assert evaluate.top_k(scores, seen, k=4).tolist() == [[5, -1, -1, -1], [0, 7, -1, -1]]
    # A padded list counts its -1s as misses, never as hits.
    metrics = evaluate.ranking_metrics(np.array([[5, -1, -1, -1]]), [np.array([5])], 8)
    assert metrics["precision@10"] == pytest.approx(1 / 4)
    assert metrics["coverage"] == pytest.approx(1 / 8)


def test_bootstrap_intervals_are_seeded_and_bound_the_mean():
    rng = np.random.default_rng(1)
    per_user = {m: rng.random(300) for m in evaluate.PER_USER}
    steady = {m: np.full(300, 0.1) for m in evaluate.PER_USER}
    outcomes = {
        "a": evaluate.Outcome(per_user=per_user, metrics={}),
        "b": evaluate.Outcome(per_user=steady, metrics={}),
    }
    first = evaluate.bootstrap(outcomes, draws=200, seed=3)
    assert first == evaluate.bootstrap(outcomes, draws=200, seed=3)
    low, high = first["a"]["precision@10"]
    assert low < per_user["precision@10"].mean() < high
    assert high - low < 0.1
    assert first["b"]["ndcg@10"] == pytest.approx((0.1, 0.1))
    ratio, below, above = evaluate.ratio_interval(outcomes["a"], outcomes["b"], "precision@10")
    assert ratio == pytest.approx(per_user["precision@10"].mean() / 0.1)
    assert ratio is not None and below is not None and above is not None
    assert below < ratio < above
    nothing = evaluate.Outcome(per_user={m: np.zeros(300) for m in evaluate.PER_USER}, metrics={})
    assert evaluate.ratio_interval(outcomes["a"], nothing, "ndcg@10") == (None, None, None)


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


def test_the_command_chooses_on_validation_and_reports_test_once(world, tmp_path):
    # Each member's likes an hour apart, members a minute apart: the last two windows hold
    # every member's latest likes, and earlier ones are their train history.
    start = timezone.now() + timedelta(hours=1)
    members = [m for community in world.members for m in community]
    for offset, member in enumerate(members):
        for hour, like in enumerate(Like.objects.filter(user=member).order_by("id")):
            at = start + timedelta(hours=hour, minutes=offset)
            Like.objects.filter(pk=like.pk).update(created_at=at)
    # The seeder's manifest, as the file it writes: the user with id i + 1 at index i.
    planted = [-1] * max(u.pk for c in world.members + world.authors for u in c)
    for community, people in enumerate(world.members):
        for user in people + world.authors[community]:
            planted[user.pk - 1] = community
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"communities": {"user_community": planted}}))
    out = StringIO()
    small = ["--factors", "8", "--iterations", "5", "--scaling", "bm25", "--alpha", "1"]
    small += ["--tau", "7"]
    window = ["--window-share", "0.2", "--min-train", "3", "--draws", "50"]
    call_command("recs_evaluate", "--json", "--manifest", manifest, *window, *small, stdout=out)
    report = json.loads(out.getvalue())
    assert report["chosen_on"].startswith("none: command-line flags")
    assert (report["params"]["factors"], report["params"]["recency_days"]) == (8, 7.0)
    protocol = report["protocol"]
    assert protocol["validation"]["to"] == protocol["test"]["from"]
    assert protocol["test"]["users"] == len(members)
    validation, test = report["validation"], report["test"]
    expected = {"random", "popular", "popular (train counts)", "als", "als (no recency)"}
    assert expected | {"blend(0.9)", "blend(0.75)", "blend(0.5)"} == set(validation)
    # The test split is scored with the one blend weight validation chose.
    assert expected | {f"blend({report['blend_weight']})"} == set(test)
    for metrics in test.values():
        assert {"precision@10", "recall@10", "ndcg@10", "coverage", "community@10"} <= set(metrics)
        low, high = metrics["ci95"]["precision@10"]
        assert low <= metrics["precision@10"] <= high
    # Two planted communities with disjoint likes: ALS keeps to the user's community.
    assert test["als"]["community@10"] > test["random"]["community@10"]
