"""Serving state: per-user top-N lists in Redis, the live model, fold-in, cached `popular`.

Redis layout (every key under REDIS_KEY_PREFIX):
- ``recs:live``: the id of the live ModelVersion. Set only after its lists are all written.
- ``recs:v<version>:u<user>``: the user's ranked post ids, packed little-endian uint32.
  Written by training for every active user; by fold-in, with a short TTL, for the others.
- ``recs:popular``: the popular list (8-byte fresh-until timestamp, then packed ids), kept
  past its freshness so that readers serve it stale while one of them recomputes it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core import degrade, redisops, redisroles
from app.lab.cache import raw_key
from app.recs import data, rank
from app.recs.models import ModelVersion

Array = np.ndarray[Any, Any]
logger = logging.getLogger(__name__)

LIST_TTL = 14 * 24 * 3600
FOLD_IN_TTL = 3600
POPULAR_SIZE = 500
POPULAR_FRESH = 300
POPULAR_KEEP = 24 * 3600
LOCK_MS = 30_000
# Without a live pointer (Redis emptied), the latest READY row is looked up at most this often.
LATEST_RECHECK = 30.0


def connection() -> Any:
    return redisroles.connection("cache")


def _key(*parts: object) -> str:
    return raw_key("recs", *parts)


def live_key() -> str:
    return _key("live")


def list_key(version: int, user_id: int) -> str:
    return _key(f"v{version}", f"u{user_id}")


def popular_key() -> str:
    return _key("popular")


def pack(ids: Array | Sequence[int]) -> bytes:
    values = np.asarray(ids, dtype=np.int64)
    if len(values) and (values.min() < 0 or values.max() >= 2**32):
        raise ValueError("post ids must fit in uint32 to be packed")
    return values.astype("<u4").tobytes()


def unpack(raw: bytes) -> list[int]:
    return np.frombuffer(raw, dtype="<u4").astype(np.int64).tolist()


# --- lists and the live pointer -------------------------------------------------------------


def lists_write(
    *, version: int, user_ids: Sequence[int] | Array, lists: Sequence[Any], ttl: int = LIST_TTL
) -> int:
    """Store each user's ranked list under ``version``; returns how many were written."""
    conn = connection()
    with conn.pipeline(transaction=False) as pipe:
        for user_id, ids in zip(np.asarray(user_ids).tolist(), lists, strict=True):
            pipe.set(list_key(version, user_id), pack(ids), ex=ttl)
        pipe.execute()
    return len(lists)


def lists_drop(*, version: int) -> int:
    """Delete every list of ``version`` (a failed training, or a replaced model)."""
    return redisops.delete_matching(connection(), _key(f"v{version}", "u*"))


def live_get() -> int | None:
    raw = connection().get(live_key())
    return int(raw) if raw is not None else None


def live_set(version: int) -> None:
    """Switch serving to ``version`` and free the lists of the one it replaces."""
    previous = connection().getset(live_key(), version)
    if previous is not None and int(previous) != version:
        lists_drop(version=int(previous))


def user_list(*, version: int, user_id: int) -> list[int] | None:
    raw = connection().get(list_key(version, user_id))
    return None if raw is None else unpack(raw)


# The live version and the user's list under it, in one round trip: every home-feed page
# and explore page starts here. KEYS[1]: the live pointer; ARGV: the list key around the
# version (prefix, suffix).
_LIVE_LIST = """
local version = redis.call('GET', KEYS[1])
if not version then return {false, false} end
return {version, redis.call('GET', ARGV[1] .. version .. ARGV[2])}
"""
_live_list_scripts: dict[int, Any] = {}


def live_list(*, user_id: int) -> tuple[int | None, list[int] | None]:
    """(live version, the user's ranked list under it): either may be None."""
    conn = connection()
    script = _live_list_scripts.get(id(conn))
    if script is None:
        script = _live_list_scripts[id(conn)] = conn.register_script(_LIVE_LIST)
    prefix, suffix = list_key(0, user_id).split("v0", 1)
    version, raw = script(keys=[live_key()], args=[prefix + "v", suffix])
    if version is None:
        return None, None
    return int(version), None if raw is None else unpack(raw)


# --- artefacts and the loaded model ---------------------------------------------------------


