"""Training data: implicit feedback streamed from SQL with binary COPY into a sparse matrix."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.db import connection

from app.accounts.models import User
from app.chat.models import Message
from app.posts.models import Comment, Like, Post, Save

# Time constant of popularity decay: a post's engagement counts e^-1 as much after 3 days.
POPULAR_DECAY_S = 3 * 24 * 3600
POPULAR_WINDOW_DAYS = 30

Array = np.ndarray[Any, Any]

# Signal kinds, as the `kind` column of the interaction stream.
LIKE, COMMENT, SAVE, SHARE = 0, 1, 2, 3
KINDS = {"like": LIKE, "comment": COMMENT, "save": SAVE, "share": SHARE}
# Raw weight per event, before confidence scaling. Why these (docs/experiments/recs.md):
# a like is one tap; a comment costs typing; a save says "I want this again"; sending a post
# to a friend in a DM is the strongest endorsement a user gives. Repeated comments add up, and
# the confidence scaling then flattens that sum.
WEIGHTS: Mapping[str, float] = {"like": 1.0, "comment": 2.0, "save": 3.0, "share": 4.0}

# A binary COPY row of four NOT NULL bigints: field count, then (length, value) per column.
_ROW = np.dtype(
    [
        ("n", ">i2"),
        ("lu", ">i4"),
        ("user", ">i8"),
        ("lp", ">i4"),
        ("post", ">i8"),
        ("lk", ">i4"),
        ("kind", ">i8"),
        ("lt", ">i4"),
        ("ts", ">i8"),
    ]
)
_HEADER = 19  # signature (11), flags (4), header extension length (4)
_TRAILER = b"\xff\xff"
_BATCH_BYTES = 4 << 20


@dataclass
class Interactions:
    """One row per event (a like, a comment, ...), in no particular order."""

    user: Array  # int64 user ids
    post: Array  # int64 post ids
    kind: Array  # int8 kinds
    ts: Array  # int64 epoch microseconds

    def __len__(self) -> int:
        return len(self.user)

    def weights(self, weights: Mapping[str, float] = WEIGHTS) -> Array:
        table = np.zeros(len(KINDS), dtype=np.float32)
        for name, code in KINDS.items():
            table[code] = weights[name]
        return table[self.kind]

    def subset(self, mask: Array) -> Interactions:
        return Interactions(self.user[mask], self.post[mask], self.kind[mask], self.ts[mask])


def _stream_sql(
    *, user_id: int | None = None, per_kind: int | None = None
) -> tuple[str, list[Any]]:
    """The union of every signal as (user, post, kind, epoch µs); optionally one user's newest."""
    sources = [
        (Like._meta.db_table, "user_id", LIKE, "post_id IS NOT NULL"),
        (Comment._meta.db_table, "author_id", COMMENT, "post_id IS NOT NULL"),
        (Save._meta.db_table, "user_id", SAVE, "post_id IS NOT NULL"),
        # A shared post whose post was deleted since is NULL (SET NULL): nothing to learn.
        (Message._meta.db_table, "sender_id", SHARE, "post_id IS NOT NULL"),
    ]
    parts, params = [], []
    for table, who, kind, where in sources:
        select = (
            f"SELECT {who}::bigint, post_id::bigint, {kind}::bigint, "
            f"(extract(epoch FROM created_at) * 1000000)::bigint AS ts FROM {table} WHERE {where}"
        )
        if user_id is not None:
            select += f" AND {who} = %s ORDER BY created_at DESC LIMIT %s"
            params += [user_id, per_kind]
            select = f"({select})"
        parts.append(select)
    return " UNION ALL ".join(parts), params


class _CopyParser:
    """Parses a COPY BINARY stream of `_ROW`s in large batches with numpy."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.progress = progress
        self.columns: dict[str, list[Array]] = {"user": [], "post": [], "kind": [], "ts": []}
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.rest = b""
        self.started = False

    def feed(self, block: bytes) -> None:
        self.pending.append(block)
        self.pending_bytes += len(block)
        # psycopg yields one row per block: parse them in 4 MiB batches.
        if self.pending_bytes >= _BATCH_BYTES:
            self.parse(final=False)

    def parse(self, *, final: bool) -> None:
        buffer = self.rest + b"".join(self.pending)
        self.pending, self.pending_bytes = [], 0
        if not self.started:
            if len(buffer) < _HEADER:
                self.rest = buffer
                return
            buffer, self.started = buffer[_HEADER:], True
        body = len(buffer) - (len(_TRAILER) if final and buffer.endswith(_TRAILER) else 0)
        whole = body // _ROW.itemsize
        if whole:
            rows = np.frombuffer(buffer, dtype=_ROW, count=whole)
            for name, dtype in (("user", np.int64), ("post", np.int64), ("kind", np.int8)):
                self.columns[name].append(rows[name].astype(dtype))
            self.columns["ts"].append(rows["ts"].astype(np.int64))
            if self.progress is not None:
                self.progress(whole)
        self.rest = buffer[whole * _ROW.itemsize :]
        if final and self.rest not in (b"", _TRAILER):
            raise RuntimeError(f"COPY stream ended with {len(self.rest)} unparsed bytes")

    def result(self) -> Interactions:
        def join(name: str, dtype: Any) -> Array:
            parts = self.columns[name]
            return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

        return Interactions(
            join("user", np.int64),
            join("post", np.int64),
            join("kind", np.int8),
            join("ts", np.int64),
        )


def interactions_load(*, progress: Callable[[int], None] | None = None) -> Interactions:
    """Every event, streamed with COPY BINARY and parsed by numpy in blocks: no ORM objects
    and no Python object per row, so `medium` (22M events) loads in seconds."""
    sql, _ = _stream_sql()
    parser = _CopyParser(progress)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no COPY
        with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT BINARY)") as copy:
            for block in copy:
                parser.feed(bytes(block))
    parser.parse(final=True)
    return parser.result()


def user_recent_interactions(*, user_id: int, per_kind: int = 100) -> list[tuple[int, int]]:
    """(post id, kind) of one user's newest events of each kind: the input of a fold-in."""
    sql, params = _stream_sql(user_id=user_id, per_kind=per_kind)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(row[1]), int(row[2])) for row in cursor.fetchall()]


