"""What the load tests' real runs share (only tests import it): a database of their own on the
same PostgreSQL, and free ports for the app they start."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg

from loadtests.generator import free_port as free_port
from ops import services


def loadtest_database_url() -> str:
    """A database of its own on the same server: never the dev database, never the test one."""
    name = f"instalab_loadtest{os.environ.get('LAB_TEST_DB_SUFFIX', '')}"
    base = os.environ.get("DATABASE_URL") or services.database_url()
    parts = urlsplit(base)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))
