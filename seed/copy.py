"""PostgreSQL plumbing for the loader: COPY (binary and text), index drop/rebuild, reset."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from django.apps import apps

# Microseconds between the Unix epoch and PostgreSQL's binary timestamp epoch (2000-01-01).
PG_EPOCH_US = 946_684_800_000_000
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_BINARY_TRAILER = b"\xff\xff"
# Binary wire widths of the column kinds the numeric tables use.
_WIDTH = {"int8": (">i8", 8), "int4": (">i4", 4), "int2": (">i2", 2), "ts": (">i8", 8)}


def binary_rows(columns: Sequence[tuple[str, np.ndarray[Any, Any]]]) -> bytes:
    """COPY BINARY payload for NOT NULL fixed-width columns; a numpy memcpy, no Python loop."""
    n = len(columns[0][1])
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, (kind, _) in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", _WIDTH[kind][0])]
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["n"] = len(columns)
    for i, (kind, values) in enumerate(columns):
        rows[f"l{i}"] = _WIDTH[kind][1]
        rows[f"v{i}"] = values - PG_EPOCH_US if kind == "ts" else values
    return _BINARY_HEADER + rows.tobytes() + _BINARY_TRAILER


def copy_binary(
    pg: psycopg.Connection[Any], table: str, names: Sequence[str], payload: bytes
) -> None:
    # FREEZE: the table was truncated in this transaction, so rows are written pre-frozen and
    # no later VACUUM has to rewrite every page to set hint bits.
    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT BINARY, FREEZE)"
    with pg.cursor() as cur, cur.copy(sql) as copy:
        copy.write(payload)


def copy_text(pg: psycopg.Connection[Any], table: str, names: Sequence[str], lines: str) -> None:
    """COPY text-format rows: tab-separated, already escaped, each ending in a newline."""
    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FREEZE)"
    with pg.cursor() as cur, cur.copy(sql) as copy:
        copy.write(lines)


def text_escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def ts_text(values: np.ndarray[Any, Any]) -> list[str]:
    """Unix microseconds to COPY-ready UTC timestamps, vectorised."""
    stamps = np.datetime_as_string(values.astype("datetime64[us]"), unit="us")
    return [f"{s}+00" for s in stamps.tolist()]


def app_tables() -> list[str]:
    """Every table of this project's apps (never Django's own framework tables)."""
    tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_config is not None
        and model._meta.app_config.name.startswith("app.")
        and model._meta.managed
    }
    return sorted(tables)


def tables_with_rows(pg: psycopg.Connection[Any], tables: Iterable[str]) -> list[str]:
    found = []
    with pg.cursor() as cur:
        for table in tables:
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
            row = cur.fetchone()
            if row and row[0]:
                found.append(table)
    return found


def tables_truncate(pg: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    with pg.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@dataclass(frozen=True)
class Deferred:
    """A secondary index or constraint dropped for the load and rebuilt after it."""

    table: str
    name: str
    definition: str
    is_constraint: bool

    def create_sql(self) -> str:
        if self.is_constraint:
            return f'ALTER TABLE {self.table} ADD CONSTRAINT "{self.name}" {self.definition}'
        return self.definition

    def drop_sql(self) -> str:
        if self.is_constraint:
            return f'ALTER TABLE {self.table} DROP CONSTRAINT "{self.name}"'
        return f'DROP INDEX "{self.name}"'


def secondary_objects_drop(pg: psycopg.Connection[Any], tables: Sequence[str]) -> list[Deferred]:
    """Drop non-PK constraints and indexes of ``tables``; return what to rebuild, in order."""
    with pg.cursor() as cur:
        cur.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
            FROM pg_constraint c
            WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('u', 'f', 'c')
            ORDER BY c.contype DESC, c.conrelid::regclass::text, c.conname
            """,
            [list(tables)],
        )
        # Unique before foreign keys ('u' > 'f' > 'c' descending), so rebuilt FKs find the
        # unique index of their target if one is needed.
        constraints = [Deferred(t, name, d, True) for t, name, d, _ in cur.fetchall()]
        cur.execute(
            """
            SELECT i.indrelid::regclass::text, ic.relname, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1, 2
            """,
            [list(tables)],
        )
        indexes = [Deferred(t, name, d, False) for t, name, d in cur.fetchall()]
        # Foreign keys go first: a unique index cannot be dropped while an FK depends on it.
        for item in [c for c in constraints if c.definition.startswith("FOREIGN")]:
            cur.execute(item.drop_sql())
        for item in [c for c in constraints if not c.definition.startswith("FOREIGN")]:
            cur.execute(item.drop_sql())
        for item in indexes:
            cur.execute(item.drop_sql())
    fks = [c for c in constraints if c.definition.startswith("FOREIGN")]
    others = [c for c in constraints if not c.definition.startswith("FOREIGN")]
    return others + indexes + fks


def sequences_reset(pg: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    with pg.cursor() as cur:
        for table in tables:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)",
                [table],
            )
