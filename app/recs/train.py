"""Training: fit implicit ALS on the interaction matrix, version the artefact, publish top-N."""

from __future__ import annotations

import hashlib
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.conf import settings
from django.db import connection
from django.utils import timezone
from threadpoolctl import threadpool_limits

from app.recs import data, rank, serving
from app.recs.models import ModelVersion
from app.recs.strategies import TOP_N

Array = np.ndarray[Any, Any]
Echo = Callable[[str], None]

# Users scored per batched recommend call: bounds the score matrix (batch x posts floats).
BATCH = 500


@dataclass(frozen=True)
class Params:
    """Defaults: the best nDCG@10 of `recs_evaluate --tune` on `small` (recs.md). Twelve
    planted communities need few factors; log scaling beat BM25 at every size."""

    factors: int = 32
    regularization: float = 0.01
    iterations: int = 10
    scaling: str = "log"
    alpha: float = 4.0
    random_state: int = 42
    # None: plain ALS over every post (kept for the comparison in recs_evaluate).
    recency_days: float | None = rank.TAU_DAYS
    weights: dict[str, float] = field(default_factory=lambda: dict(data.WEIGHTS))


def recs_dir() -> Path:
    return Path(settings.VAR_DIR) / "recs"


def model_fit(confidences: sp.csr_matrix, params: Params, *, progress: bool = False) -> Any:
    """An ``AlternatingLeastSquares`` fitted on a user x post confidence matrix."""
    from implicit.cpu.als import AlternatingLeastSquares

    # implicit checks the BLAS thread count when the model is built, and fits inside it.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            iterations=params.iterations,
            alpha=params.alpha,
            random_state=params.random_state,
        )
        model.fit(confidences, show_progress=progress)
    return model


def data_fingerprint() -> str:
    """Cheap identity of the training data: row counts and newest ids of every signal table.
    A model trained on the same fingerprint is current (``recs_train --if-stale``)."""
    from app.chat.models import Message
    from app.posts.models import Comment, Like, Post, Save

    parts = []
    with connection.cursor() as cursor:
        for model in (Like, Comment, Save, Message, Post):
            cursor.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {model._meta.db_table}")
            parts.append(":".join(map(str, cursor.fetchone() or ())))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def own_posts(matrix: data.Matrix, post_ids: Array, author_ids: Array) -> sp.csr_matrix:
    """User x post indicator of authorship, over the matrix's rows and columns."""
    rows, cols = matrix.user_rows(author_ids), matrix.post_columns(post_ids)
    keep = (rows >= 0) & (cols >= 0)
    ones = np.ones(int(keep.sum()), dtype=np.float32)
    return sp.csr_matrix((ones, (rows[keep], cols[keep])), shape=matrix.items.shape)


def recency_for(matrix: data.Matrix, post_ids: Array, created: Array, params: Params) -> Any:
    """Recency weights over the matrix's columns, anchored at the newest post."""
    post_ts = created[np.searchsorted(post_ids, matrix.post_ids)]
    anchor = int(created.max(initial=0))
    return post_ts, anchor, rank.Recency.of(post_ts, anchor=anchor, tau_days=params.recency_days)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class TrainingData:
    """The interaction matrix and the confidences the model is fitted on."""

    events: int
    matrix: data.Matrix
    bm25: data.Bm25 | None
    confidences: sp.csr_matrix


def training_data_load(params: Params) -> TrainingData:
    """Every interaction, as a user x post matrix weighted by ``params`` and scaled to
    confidences (BM25 fitted here when that is the scaling)."""
    events = data.interactions_load()
    matrix = data.matrix_build(events, weights=params.weights)
    bm25 = data.Bm25.fit(matrix.items) if params.scaling == "bm25" else None
    confidences = data.confidence(matrix.items, scaling=params.scaling, bm25=bm25)
    return TrainingData(events=len(events), matrix=matrix, bm25=bm25, confidences=confidences)


