"""The COPY target every seed phase writes through, and the per-phase row counts and timings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from tqdm import tqdm

from seed.copy import binary_rows, copy_binary, copy_text
from seed.sampling import Array


@dataclass
class PhaseStat:
    name: str
    rows: int
    seconds: float


@dataclass
class Loader:
    """The COPY target plus the bookkeeping every phase reports into."""

    pg: psycopg.Connection[Any]
    progress: bool
    chunk_rows: int
    tables: dict[str, int] = field(default_factory=dict)
    phases: list[PhaseStat] = field(default_factory=list)
    _bar: Any = None

    @contextmanager
    def phase(self, name: str, total: int) -> Iterator[Loader]:
        started = time.perf_counter()
        before = sum(self.tables.values())
        self._bar = tqdm(
            total=total,
            desc=f"{name:<10}",
            unit=" rows",
            unit_scale=True,
            disable=not self.progress,
            mininterval=0.5,
            leave=True,
            # Steps without rows (drawing images, building indexes) show their elapsed time.
            bar_format=None if total else "{desc}: {elapsed}",
        )
        try:
            yield self
        finally:
            self._bar.close()
            rows = sum(self.tables.values()) - before
            self.phases.append(PhaseStat(name, rows, time.perf_counter() - started))

    def binary(self, table: str, columns: list[tuple[str, str, Array]], *, bar: bool = True) -> int:
        if len(columns[0][2]) == 0:
            return 0
        payload = binary_rows([(kind, values) for _, kind, values in columns])
        copy_binary(self.pg, table, [name for name, _, _ in columns], payload)
        return self._count(table, len(columns[0][2]), bar)

    def text(self, table: str, names: list[str], lines: list[str], *, bar: bool = True) -> int:
        if not lines:
            return 0
        copy_text(self.pg, table, names, "".join(lines))
        return self._count(table, len(lines), bar)

    def _count(self, table: str, rows: int, bar: bool) -> int:
        self.tables[table] = self.tables.get(table, 0) + rows
        if bar and self._bar is not None:
            self._bar.update(rows)
        return rows
