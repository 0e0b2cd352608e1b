"""Helpers for the tests that run the serving runner for real: free ports, the runner's
environment on a Redis database of its own, and ``running_lab``, one supervised runner to
kill children of and scrape."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psutil
import redis
from django.conf import settings

from app.core.embedded import ROOT
from app.lab.testing import database_url_for_tests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The runner's job worker works this Redis database alone: on the default one it would take
# jobs `make run` queued, and run them with this test run's key prefix.
SERVE_REDIS_DB = 14


def isolated_redis_url() -> str:
    parts = urlsplit(settings.REDIS_URL)
    if parts.scheme == "unix":
        # Not urlunsplit: it drops the empty host, and redis-py wants "unix://".
        query = {**dict(parse_qsl(parts.query)), "db": str(SERVE_REDIS_DB)}
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{SERVE_REDIS_DB}"))


def serve_env(metrics_dir: Path, **extra: str) -> dict[str, str]:
    """The test run's own environment (LAB_TESTING and its key prefix), as the servers' base."""
    return {
        **os.environ,
        "SERVER": "split",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "REDIS_URL": isolated_redis_url(),
        **extra,
    }


def restart_counts(text: str) -> dict[str, float]:
    found = re.findall(r'^instalab_process_restarts_total\{role="([^"]+)"\} (\S+)$', text, re.M)
    return {role: float(value) for role, value in found}


@dataclass
class Lab:
    """A running ``python -m ops.serve``: its process, HTTP base URL, /ws/ port and log."""

    runner: subprocess.Popen[bytes]
    base: str
    ws_port: int
    redis: redis.Redis
    log: Path

    def child(self, program: str) -> psutil.Process:
        """The runner's current child whose command line runs ``program``."""
        deadline = time.monotonic() + 30
        while True:
            for process in psutil.Process(self.runner.pid).children():
                try:
                    alive = process.status() != psutil.STATUS_ZOMBIE
                    if alive and any(program in part for part in process.cmdline()):
                        return process
                except psutil.Error:
                    continue  # gone between the listing and the look
            assert self.runner.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"no {program} child\n{self.log.read_text()}"
            time.sleep(0.1)

    def metrics(self) -> str:
        """/metrics as the HTTP server serves it, summed over every process."""
        with urllib.request.urlopen(f"{self.base}/metrics", timeout=5) as response:
            text: str = response.read().decode()
            return text

    def restarts(self) -> dict[str, float]:
        return restart_counts(self.metrics())


def hello_ok(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/lab/hello", timeout=5) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


def eventually(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@contextmanager
def running_lab(tmp: Path, **overrides: str) -> Iterator[Lab]:
    """One runner for the kill tests: 2 granian workers, 1 uvicorn, 1 job worker, on the test
    database (a clean checkout's dev database is not even migrated; so the test database
    must exist: ask for pytest-django's ``django_db_setup`` first). ``overrides`` replace
    environment variables, the database's included."""
    port, ws_port = free_port(), free_port()
    env = serve_env(
        tmp,
        PORT=str(port),
        WS_PORT=str(ws_port),
        WORKERS="2",
        JOB_WORKERS="1",
        DATABASE_URL=database_url_for_tests(),
    )
    env.update(overrides)
    log_path = tmp / "serve.log"
    connection = redis.Redis.from_url(isolated_redis_url())
    with log_path.open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "ops.serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    lab = Lab(runner, f"http://127.0.0.1:{port}", ws_port, connection, log_path)
    try:
        try:
            eventually(lambda: b"ready." in log_path.read_bytes(), timeout=60, what="ready.")
        except AssertionError as exc:
            tail = log_path.read_text(errors="replace")[-4000:]
            raise AssertionError(f"{exc}; the runner's log ends:\n{tail}") from None
        eventually(lambda: hello_ok(lab.base), timeout=10, what="HTTP")
        yield lab
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=20)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
        connection.close()