def artefact_save(
    path: Path,
    *,
    user_factors: Array,
    item_factors: Array,
    user_ids: Array,
    post_ids: Array,
    post_ts: Array,
    anchor: int,
    params: dict[str, Any],
    bm25: data.Bm25 | None,
) -> None:
    """One .npz per version, written to a temporary name and renamed (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    extra: dict[str, Any] = {}
    if bm25 is not None:
        extra = {
            "bm25_idf": bm25.idf,
            "bm25_shape": np.array([bm25.average_length, bm25.k1, bm25.b]),
        }
    np.savez(
        tmp,
        user_factors=user_factors,
        item_factors=item_factors,
        user_ids=user_ids,
        post_ids=post_ids,
        post_ts=post_ts,
        anchor=np.array([anchor]),
        recency_days=np.array([params["recency_days"] or 0.0]),
        params=np.array([repr(sorted(params.items()))]),
        factors=np.array([params["factors"]]),
        regularization=np.array([params["regularization"]]),
        alpha=np.array([params["alpha"]]),
        scaling=np.array([params["scaling"]]),
        **extra,
    )
    tmp.replace(path)


@dataclass
class LoadedModel:
    version: int
    post_ids: Array
    scaling: str
    bm25: data.Bm25 | None
    recency: rank.Recency
    model: Any  # implicit AlternatingLeastSquares with item factors only

    def fold_in(self, events: Sequence[tuple[int, int]], *, n: int) -> list[int]:
        """Rank posts for a user the model never saw, from their recent (post, kind) events:
        solve their factors against the fixed item factors (``recalculate_user``)."""
        import scipy.sparse as sp

        if not events:
            return []
        posts = np.array([post for post, _ in events], dtype=np.int64)
        kinds = np.array([kind for _, kind in events], dtype=np.int8)
        one_user = data.Interactions(
            np.zeros(len(posts), dtype=np.int64), posts, kinds, np.zeros(len(posts), np.int64)
        )
        matrix = data.matrix_build(one_user, user_ids=np.zeros(1, np.int64), post_ids=self.post_ids)
        if matrix.items.nnz == 0:
            return []
        row = data.confidence(matrix.items, scaling=self.scaling, bm25=self.bm25)
        if row.nnz == 0:
            row = matrix.items
        vector = self.model.recalculate_user(0, sp.csr_matrix(row))
        top = rank.rank_top(
            np.asarray(vector),
            np.asarray(self.model.item_factors),
            self.recency,
            exclude=matrix.items,
            n=n,
        )[0]
        return [int(self.post_ids[i]) for i in top if i >= 0]


_loaded: LoadedModel | None = None
_latest_checked: tuple[float, int | None] = (0.0, None)
_lock = threading.Lock()


def artefact_load(version: ModelVersion) -> LoadedModel:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with np.load(version.artefact_path) as stored, threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=int(stored["factors"][0]),
            regularization=float(stored["regularization"][0]),
            alpha=float(stored["alpha"][0]),
        )
        model.item_factors = stored["item_factors"]
        bm25 = None
        if "bm25_idf" in stored:
            average, k1, b = stored["bm25_shape"].tolist()
            bm25 = data.Bm25(idf=stored["bm25_idf"], average_length=average, k1=k1, b=b)
        days = float(stored["recency_days"][0])
        recency = rank.Recency.of(
            stored["post_ts"], anchor=int(stored["anchor"][0]), tau_days=days or None
        )
        return LoadedModel(
            version=version.pk,
            post_ids=stored["post_ids"],
            scaling=str(stored["scaling"][0]),
            bm25=bm25,
            recency=recency,
            model=model,
        )


def version_latest_ready() -> ModelVersion | None:
    return (
        ModelVersion.objects.filter(status=ModelVersion.Status.READY)
        .order_by("-created_at", "-id")
        .first()
    )


def version_serving() -> int | None:
    """The live version; without a pointer, the latest READY row (looked up sparingly)."""
    global _latest_checked
    live = live_get()
    if live is not None:
        return live
    checked_at, version = _latest_checked
    if time.monotonic() - checked_at > LATEST_RECHECK:
        latest = version_latest_ready()
        version = latest.pk if latest is not None else None
        _latest_checked = (time.monotonic(), version)
    return version


def model_current() -> LoadedModel | None:
    """The live model's item side, loaded once per process and version."""
    global _loaded
    version = version_serving()
    if version is None:
        return None
    loaded = _loaded
    if loaded is not None and loaded.version == version:
        return loaded
    with _lock:
        if _loaded is not None and _loaded.version == version:
            return _loaded
        row = ModelVersion.objects.filter(pk=version, status=ModelVersion.Status.READY).first()
        if row is None or not Path(row.artefact_path).exists():
            return None
        try:
            _loaded = artefact_load(row)
        except (OSError, KeyError, ValueError):
            # An unreadable or older-format artefact: serve popular, never a 500.
            logger.exception("cannot load recommender artefact %s", row.artefact_path)
            return None
        return _loaded


def model_forget() -> None:
    """Drop the in-process model (tests; a server picks up a new version by itself)."""
    global _loaded, _latest_checked
    _loaded = None
    _latest_checked = (0.0, None)


# --- popular, with stampede protection -------------------------------------------------------


def cached_with_lock(
    key: str,
    compute: Callable[[], bytes],
    *,
    fresh: int,
    keep: int,
    wait: float = 5.0,
) -> bytes:
    """A cached value recomputed by one caller at a time: when it is stale, the lock holder
    recomputes while everyone else serves the stale copy; when it is missing, the others
    wait for the holder's result instead of all hitting the database at once."""
    conn = connection()
    lock = f"{key}:lock"
    raw = conn.get(key)
    if raw is not None:
        fresh_until = int.from_bytes(raw[:8], "big")
        if time.time() < fresh_until:
            return bytes(raw[8:])
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while True:
        if conn.set(lock, token, nx=True, px=LOCK_MS):
            try:
                # The previous holder may have stored a fresh value just before releasing the
                # lock we now hold: serve that rather than compute it a second time.
                current = conn.get(key)
                if current is not None and time.time() < int.from_bytes(current[:8], "big"):
                    return bytes(current[8:])
                value = compute()
                stamp = int(time.time() + fresh).to_bytes(8, "big")
                conn.set(key, stamp + value, ex=keep)
                return value
            finally:
                conn.register_script(redisops.RELEASE_IF_HOLDER)(keys=[lock], args=[token])
        if raw is not None:
            return bytes(raw[8:])  # stale, while the holder refreshes it
        time.sleep(0.01)
        raw = conn.get(key)
        if raw is not None:
            return bytes(raw[8:])
        if time.monotonic() > deadline:
            # The holder died or is stuck: computing once more beats an empty page.
            return compute()


def popular_ids() -> list[int]:
    """The popular list: time-decayed engagement, recomputed at most every five minutes."""
    if not degrade.redis_up():
        # Redis down: computed per request (one query, ~5 ms at small) until it is back.
        return data.popular_compute(limit=POPULAR_SIZE)
    raw = cached_with_lock(
        popular_key(),
        lambda: pack(data.popular_compute(limit=POPULAR_SIZE)),
        fresh=POPULAR_FRESH,
        keep=POPULAR_KEEP,
    )
    return unpack(raw)
