"""Test helpers: exact query counts that print every statement when they fail, and /metrics
read as a scraper reads it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families


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


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in an exposition, 0 when the series does not exist yet."""
    for family in text_string_to_metric_families(text):
        for candidate in family.samples:
            if candidate.name == name and candidate.labels == labels:
                return float(candidate.value)
    return 0.0


def scrape(client: Client) -> str:
    """/metrics as the test client gets it, checked to be the text exposition."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()