def lists_precompute(
    *, version: int, path: Path, model: Any, loaded: TrainingData, params: Params
) -> int:
    """Save the artefact, then write every user's top-N to Redis under ``version``, never
    with what they already touched nor their own posts; the number of users written."""
    matrix = loaded.matrix
    post_ids, author_ids, created = data.post_catalogue()
    post_ts, anchor, recency = recency_for(matrix, post_ids, created, params)
    user_factors, item_factors = np.asarray(model.user_factors), np.asarray(model.item_factors)
    serving.artefact_save(
        path,
        user_factors=user_factors,
        item_factors=item_factors,
        user_ids=matrix.user_ids,
        post_ids=matrix.post_ids,
        post_ts=post_ts,
        anchor=anchor,
        params=asdict(params),
        bm25=loaded.bm25,
    )
    exclude = (matrix.items + own_posts(matrix, post_ids, author_ids)).tocsr()
    users = matrix.items.shape[0]
    written = 0
    for start in range(0, users, BATCH):
        rows = np.arange(start, min(start + BATCH, users))
        top = rank.rank_top(
            user_factors[rows], item_factors, recency, exclude=exclude[rows], n=TOP_N
        )
        written += serving.lists_write(
            version=version,
            user_ids=matrix.user_ids[rows],
            lists=[matrix.post_ids[row[row >= 0]] for row in top],
        )
    return written


def version_publish(version: ModelVersion, *, path: Path, stats: dict[str, Any]) -> None:
    """Mark the version READY with its artefact and figures, then make it the live model."""
    version.status = ModelVersion.Status.READY
    version.artefact_path = str(path)
    version.data_stats = stats
    version.finished_at = timezone.now()
    version.save()
    # Only now, with the row READY and every list written, does the server switch over.
    serving.live_set(version.pk)


def _train(version: ModelVersion, path: Path, params: Params, *, progress: bool, say: Echo) -> None:
    """recs_train's steps, each timed: load the data, fit, save and precompute, publish."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    fingerprint = data_fingerprint()
    tick = time.perf_counter()
    loaded = training_data_load(params)
    timings["load_s"] = time.perf_counter() - tick
    items = loaded.matrix.items
    users, posts = items.shape
    say(
        f"data: {loaded.events:,} events -> {users:,} users x {posts:,} posts, "
        f"{items.nnz:,} non-zeros ({timings['load_s']:.1f} s)"
    )
    if users == 0 or posts == 0:
        raise ValueError("no interactions to train on")

    tick = time.perf_counter()
    model = model_fit(loaded.confidences, params, progress=progress)
    timings["fit_s"] = time.perf_counter() - tick
    say(
        f"fit: {params.factors} factors x {params.iterations} iterations ({timings['fit_s']:.1f} s)"
    )

    tick = time.perf_counter()
    written = lists_precompute(
        version=version.pk, path=path, model=model, loaded=loaded, params=params
    )
    timings["precompute_s"] = time.perf_counter() - tick
    say(f"precompute: top-{TOP_N} for {written:,} users ({timings['precompute_s']:.1f} s)")

    stats = {
        "fingerprint": fingerprint,
        "events": loaded.events,
        "users": users,
        "posts": posts,
        "nnz": int(items.nnz),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "total_s": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(_peak_mib(), 1),
    }
    version_publish(version, path=path, stats=stats)
    say(
        f"ready: v{version.pk} in {stats['total_s']:.1f} s, "
        f"peak memory {stats['peak_rss_mib']:.0f} MiB"
    )


def recs_train(
    *, params: Params | None = None, progress: bool = False, echo: Echo | None = None
) -> ModelVersion:
    """Train, save the artefact, precompute every active user's top-N into Redis, then make
    it live. Any failure marks the version FAILED and leaves the live model as it was."""
    params = params or Params()
    say = echo or (lambda _: None)
    version = ModelVersion.objects.create(algorithm="als", params=asdict(params))
    path = recs_dir() / f"als-{version.pk}.npz"
    try:
        _train(version, path, params, progress=progress, say=say)
    except BaseException as exc:
        path.unlink(missing_ok=True)
        serving.lists_drop(version=version.pk)
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    return version


def recs_train_if_stale(*, echo: Echo | None = None, progress: bool = False) -> ModelVersion:
    """Train only when no READY model matches the current data, or Redis lost its lists."""
    say = echo or (lambda _: None)
    latest = serving.version_latest_ready()
    if (
        latest is not None
        and latest.data_stats.get("fingerprint") == data_fingerprint()
        and serving.live_get() == latest.pk
        and Path(latest.artefact_path).exists()
    ):
        say(f"model v{latest.pk} is current; nothing to train")
        return latest
    return recs_train(echo=echo, progress=progress)
