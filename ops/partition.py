"""Partitioning likes and messages, shown at a seeded scale without touching the app's schema.

``python -m ops.partition demo --database-url URL [--label small]`` copies the seeded
``posts_like``, ``chat_message`` and ``chat_room`` (with the app's own constraint and index
names) into a scratch schema, then runs the online recipe of ``ops/partition_recipe.py`` on
the copies exactly as a migration would on the live tables: a hash-partitioned twin, a
mirroring trigger, a batched backfill while writes go on (an unlike and a re-like of the same
pair, a message sent, edited and deleted between batches), and the swap of names in one
transaction. It then checks that the twin holds the same rows, that the app's hot reads
(``ops/partition_checks.py``) return the same rows from both tables with the pruning each
key promises, and writes timings, sizes and plans to ``reports/partitioning/<label>.{json,md}``.

Rerunnable: the scratch schema is dropped first (and at the end with ``--drop``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ops import partition_checks, partition_recipe
from ops.partition_recipe import Spec
from ops.partition_report import markdown

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "partition_demo"
# The order of the copies: a message's room must exist, the room's last message after it.
COPIED = ("chat_room", "posts_like", "chat_message")


def say(text: str) -> None:
    print(f"[partition] {text}", flush=True)


def _exec(conn: psycopg.Connection, statement: str | sql.SQL | sql.Composed) -> None:
    with conn.cursor() as cursor:
        cursor.execute(statement if not isinstance(statement, str) else sql.SQL(statement))


def _rows(conn: psycopg.Connection, statement: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL(statement))
        return list(cursor.fetchall())


def _definitions(conn: psycopg.Connection, table: str) -> list[tuple[Any, ...]]:
    """The app table's keys and foreign keys, read with only ``public`` on the search path so
    that the names they reference come out unqualified."""
    return _rows(conn, (
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE conrelid = 'public.{table}'::regclass AND contype IN ('p', 'u', 'f') "
        "ORDER BY contype DESC, conname"
    ))  # fmt: skip


def _copy_table(
    conn: psycopg.Connection, table: str, *, schema: str, constraints: list[tuple[Any, ...]]
) -> list[str]:
    """``schema.table`` as the app's table: columns, rows, identity position, keys and
    indexes under their names. Returns its foreign keys' DDL, to add once every copy exists
    (with ``schema`` first on the search path, a reference to a copied table means the copy)."""
    target = sql.Identifier(schema, table)
    source = sql.Identifier("public", table)
    _exec(conn, sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING IDENTITY)").format(
        target, source))  # fmt: skip
    _exec(conn, sql.SQL("INSERT INTO {} SELECT * FROM {}").format(target, source))
    _exec(conn, sql.SQL(
        "SELECT setval(pg_get_serial_sequence({}, 'id'), coalesce(max(id), 0) + 1, false) FROM {}"
    ).format(sql.Literal(f"{schema}.{table}"), target))  # fmt: skip
    later = []
    for name, kind, definition in constraints:
        ddl = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            target, sql.Identifier(name), sql.SQL(definition)
        )
        if kind == "f":
            later.append(ddl.as_string(conn))
        else:
            _exec(conn, ddl)
    for (definition,) in _rows(conn, (
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = "
        f"'public.{table}'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = i.indexrelid)"
    )):  # fmt: skip
        _exec(conn, definition.replace(f" ON public.{table} ", f" ON {schema}.{table} ", 1))
    return later


def copy_live(conn: psycopg.Connection, *, schema: str) -> dict[str, float]:
    """The scratch schema with the seeded tables copied in; seconds per table."""
    _exec(conn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    _exec(conn, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    _exec(conn, "SET search_path = public")
    constraints = {table: _definitions(conn, table) for table in COPIED}
    _exec(conn, sql.SQL("SET search_path = {}, public").format(sql.Identifier(schema)))
    seconds, fks = {}, []
    for table in COPIED:
        began = time.perf_counter()
        fks += _copy_table(conn, table, schema=schema, constraints=constraints[table])
        seconds[table] = time.perf_counter() - began
    for ddl in fks:
        _exec(conn, ddl)
    _exec(conn, "SET search_path = public")
    for table in COPIED:
        _exec(conn, sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
    return seconds


def _writes_between(conn: psycopg.Connection, spec: Spec, *, schema: str) -> Any:
    """Writes the application could make while a batch boundary passes: on likes an unlike of
    a row already copied and one not yet copied, then the same pairs liked again (new ids,
    past the backfill's end); on messages a send, an edit and a delete."""
    table = f"{schema}.{spec.table}"
    done = {"writes": 0}

    def likes(upper: int) -> None:
        for side in (f"id <= {upper} ORDER BY id DESC", f"id > {upper} ORDER BY id"):
            found = _rows(conn, f"DELETE FROM {table} WHERE id = (SELECT id FROM {table} "
                          f"WHERE {side} LIMIT 1) RETURNING user_id, post_id")  # fmt: skip
            for user_id, post_id in found:
                _exec(conn, f"INSERT INTO {table} (user_id, post_id, created_at) "
                      f"VALUES ({int(user_id)}, {int(post_id)}, now())")  # fmt: skip
                done["writes"] += 2

    def messages(upper: int) -> None:
        _exec(conn, f"INSERT INTO {table} (room_id, sender_id, kind, text, client_id, created_at)"
              f" SELECT room_id, sender_id, 'text', 'sent during the backfill', "
              f"gen_random_uuid(), now() FROM {table} WHERE id <= {upper} "
              "ORDER BY id DESC LIMIT 1")  # fmt: skip
        _exec(conn, f"UPDATE {table} SET text = text || ' (edited)' WHERE id = "
              f"(SELECT max(id) FROM {table} WHERE id <= {upper})")  # fmt: skip
        _exec(conn, f"DELETE FROM {table} WHERE id = (SELECT min(id) FROM {table} "
              f"WHERE id > {upper})")  # fmt: skip
        done["writes"] += 3

    return (likes if spec is partition_recipe.LIKES else messages), done


def _size(conn: psycopg.Connection, schema: str, table: str) -> int:
    (row,) = _rows(conn, (
        f"SELECT pg_total_relation_size('{schema}.{table}'::regclass) + coalesce(("
        f"SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree("
        f"'{schema}.{table}'::regclass) WHERE isleaf AND level > 0), 0)"
    ))  # fmt: skip
    return int(row[0])


def migrate(
    conn: psycopg.Connection,
    spec: Spec,
    *,
    schema: str,
    partitions: int,
    batch: int,
    late: bool,
) -> dict[str, Any]:
    """The recipe on one copied table, with its figures; ``late``: the foreign keys after the
    backfill (NOT VALID, then validated) instead of before it."""
    began = time.perf_counter()
    partition_recipe.twin_create(conn, spec, schema=schema, partitions=partitions, fks=not late)
    partition_recipe.mirror_create(conn, spec, schema=schema)
    created = time.perf_counter() - began
    between, done = _writes_between(conn, spec, schema=schema)
    filled = partition_recipe.backfill(conn, spec, schema=schema, batch=batch, between=between)
    fk_seconds = partition_recipe.fks_add(conn, spec, schema=schema, valid=False) if late else 0.0
    twin = partition_recipe.TWIN.format(spec.table)
    began = time.perf_counter()
    differing = partition_recipe.differences(conn, spec, schema=schema, twin=twin)
    compared = time.perf_counter() - began
    swapped = partition_recipe.swap(conn, spec, schema=schema)
    _exec(conn, sql.SQL("ANALYZE {}").format(sql.Identifier(schema, spec.table)))
    (rows,) = _rows(conn, f"SELECT (SELECT count(*) FROM {schema}.{spec.table}), "
                    f"(SELECT count(*) FROM {schema}.{spec.table}_old)")  # fmt: skip
    return {
        "table": spec.table, "key": spec.key, "partitions": partitions, "batch": batch,
        "create_seconds": created, "backfill": filled, "fks_after_backfill": late,
        "fks_late_seconds": fk_seconds, "writes_during_backfill": done["writes"],
        "differing_before_swap": differing, "compare_seconds": compared, "swap": swapped,
        "rows_partitioned": int(rows[0]), "rows_plain": int(rows[1]),
        "bytes_plain": _size(conn, schema, f"{spec.table}_old"),
        "bytes_partitioned": _size(conn, schema, spec.table),
    }  # fmt: skip


def demo(
    url: str,
    *,
    schema: str = SCHEMA,
    partitions: int = 8,
    batch: int = 20_000,
    late: bool | None = None,
) -> dict[str, Any]:
    """Copy, migrate both tables, compare the hot reads. Leaves the schema for inspection.
    ``late`` (foreign keys after the backfill) defaults to what the server allows."""
    with psycopg.connect(url, autocommit=True) as conn:
        late = partition_recipe.fks_late(conn) if late is None else late
        say(f"copying the seeded tables into {schema}")
        copied = copy_live(conn, schema=schema)
        tables = []
        for spec in partition_recipe.SPECS:
            say(f"{spec.table}: twin by HASH ({spec.key}), {partitions} partitions, backfill")
            tables.append(
                migrate(conn, spec, schema=schema, partitions=partitions, batch=batch, late=late)
            )
        say("hot reads on the plain and the partitioned tables")
        params = partition_checks.parameters(conn, schema=schema)
        queries = partition_checks.compare(conn, schema=schema, params=params)
        (server,) = _rows(conn, "SHOW server_version")
    return {
        "schema": schema, "server_version": server[0], "copy_seconds": copied,
        "tables": tables, "parameters": {k: str(v) for k, v in params.items()},
        "queries": queries,
    }  # fmt: skip


def schema_drop(url: str, *, schema: str = SCHEMA) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        _exec(conn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def report_write(result: dict[str, Any], *, directory: Path, label: str) -> Path:
    """``<label>.json`` (everything) and ``<label>.md`` (the tables and the plans)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{label}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    path = directory / f"{label}.md"
    path.write_text(markdown(result, label=label))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.partition", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="copy, partition, verify and report")
    run.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    run.add_argument("--schema", default=SCHEMA)
    run.add_argument("--partitions", type=int, default=8)
    run.add_argument("--batch", type=int, default=20_000, help="ids per backfill transaction")
    run.add_argument("--label", default="small", help="the report's name (the seeded scale)")
    run.add_argument("--report-dir", type=Path, default=ROOT / "reports" / "partitioning")
    run.add_argument("--drop", action="store_true", help="drop the scratch schema at the end")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) names the seeded database")
    result = demo(args.database_url, schema=args.schema, partitions=args.partitions,
                  batch=args.batch)  # fmt: skip
    path = report_write(result, directory=args.report_dir, label=args.label)
    if args.drop:
        schema_drop(args.database_url, schema=args.schema)
    bad = [q["name"] for q in result["queries"] if not q["identical"]]
    bad += [t["table"] for t in result["tables"] if t["rows_plain"] != t["rows_partitioned"]]
    say(f"report: {path}" + (f"; DIFFERENT: {', '.join(bad)}" if bad else "; all identical"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
