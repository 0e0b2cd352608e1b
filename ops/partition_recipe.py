"""The online recipe that turns a plain table into a hash-partitioned one, as SQL a real
migration would run: a partitioned twin with the same columns, a trigger mirroring the live
table's writes into it, a backfill in id-ranged batches, and the swap of names in one short
transaction.

``python -m ops.partition demo`` runs it on copies in a scratch schema (the app's own tables
and migrations are never touched); docs/experiments/partitioning.md gives the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class Spec:
    """One table and the shape of its partitioned twin. Every unique constraint of a
    partitioned table must include the partition key, so the twin's keys lead with it."""

    table: str
    key: str
    # (name, type) in the live table's order, so the mirror trigger can copy NEW row-wise.
    columns: tuple[tuple[str, str], ...]
    # (name, definition) of the twin's primary key and unique constraints.
    uniques: tuple[tuple[str, str], ...]
    # (name, column list) of its plain indexes.
    indexes: tuple[tuple[str, str], ...]
    # (name, definition) of its foreign keys; "{schema}" is the scratch schema.
    fks: tuple[tuple[str, str], ...]
    # What the foreign keys that point at the table become: (table, column, definition).
    referenced_by: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


_USERS = "public.accounts_user (id) DEFERRABLE INITIALLY DEFERRED"
_POSTS = "public.posts_post (id) DEFERRABLE INITIALLY DEFERRED"

LIKES = Spec(
    table="posts_like",
    key="user_id",
    columns=(
        ("id", "bigint NOT NULL"),
        ("created_at", "timestamptz NOT NULL"),
        ("user_id", "bigint NOT NULL"),
        ("post_id", "bigint NOT NULL"),
    ),
    uniques=(
        ("posts_like_pkey", "PRIMARY KEY (user_id, id)"),
        # Already leads with the key: the app's ON CONFLICT (user_id, post_id) is unchanged.
        ("like_unique", "UNIQUE (user_id, post_id)"),
    ),
    indexes=(("like_post_recent", "post_id, created_at DESC"),),
    fks=(
        ("posts_like_user_id_fk", f"FOREIGN KEY (user_id) REFERENCES {_USERS}"),
        ("posts_like_post_id_fk", f"FOREIGN KEY (post_id) REFERENCES {_POSTS}"),
    ),
)

MESSAGES = Spec(
    table="chat_message",
    key="room_id",
    columns=(
        ("id", "bigint NOT NULL"),
        ("kind", "varchar(8) NOT NULL"),
        ("text", "text NOT NULL"),
        ("client_id", "uuid NOT NULL"),
        ("created_at", "timestamptz NOT NULL"),
        ("post_id", "bigint"),
        ("sender_id", "bigint NOT NULL"),
        ("room_id", "bigint NOT NULL"),
    ),
    uniques=(
        # Also serves history, replay and unread counts: message_room_id (room_id, id) goes.
        ("chat_message_pkey", "PRIMARY KEY (room_id, id)"),
        # Idempotency is per room now: (sender, client_id) alone cannot be unique.
        ("message_idempotency", "UNIQUE (room_id, sender_id, client_id)"),
    ),
    indexes=(
        ("chat_message_post_id", "post_id"),
        # The "client_id already used in another room" check, now a lookup in every partition.
        ("message_sender_client", "sender_id, client_id"),
    ),
    fks=(
        (
            "chat_message_room_id_fk",
            "FOREIGN KEY (room_id) REFERENCES {schema}.chat_room (id) "
            "DEFERRABLE INITIALLY DEFERRED",
        ),
        ("chat_message_sender_id_fk", f"FOREIGN KEY (sender_id) REFERENCES {_USERS}"),
        ("chat_message_post_id_fk", f"FOREIGN KEY (post_id) REFERENCES {_POSTS}"),
    ),
    # A room's last message is in the room's own partition: the key joins the reference, and
    # deleting the message nulls only last_message_id (PostgreSQL 15's column list).
    referenced_by=(
        (
            "chat_room",
            "last_message_id",
            "FOREIGN KEY (id, last_message_id) REFERENCES {schema}.chat_message (room_id, id) "
            "ON DELETE SET NULL (last_message_id) DEFERRABLE INITIALLY DEFERRED",
        ),
    ),
)

