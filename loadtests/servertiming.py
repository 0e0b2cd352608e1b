"""Server-Timing header parsing and per-endpoint aggregation.

Pure Python, no Locust import: the unit tests load it without gevent's monkey-patching, and the
Locust hook, the distributed-mode merge and the summary all share this one definition.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# `db;dur=3.1;desc="4 queries"` -> the query count; `cache;desc="2 hit 0 miss"` -> both.
QUERIES_RE = re.compile(r"(\d+)\s+quer")
CACHE_RE = re.compile(r"(\d+)\s+hit\s+(\d+)\s+miss")
REPLICA_RE = re.compile(r"(\d+)\s+of\s+(\d+)\s+reads(?:,\s+(\d+)\s+position)?")


def header_parse(value: str) -> dict[str, dict[str, str]]:
    """``a;dur=1, b;desc="x, y"`` -> ``{"a": {"dur": "1"}, "b": {"desc": "x, y"}}``.

    Commas inside quoted ``desc`` values (``strategy;desc="feed=naive,search=indexed"``) do not
    split metrics, so this is a small tokenizer rather than ``str.split``.
    """
    metrics: dict[str, dict[str, str]] = {}
    for part in _split_unquoted(value, ","):
        name, *params = (piece.strip() for piece in _split_unquoted(part, ";"))
        if not name:
            continue
        entry: dict[str, str] = {}
        for param in params:
            key, _, raw = param.partition("=")
            entry[key.strip().lower()] = raw.strip().strip('"')
        metrics[name.lower()] = entry
    return metrics


def _split_unquoted(text: str, separator: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


@dataclass(frozen=True)
class ServerSample:
    """What the server said about one response."""

    app_ms: float
    db_ms: float
    queries: int
    cache_hits: int
    cache_misses: int
    strategy: str
    # `cpu;dur`: the serving thread's CPU for this request; None from a server that predates it.
    cpu_ms: float | None = None
    # `replica;desc="S of R reads, P position"`, sent with read replicas (docs/scaling.md).
    reads: int = 0
    replica_reads: int = 0
    positions: int = 0


def sample_of(value: str | None) -> ServerSample | None:
    """The sample in one header value; None when the header is absent or carries no ``app``."""
    if not value:
        return None
    metrics = header_parse(value)
    if "app" not in metrics:
        return None
    db = metrics.get("db", {})
    queries = QUERIES_RE.search(db.get("desc", ""))
    cache = CACHE_RE.search(metrics.get("cache", {}).get("desc", ""))
    replica = REPLICA_RE.search(metrics.get("replica", {}).get("desc", ""))
    return ServerSample(
        app_ms=_float(metrics["app"].get("dur")),
        db_ms=_float(db.get("dur")),
        queries=int(queries.group(1)) if queries else 0,
        cache_hits=int(cache.group(1)) if cache else 0,
        cache_misses=int(cache.group(2)) if cache else 0,
        strategy=metrics.get("strategy", {}).get("desc", ""),
        cpu_ms=_float(metrics["cpu"].get("dur")) if "cpu" in metrics else None,
        reads=int(replica.group(2)) if replica else 0,
        replica_reads=int(replica.group(1)) if replica else 0,
        positions=int(replica.group(3)) if replica and replica.group(3) else 0,
    )


def _float(raw: str | None) -> float:
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        return 0.0


def cpu_bucket(ms: float) -> str:
    """Three significant digits: a median within 0.5 %, and a histogram that merges by addition."""
    return f"{ms:.3g}"


def histogram_median(histogram: dict[str, int]) -> float | None:
    """The median of the values a ``{bucket: count}`` histogram holds."""
    total = sum(histogram.values())
    if not total:
        return None
    middle = ((total - 1) // 2, total // 2)
    found: list[float] = []
    seen = 0
    for value, count in sorted((float(k), n) for k, n in histogram.items()):
        found += [value for index in middle if seen <= index < seen + count]
        seen += count
    return round(sum(found) / 2, 3)


@dataclass
class EndpointTiming:
    """Running sums for one endpoint; means are derived, so merging is plain addition."""

    count: int = 0
    app_ms: float = 0.0
    db_ms: float = 0.0
    queries: int = 0
    min_queries: int | None = None
    max_queries: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    strategies: dict[str, int] = field(default_factory=dict)
    cpu_count: int = 0
    cpu_ms: float = 0.0
    # Bucketed by cpu_bucket, not a list of samples: the dumps stay small on long runs.
    cpu_histogram: dict[str, int] = field(default_factory=dict)
    # With read replicas: the SQL reads, and those a replica answered.
    reads: int = 0
    replica_reads: int = 0
    positions: int = 0

    def add(self, sample: ServerSample) -> None:
        self.count += 1
        self.app_ms += sample.app_ms
        self.db_ms += sample.db_ms
        self.queries += sample.queries
        self.min_queries = (
            sample.queries if self.min_queries is None else min(self.min_queries, sample.queries)
        )
        self.max_queries = max(self.max_queries, sample.queries)
        self.cache_hits += sample.cache_hits
        self.cache_misses += sample.cache_misses
        self.reads += sample.reads
        self.replica_reads += sample.replica_reads
        self.positions += sample.positions
        if sample.strategy:
            self.strategies[sample.strategy] = self.strategies.get(sample.strategy, 0) + 1
        if sample.cpu_ms is not None:
            self.cpu_count += 1
            self.cpu_ms += sample.cpu_ms
            bucket = cpu_bucket(sample.cpu_ms)
            self.cpu_histogram[bucket] = self.cpu_histogram.get(bucket, 0) + 1

    def merge(self, other: EndpointTiming) -> None:
        self.count += other.count
        self.app_ms += other.app_ms
        self.db_ms += other.db_ms
        self.queries += other.queries
        if other.min_queries is not None:
            self.min_queries = (
                other.min_queries
                if self.min_queries is None
                else min(self.min_queries, other.min_queries)
            )
        self.max_queries = max(self.max_queries, other.max_queries)
        self.cache_hits += other.cache_hits
        self.cache_misses += other.cache_misses
        self.reads += other.reads
        self.replica_reads += other.replica_reads
        self.positions += other.positions
        for name, seen in other.strategies.items():
            self.strategies[name] = self.strategies.get(name, 0) + seen
        self.cpu_count += other.cpu_count
        self.cpu_ms += other.cpu_ms
        for bucket, seen in other.cpu_histogram.items():
            self.cpu_histogram[bucket] = self.cpu_histogram.get(bucket, 0) + seen

    def figures(self) -> dict[str, Any]:
        """Means per request, as summary.json reports them."""
        lookups = self.cache_hits + self.cache_misses
        n = max(self.count, 1)
        return {
            "samples": self.count,
            "mean_app_ms": round(self.app_ms / n, 2),
            "mean_db_ms": round(self.db_ms / n, 2),
            "mean_queries": round(self.queries / n, 2),
            "min_queries": self.min_queries or 0,
            "max_queries": self.max_queries,
            "cache_hit_ratio": round(self.cache_hits / lookups, 3) if lookups else None,
            "cache_lookups_per_request": round(lookups / n, 2),
            "strategies": dict(sorted(self.strategies.items())),
            "cpu_samples": self.cpu_count,
            "mean_cpu_ms": round(self.cpu_ms / self.cpu_count, 3) if self.cpu_count else None,
            "median_cpu_ms": histogram_median(self.cpu_histogram),
            # Of the SQL reads, the share the primary answered (None without replicas).
            "reads": self.reads,
            # The write-position statements the routing sent after writes (not reads).
            "replica_positions": self.positions,
            "primary_read_share": (
                round(1 - self.replica_reads / self.reads, 4) if self.reads else None
            ),
        }


class TimingAggregator:
    """Per endpoint (``"GET /api/feed"``, Locust's type and name) sums of the server's figures."""

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointTiming] = {}

    def add(self, *, key: str, header: str | None) -> None:
        sample = sample_of(header)
        if sample is not None:
            self.endpoints.setdefault(key, EndpointTiming()).add(sample)

    def dump(self) -> dict[str, dict[str, Any]]:
        """A JSON-safe snapshot; Locust workers send it to the master, which merges it."""
        return {key: asdict(timing) for key, timing in self.endpoints.items()}

    def merge(self, dumped: dict[str, dict[str, Any]]) -> None:
        for key, raw in dumped.items():
            self.endpoints.setdefault(key, EndpointTiming()).merge(EndpointTiming(**raw))

    def reset(self) -> None:
        self.endpoints = {}

    def total(self) -> EndpointTiming:
        everything = EndpointTiming()
        for timing in self.endpoints.values():
            everything.merge(timing)
        return everything

    def figures(self) -> dict[str, dict[str, Any]]:
        shaped = {key: timing.figures() for key, timing in sorted(self.endpoints.items())}
        if self.endpoints:
            shaped["Aggregated"] = self.total().figures()
        return shaped
