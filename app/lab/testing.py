"""Test helpers: exact query counts that print every statement when they fail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext


class QueryCountError(AssertionError):
    pass


@contextmanager
def assert_queries(expected: int) -> Iterator[CaptureQueriesContext]:
    """Assert the block runs exactly ``expected`` SQL statements; list them all if not."""
    with CaptureQueriesContext(connection) as captured:
        yield captured
    actual = len(captured.captured_queries)
    if actual != expected:
        listing = "\n".join(
            f"  {index}. {query['sql']}"
            for index, query in enumerate(captured.captured_queries, start=1)
        )
        raise QueryCountError(
            f"expected {expected} queries, ran {actual}:\n{listing or '  (none)'}"
        )


def database_url_for_tests() -> str:
    """This run's DATABASE_URL with the test database in place of the dev one: for servers a
    test starts in another process (call it once the test database exists)."""
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{settings.DATABASES['default']['NAME']}"))