SPECS = (LIKES, MESSAGES)
TWIN = "{}_p"
Say = Callable[[str], None]


def _ident(*parts: str) -> sql.Composable:
    return sql.Identifier(*parts)


def _run(conn: psycopg.Connection, statement: str | sql.SQL | sql.Composed, *args: object) -> None:
    with conn.cursor() as cursor:
        cursor.execute(statement if not isinstance(statement, str) else sql.SQL(statement),
                       args or None)  # fmt: skip


def _one(conn: psycopg.Connection, statement: str | sql.SQL | sql.Composed, *args: object) -> int:
    with conn.cursor() as cursor:
        query = statement if not isinstance(statement, str) else sql.SQL(statement)
        cursor.execute(query, args or None)
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def fks_late(conn: psycopg.Connection) -> bool:
    """Whether the foreign keys can wait for the end of the backfill: PostgreSQL 18 adds one
    NOT VALID to a partitioned table (a brief lock) and validates it without blocking writes.
    Before 18 only a validating ADD works, whose lock would block the mirror trigger, hence
    the live table's writes, for the whole check: there they go on before the backfill, and
    each copied row is checked as it lands (about half of the backfill's time)."""
    return conn.info.server_version >= 180000


def twin_create(
    conn: psycopg.Connection, spec: Spec, *, schema: str, partitions: int, fks: bool = True
) -> None:
    """The partitioned twin, its partitions, keys, indexes and (with ``fks``) foreign keys."""
    twin = TWIN.format(spec.table)
    columns: list[sql.Composable] = [
        sql.SQL("{} {}").format(_ident(name), sql.SQL(kind)) for name, kind in spec.columns
    ]
    # The identity restarts past the live table's ids at the swap; the backfill copies ids.
    columns[0] = sql.SQL("id bigint GENERATED BY DEFAULT AS IDENTITY")
    _run(
        conn,
        sql.SQL("CREATE TABLE {} ({}) PARTITION BY HASH ({})").format(
            _ident(schema, twin), sql.SQL(", ").join(columns), _ident(spec.key)
        ),
    )
    for remainder in range(partitions):
        _run(
            conn,
            sql.SQL(
                "CREATE TABLE {} PARTITION OF {} FOR VALUES WITH (MODULUS {}, REMAINDER {})"
            ).format(
                _ident(schema, f"{twin}{remainder}"),
                _ident(schema, twin),
                sql.Literal(partitions),
                sql.Literal(remainder),
            ),
        )
    for name, definition in spec.uniques:
        _run(conn, sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            _ident(schema, twin), _ident(f"{name}_p"), sql.SQL(definition)))  # fmt: skip
    for name, columns_sql in spec.indexes:
        _run(conn, sql.SQL("CREATE INDEX {} ON {} ({})").format(
            _ident(f"{name}_p"), _ident(schema, twin), sql.SQL(columns_sql)))  # fmt: skip
    if fks:
        fks_add(conn, spec, schema=schema, valid=True)


def fks_add(conn: psycopg.Connection, spec: Spec, *, schema: str, valid: bool) -> float:
    """The twin's foreign keys; with ``valid=False`` added NOT VALID, then validated (the
    PostgreSQL 18 path, after the backfill). Returns the seconds taken."""
    began = time.perf_counter()
    twin = _ident(schema, TWIN.format(spec.table))
    suffix = sql.SQL("" if valid else " NOT VALID")
    for name, definition in spec.fks:
        definition_sql = sql.SQL(definition.format(schema=schema))
        _run(conn, sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}{}").format(
            twin, _ident(f"{name}_p"), definition_sql, suffix))  # fmt: skip
    if not valid:
        for name, _ in spec.fks:
            _run(conn, sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
                twin, _ident(f"{name}_p")))  # fmt: skip
    return time.perf_counter() - began


