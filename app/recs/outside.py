"""Interaction logs the project did not generate: a CSV or TSV file of (user, item,
timestamp[, weight]) read into the evaluation's arrays, with no database.

The header names the columns (any order, case-insensitive; the aliases below cover common
public logs). Users and items are any strings. A timestamp is Unix seconds (integer or
decimal) or ISO 8601 (UTC unless it names an offset). A weight, when the column exists, is a
positive number (a rating, a play count); without it every event weighs 1. A bad row stops
the read with its line number.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.recs import data

Array = np.ndarray[Any, Any]
COLUMNS = {
    "user": ("user", "user_id", "userid", "uid"),
    "item": ("item", "item_id", "itemid", "iid", "movieid", "movie_id", "post", "post_id"),
    "timestamp": ("timestamp", "ts", "time", "datetime", "date"),
    "weight": ("weight", "rating", "value", "count"),
}
REQUIRED = ("user", "item", "timestamp")
DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
SNIFF_BYTES = 16384


class BadFile(ValueError):
    """The file cannot be read as an interaction log; the message names the line."""


@dataclass
class Weighted(data.Interactions):
    """Events whose weight comes from the file, not from the kind of signal."""

    value: Array  # float32 weight per event

    def weights(self, weights: Mapping[str, float] = data.WEIGHTS) -> Array:
        return self.value

    def subset(self, mask: Array) -> Weighted:
        return Weighted(
            self.user[mask], self.post[mask], self.kind[mask], self.ts[mask], self.value[mask]
        )


@dataclass
class Log:
    """The events, with users and items numbered in sorted order of their names."""

    events: Weighted
    user_names: Array
    item_names: Array
    delimiter: str
    weighted: bool


def _delimiter(path: Path, sample: str) -> str:
    known = DELIMITERS.get(path.suffix.lower())
    if known is not None:
        return known
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        raise BadFile(f"{path}: cannot tell the delimiter (name the file .csv or .tsv)") from None


def _header(path: Path, names: list[str]) -> dict[str, int]:
    seen = [name.strip().lower() for name in names]
    found = {
        column: next((seen.index(alias) for alias in aliases if alias in seen), -1)
        for column, aliases in COLUMNS.items()
    }
    missing = [column for column in REQUIRED if found[column] < 0]
    if missing:
        raise BadFile(
            f"{path} line 1: missing column(s) {', '.join(missing)} "
            f"(the header has: {', '.join(names) or 'nothing'})"
        )
    return {column: index for column, index in found.items() if index >= 0}


def _timestamp_us(text: str) -> int:
    """Unix seconds or ISO 8601 as epoch microseconds; ValueError otherwise."""
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    if not math.isfinite(seconds):
        raise ValueError(text)
    return round(seconds * 1_000_000)


def _rows(path: Path, reader: Iterator[list[str]], at: dict[str, int]) -> Iterator[tuple[Any, ...]]:
    width = max(at.values()) + 1
    for line, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < width:
            raise BadFile(f"{path} line {line}: {len(row)} field(s), the header names {width}")
        user, item = row[at["user"]].strip(), row[at["item"]].strip()
        if not user or not item:
            raise BadFile(f"{path} line {line}: empty user or item")
        stamp = row[at["timestamp"]].strip()
        try:
            ts = _timestamp_us(stamp)
        except (ValueError, OverflowError):
            raise BadFile(
                f"{path} line {line}: bad timestamp {stamp!r} (Unix seconds or ISO 8601)"
            ) from None
        weight = 1.0
        if "weight" in at:
            text = row[at["weight"]].strip()
            try:
                weight = float(text)
            except ValueError:
                weight = math.nan
            if not (math.isfinite(weight) and weight > 0):
                raise BadFile(f"{path} line {line}: bad weight {text!r} (a positive number)")
        yield user, item, ts, weight


def log_read(path: Path) -> Log:
    """Read and check the whole file; BadFile names the first bad line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFile(f"{path}: cannot read it ({exc})") from None
    if not text.strip():
        raise BadFile(f"{path}: the file is empty")
    delimiter = _delimiter(path, text[:SNIFF_BYTES])
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    at = _header(path, next(reader))
    users, items, stamps, weights = [], [], [], []
    for user, item, ts, weight in _rows(path, reader, at):
        users.append(user)
        items.append(item)
        stamps.append(ts)
        weights.append(weight)
    if not users:
        raise BadFile(f"{path} line 2: no interactions after the header")
    user_names, user_codes = np.unique(np.array(users), return_inverse=True)
    item_names, item_codes = np.unique(np.array(items), return_inverse=True)
    events = Weighted(
        user_codes.astype(np.int64),
        item_codes.astype(np.int64),
        np.zeros(len(users), dtype=np.int8),
        np.array(stamps, dtype=np.int64),
        np.array(weights, dtype=np.float32),
    )
    return Log(events, user_names, item_names, delimiter, weighted="weight" in at)
