"""The replica routing rules that need no standby: LSN arithmetic, which replica a request
may use, and the cookie that carries a client's last write. The routing against a real
standby is tested in ops/tests/test_replicas.py."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from app.core import replicas
from app.core.replicas import ReplicaState, Scope

MAX_LAG = 1000


def test_lsns_read_and_write_as_postgresql_prints_them():
    assert replicas.lsn_parse("0/3000988") == 0x3000988
    assert replicas.lsn_parse("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert replicas.lsn_format((0x16 << 32) | 0xB374D848) == "16/B374D848"
    for bad in ("", "3000988", "0/", "/1", "x/1", "123456789/0"):
        with pytest.raises(ValueError):
            replicas.lsn_parse(bad)


@pytest.mark.parametrize(
    ("state", "since", "usable"),
    [
        (ReplicaState(replayed=500, behind=0, up=True), 400, True),
        (ReplicaState(replayed=500, behind=0, up=True), 500, True),
        (ReplicaState(replayed=500, behind=0, up=True), 501, False),  # not replayed yet
        (ReplicaState(replayed=500, behind=MAX_LAG + 1, up=True), 0, False),  # lagging
        (ReplicaState(replayed=500, behind=0, up=False), 0, False),  # unreachable
        (ReplicaState(replayed=500, behind=0, up=True, down_until=2e9), 0, False),  # failed
    ],
)
def test_a_replica_serves_only_when_up_close_and_past_the_clients_write(state, since, usable):
    assert state.usable(since=since, max_lag=MAX_LAG, now=1.0) is usable


def test_a_request_settles_on_one_replica_and_leaves_it_when_it_fails():
    states = {"replica1": ReplicaState(replayed=10, up=True)}
    scope = Scope()
    assert scope.alias(states, max_lag=MAX_LAG) == "replica1"
    states["replica1"].down_until = 2e9  # a query failed on it
    assert scope.alias(states, max_lag=MAX_LAG) is None


def test_from_its_first_write_a_request_reads_the_primary():
    states = {"replica1": ReplicaState(replayed=10, up=True)}
    scope = Scope()
    assert scope.alias(states, max_lag=MAX_LAG) == "replica1"
    scope.wrote = True
    assert scope.alias(states, max_lag=MAX_LAG) is None


def test_only_a_replica_past_the_clients_last_write_serves_it():
    states = {"replica1": ReplicaState(replayed=10, up=True)}
    assert Scope(since=11).alias(states, max_lag=MAX_LAG) is None
    assert Scope(since=10).alias(states, max_lag=MAX_LAG) == "replica1"


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        ("SELECT 1", True),
        ("  select * from posts_post", True),
        ("WITH t AS (SELECT 1) SELECT * FROM t", True),
        ("WITH m AS (INSERT INTO chat_message VALUES (1) RETURNING id) SELECT id FROM m", False),
        ("with d as (delete from x returning 1) select 1", False),
        ("INSERT INTO x VALUES (1)", False),
        ("UPDATE x SET a = 1", False),
        ("SAVEPOINT s1", False),
    ],
)
def test_a_statement_is_a_read_only_when_nothing_in_it_writes(sql, read):
    assert replicas.is_read(sql) is read


def test_the_clients_position_comes_from_its_cookie_and_nonsense_counts_as_none():
    factory = RequestFactory()
    request = factory.get("/", HTTP_COOKIE=f'{replicas.COOKIE}="0/3000988"')
    assert replicas.client_position(request) == 0x3000988
    assert replicas.client_position(factory.get("/", HTTP_COOKIE=f"{replicas.COOKIE}=zz")) == 0
    assert replicas.client_position(factory.get("/")) == 0


def test_without_replicas_every_read_goes_to_the_primary():
    assert replicas.replica_aliases() == ()
    assert replicas.ReplicaRouter().db_for_read(object) == "default"
    assert replicas.ReplicaRouter().db_for_write(object) == "default"