def mirror_create(conn: psycopg.Connection, spec: Spec, *, schema: str) -> None:
    """A row trigger on the live table that repeats each write on the twin, so the backfill
    can run while the application writes."""
    twin = _ident(schema, TWIN.format(spec.table))
    names = sql.SQL(", ").join(_ident(name) for name in spec.names)
    new = sql.SQL(", ").join(sql.SQL("NEW.{}").format(_ident(name)) for name in spec.names)
    key = _ident(spec.key)
    function = _ident(schema, f"{spec.table}_mirror")
    body = sql.SQL(
        "CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP IN ('UPDATE', 'DELETE') THEN "
        "DELETE FROM {twin} WHERE {key} = OLD.{key} AND id = OLD.id; END IF; "
        "IF TG_OP IN ('INSERT', 'UPDATE') THEN "
        "INSERT INTO {twin} ({names}) VALUES ({new}) ON CONFLICT DO NOTHING; END IF; "
        "RETURN NULL; END $$"
    ).format(function=function, twin=twin, key=key, names=names, new=new)
    _run(conn, body)
    _run(
        conn,
        sql.SQL(
            "CREATE TRIGGER partition_mirror AFTER INSERT OR UPDATE OR DELETE ON {} "
            "FOR EACH ROW EXECUTE FUNCTION {}()"
        ).format(_ident(schema, spec.table), function),
    )


