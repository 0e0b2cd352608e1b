"""The query-count helper: exact counts, and every statement listed when a count is off."""

from __future__ import annotations

import pytest
from django.db import connection

from app.accounts.models import User
from app.lab.testing import QueryCountError, assert_queries

pytestmark = pytest.mark.django_db


def run(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def test_it_passes_on_the_exact_count() -> None:
    with assert_queries(2) as captured:
        run("SELECT 101")
        run("SELECT 102")
    assert [query["sql"] for query in captured.captured_queries] == ["SELECT 101", "SELECT 102"]


def test_it_passes_on_zero_when_nothing_runs() -> None:
    with assert_queries(0):
        User(username="unsaved")


def test_it_counts_lazy_querysets_only_when_iterated() -> None:
    # One query: the queryset is built outside the block and evaluated inside it.
    users = User.objects.filter(username__startswith="nobody")
    with assert_queries(1):
        assert list(users) == []


def test_it_fails_on_too_many_and_lists_every_statement() -> None:
    with pytest.raises(QueryCountError) as failure, assert_queries(1):
        run("SELECT 201")
        run("SELECT 202")
        run("SELECT 203")
    message = str(failure.value)
    assert message.startswith("expected 1 queries, ran 3:")
    assert "  1. SELECT 201" in message
    assert "  2. SELECT 202" in message
    assert "  3. SELECT 203" in message


def test_it_fails_on_too_few() -> None:
    with pytest.raises(QueryCountError) as failure, assert_queries(2):
        run("SELECT 301")
    message = str(failure.value)
    assert message.startswith("expected 2 queries, ran 1:")
    assert "  1. SELECT 301" in message


def test_it_says_none_ran_when_the_block_ran_nothing() -> None:
    with pytest.raises(QueryCountError) as failure, assert_queries(1):
        pass
    assert str(failure.value) == "expected 1 queries, ran 0:\n  (none)"


def test_it_is_an_assertion_error_so_pytest_reports_it_as_a_failure() -> None:
    assert issubclass(QueryCountError, AssertionError)


def test_it_shows_orm_statements_with_their_parameters() -> None:
    with pytest.raises(QueryCountError) as failure, assert_queries(0):
        User.objects.filter(username="ghost-7d1").exists()
    message = str(failure.value)
    assert '"accounts_user"' in message
    assert "ghost-7d1" in message