def post_catalogue() -> tuple[Array, Array, Array]:
    """(post ids, author ids, created_at in epoch µs) of every post, sorted by id: own-post
    filtering, recency weights and community scoring."""
    table = Post._meta.db_table
    sql = (
        f"SELECT id, author_id, (extract(epoch FROM created_at) * 1000000)::bigint "
        f"FROM {table} ORDER BY id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 3)
    return rows[:, 0], rows[:, 1], rows[:, 2]


@dataclass
class Matrix:
    """The user x post matrix of summed raw weights, and the ids behind its rows/columns."""

    items: sp.csr_matrix
    user_ids: Array  # row -> user id (sorted)
    post_ids: Array  # column -> post id (sorted)

    def user_rows(self, user_ids: Array) -> Array:
        """Row index per user id; -1 for users not in the matrix."""
        return _lookup(self.user_ids, user_ids)

    def post_columns(self, post_ids: Array) -> Array:
        return _lookup(self.post_ids, post_ids)


def _lookup(sorted_ids: Array, ids: Array) -> Array:
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    index = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[index] == ids, index, -1)


def matrix_build(
    data: Interactions,
    *,
    weights: Mapping[str, float] = WEIGHTS,
    user_ids: Array | None = None,
    post_ids: Array | None = None,
) -> Matrix:
    """Sum the weights per (user, post) into CSR; duplicates add up in the COO -> CSR step.
    Given ``user_ids``/``post_ids``, rows and columns follow them and other events drop."""
    users = np.unique(data.user) if user_ids is None else user_ids
    posts = np.unique(data.post) if post_ids is None else post_ids
    rows, cols = _lookup(users, data.user), _lookup(posts, data.post)
    keep = (rows >= 0) & (cols >= 0)
    values = data.weights(weights)[keep]
    coo = sp.coo_matrix((values, (rows[keep], cols[keep])), shape=(len(users), len(posts)))
    items = coo.tocsr()
    items.sum_duplicates()
    return Matrix(items=items.astype(np.float32), user_ids=users, post_ids=posts)


@dataclass(frozen=True)
class Bm25:
    """BM25 confidence weighting (as implicit's bm25_weight), with its item idf kept so that a
    single user's row can be weighted the same way at fold-in time."""

    idf: Array
    average_length: float
    k1: float = 100.0
    b: float = 0.8

    @staticmethod
    def fit(items: sp.csr_matrix, *, k1: float = 100.0, b: float = 0.8) -> Bm25:
        users = float(max(items.shape[0], 1))
        per_item = np.bincount(items.indices, minlength=items.shape[1])
        idf = (np.log(users) - np.log1p(per_item)).astype(np.float32)
        lengths = np.asarray(items.sum(axis=1)).ravel()
        average = float(lengths.mean()) if len(lengths) else 1.0
        return Bm25(idf=idf, average_length=average or 1.0, k1=k1, b=b)

    def apply(self, items: sp.csr_matrix) -> sp.csr_matrix:
        out = items.tocoo(copy=True)
        lengths = np.asarray(items.sum(axis=1)).ravel()
        norm = (1.0 - self.b) + self.b * lengths / self.average_length
        out.data = (
            out.data * (self.k1 + 1.0) / (self.k1 * norm[out.row] + out.data) * self.idf[out.col]
        )
        # Items everyone touched get idf <= 0; a non-positive confidence means nothing.
        out.data = np.maximum(out.data, 0.0).astype(np.float32)
        result = out.tocsr()
        result.eliminate_zeros()
        return result


def confidence(items: sp.csr_matrix, *, scaling: str, bm25: Bm25 | None = None) -> sp.csr_matrix:
    """Scale raw summed weights into ALS confidences: ``log`` is log(1 + r) per entry;
    ``bm25`` down-weights very popular posts and very active users."""
    if scaling == "log":
        out = items.copy()
        out.data = np.log1p(out.data).astype(np.float32)
        return out
    if scaling == "bm25":
        return (bm25 or Bm25.fit(items)).apply(items)
    raise ValueError(f"unknown confidence scaling {scaling!r}")


def popular_compute(*, limit: int) -> list[int]:
    """Public posts ranked by engagement (likes + 2 x comments, stored counters) decayed by
    age. Age counts from the newest post, so a quiet site or an old seed still has a list."""
    posts = connection.ops.quote_name(Post._meta.db_table)
    users = connection.ops.quote_name(User._meta.db_table)
    sql = (
        f"WITH anchor AS (SELECT max(created_at) AS at FROM {posts}) "
        f"SELECT p.id FROM {posts} p JOIN {users} u ON u.id = p.author_id, anchor "
        f"WHERE p.created_at > anchor.at - make_interval(days => %s) AND NOT u.is_private "
        "ORDER BY (p.like_count + 2 * p.comment_count + 1) "
        "* exp(-extract(epoch FROM anchor.at - p.created_at) / %s) DESC, p.id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [POPULAR_WINDOW_DAYS, POPULAR_DECAY_S, limit])
        return [row[0] for row in cursor.fetchall()]