def backfill(
    conn: psycopg.Connection,
    spec: Spec,
    *,
    schema: str,
    batch: int,
    between: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Copy the live rows up to the id the backfill starts at, ``batch`` ids a transaction.
    FOR SHARE makes a concurrent DELETE or UPDATE of a row being copied wait for the batch, so
    its mirrored write lands after the copy (never before, which would resurrect the row)."""
    live, twin = _ident(schema, spec.table), _ident(schema, TWIN.format(spec.table))
    names = sql.SQL(", ").join(_ident(name) for name in spec.names)
    high = _one(conn, sql.SQL("SELECT max(id) FROM {}").format(live))
    low = _one(conn, sql.SQL("SELECT min(id) - 1 FROM {}").format(live))
    copy = sql.SQL(
        "INSERT INTO {twin} ({names}) SELECT {names} FROM {live} WHERE id > %s AND id <= %s "
        "FOR SHARE ON CONFLICT DO NOTHING"
    ).format(twin=twin, names=names, live=live)
    started, batches, slowest = time.perf_counter(), 0, 0.0
    cursor = low
    while cursor < high:
        upper = min(cursor + batch, high)
        began = time.perf_counter()
        with conn.transaction():
            _run(conn, copy, cursor, upper)
        slowest = max(slowest, time.perf_counter() - began)
        batches += 1
        if between is not None:
            between(upper)
        cursor = upper
    return {
        "seconds": time.perf_counter() - started,
        "batches": batches,
        "slowest_batch_seconds": slowest,
    }


def differences(conn: psycopg.Connection, spec: Spec, *, schema: str, twin: str) -> int:
    """Rows in one table and not the other (both ways, duplicates counted): 0 when equal."""
    names = sql.SQL(", ").join(_ident(name) for name in spec.names)
    live = _ident(schema, spec.table)
    other = _ident(schema, twin)
    return _one(
        conn,
        sql.SQL(
            "SELECT (SELECT count(*) FROM (SELECT {n} FROM {a} EXCEPT ALL SELECT {n} FROM {b}) x)"
            " + (SELECT count(*) FROM (SELECT {n} FROM {b} EXCEPT ALL SELECT {n} FROM {a}) y)"
        ).format(n=names, a=live, b=other),
    )


def _rows(
    conn: psycopg.Connection, statement: sql.Composed, *args: object
) -> list[tuple[str, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(statement, args or None)
        return [tuple(str(value) for value in row) for row in cursor.fetchall()]


def _old_aside(conn: psycopg.Connection, *, schema: str, table: str) -> None:
    """The old table's indexes (and so its key constraints) and foreign keys take ``_old``,
    freeing their names for the twin."""
    qualified = f"{schema}.{table}"
    for (name,) in _rows(conn, sql.SQL(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = {}::regclass"
    ).format(sql.Literal(qualified))):  # fmt: skip
        bare = name.rsplit(".", 1)[-1].strip('"')
        _run(conn, sql.SQL("ALTER INDEX {} RENAME TO {}").format(
            _ident(schema, bare), _ident(f"{bare}_old")))  # fmt: skip
    for (name,) in _rows(conn, sql.SQL(
        "SELECT conname FROM pg_constraint WHERE conrelid = {}::regclass AND contype = 'f'"
    ).format(sql.Literal(qualified))):  # fmt: skip
        _run(conn, sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            _ident(schema, table), _ident(name), _ident(f"{name}_old")))  # fmt: skip


def _twin_names(conn: psycopg.Connection, spec: Spec, *, schema: str) -> None:
    """The twin's constraints and indexes drop their ``_p``: the app's names again."""
    for name, _ in (*spec.uniques, *spec.fks):
        _run(conn, sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            _ident(schema, spec.table), _ident(f"{name}_p"), _ident(name)))  # fmt: skip
    for name, _ in spec.indexes:
        _run(conn, sql.SQL("ALTER INDEX {} RENAME TO {}").format(
            _ident(schema, f"{name}_p"), _ident(name)))  # fmt: skip


def _pointing_drop(conn: psycopg.Connection, *, schema: str, table: str) -> list[str]:
    """Drop the foreign keys that reference ``table`` from elsewhere; returns their names."""
    found = _rows(conn, sql.SQL(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
        "WHERE confrelid = {}::regclass AND contype = 'f' AND conrelid <> confrelid"
    ).format(sql.Literal(f"{schema}.{table}")))  # fmt: skip
    for referencing, name in found:
        _run(conn, sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.SQL(referencing), _ident(name)))  # fmt: skip
    return [name for _, name in found]


def swap(conn: psycopg.Connection, spec: Spec, *, schema: str) -> dict[str, float]:
    """One transaction under the live table's lock, DDL only (the rows were compared before,
    in one snapshot: the trigger writes the twin in the writer's own transaction, so a
    statement sees both tables at the same point): the trigger goes, the live table becomes
    ``<table>_old``, the twin takes its name and its constraints' names, the identity restarts
    past every id handed out, and the foreign keys that pointed at the old table point at the
    twin (NOT VALID here, validated after the commit without blocking writes)."""
    live, old, twin = spec.table, f"{spec.table}_old", TWIN.format(spec.table)
    if left := differences(conn, spec, schema=schema, twin=twin):
        raise RuntimeError(f"{live}: {left} rows differ from the twin; not swapped")
    began = time.perf_counter()
    with conn.transaction():
        _run(conn, "SET LOCAL lock_timeout = '5s'")
        _run(conn, sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(_ident(schema, live)))
        locked = time.perf_counter()
        _run(conn, sql.SQL("DROP TRIGGER partition_mirror ON {}").format(_ident(schema, live)))
        pointing = _pointing_drop(conn, schema=schema, table=live)
        _run(conn, sql.SQL("ALTER TABLE {} RENAME TO {}").format(_ident(schema, live), _ident(old)))
        _old_aside(conn, schema=schema, table=old)
        _run(
            conn, sql.SQL("ALTER TABLE {} RENAME TO {}").format(_ident(schema, twin), _ident(live))
        )
        _twin_names(conn, spec, schema=schema)
        following = 1 + _one(
            conn,
            sql.SQL(
                "SELECT greatest(max(id), pg_sequence_last_value(pg_get_serial_sequence({}, 'id')"
                "::regclass)) FROM {}"
            ).format(sql.Literal(f"{schema}.{old}"), _ident(schema, old)),
        )
        _run(conn, sql.SQL("ALTER TABLE {} ALTER COLUMN id RESTART WITH {}").format(
            _ident(schema, live), sql.Literal(following)))  # fmt: skip
        for (table, _, definition), name in zip(spec.referenced_by, pointing, strict=True):
            _run(conn, sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(
                _ident(schema, table), _ident(name),
                sql.SQL(definition.format(schema=schema))))  # fmt: skip
        held = time.perf_counter() - locked
    validated = time.perf_counter()
    for (table, _, _), name in zip(spec.referenced_by, pointing, strict=True):
        _run(conn, sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
            _ident(schema, table), _ident(name)))  # fmt: skip
    return {
        "lock_held_seconds": held,
        "transaction_seconds": validated - began,
        "validate_seconds": time.perf_counter() - validated,
        "identity_restarts_at": following,
    }
