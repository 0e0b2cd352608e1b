"""The chaos lab's fault injectors, end to end on a PostgreSQL and Redis of the test's own
(var/chaos-test<suffix>/), never the developer's or the lab's: each fault really takes its
server down or read-only, and its restore really brings it back on the same address."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
import redis

from loadtests.chaos.faults import (
    ROOT,
    PostgresOutage,
    PrivateServices,
    RedisOutage,
    RedisReadonly,
)


@pytest.fixture(scope="module")
def private() -> Iterator[PrivateServices]:
    servers = PrivateServices(
        ROOT / "var" / f"chaos-test{os.environ.get('LAB_TEST_DB_SUFFIX', '')}"
    )
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


def select_one(servers: PrivateServices) -> int:
    conninfo = f"host={servers.pg_socket_dir()} port=5432 user=postgres dbname=postgres"
    with psycopg.connect(conninfo, connect_timeout=3) as conn:
        row = conn.execute("SELECT 1").fetchone()
    assert row is not None
    return int(row[0])


def test_a_redis_outage_kills_the_server_and_brings_it_back_empty_on_the_same_socket(private):
    client = private.redis_client()
    client.set("chaos:test", "1")
    fault = RedisOutage(private=private, app_pid=0)
    killed = fault.inject()["killed_redis_pid"]
    assert private.redis_pid() is None
    with pytest.raises(redis.exceptions.ConnectionError):
        private.redis_client().ping()
    restored = fault.restore()["redis_pid"]
    assert restored != killed
    assert private.redis_client().ping()
    # No persistence: it comes back as a crashed cache does, empty.
    assert private.redis_client().get("chaos:test") is None


def test_redis_readonly_refuses_writes_serves_reads_and_is_undone(private):
    client = private.redis_client()
    client.set("chaos:kept", "yes")
    fault = RedisReadonly(private=private, app_pid=0)
    assert fault.inject()["writes"] == "refused (READONLY)"
    with pytest.raises(redis.exceptions.ReadOnlyError):
        client.set("chaos:test", "1")
    assert client.get("chaos:kept") == b"yes"
    fault.restore()
    assert client.set("chaos:test", "1")
    assert client.info("replication")["role"] == "master"
    client.delete("chaos:test", "chaos:kept")


def test_a_postgres_outage_stops_the_server_and_starts_it_on_the_same_socket(private):
    assert select_one(private) == 1
    fault = PostgresOutage(private=private, app_pid=0)
    fault.inject()
    assert not private.pg_running()
    with pytest.raises(psycopg.OperationalError):
        conninfo = f"host={fault.socket_dir} port=5432 user=postgres dbname=postgres"
        psycopg.connect(conninfo, connect_timeout=3)
    fault.restore()
    assert private.pg_running()
    assert select_one(private) == 1
