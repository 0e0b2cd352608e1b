"""Locust glue shared by every scenario: the logged-in base user and the reporting hooks.

Configuration comes from the environment the runner (loadtests/run.py) sets:
LAB_MANIFEST, LAB_STRATEGY (sent as X-Lab-Strategy), LAB_TOKENS (a pre-issued session per
username, so the slow password hash is paid once per run and not inside the measured window),
LAB_OUT (where the tallies go), LAB_THINK (think time multiplier) and LAB_WS_URL.

Beside Locust's own stats, each process keeps tallies (Server-Timing sums, the chat ledger, its
request count), registered here by kind. A standalone Locust writes them to
``<LAB_OUT>/<kind>.<pid>.json``. In a distributed run a worker may be on another machine, so it
sends its tallies to the master inside every stats report (cumulative, so the last one wins) and
the master writes ``<LAB_OUT>/<kind>.<worker id>.json`` on each report it merges: the files and
the master's stats then always describe the same requests.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import FastHttpUser, events
from locust.runners import MasterRunner, WorkerRunner

from loadtests.personas import Population, population_load, think_seconds
from loadtests.servertiming import TimingAggregator

STRATEGY = os.environ.get("LAB_STRATEGY", "").strip()
THINK = float(os.environ.get("LAB_THINK", "1") or 1)
WS_URL = os.environ.get("LAB_WS_URL", "ws://127.0.0.1:8101/ws/")
OUT = Path(os.environ["LAB_OUT"]) if os.environ.get("LAB_OUT") else None

timing = TimingAggregator()
cpu_warnings: list[float] = []
_population: Population | None = None
_tokens: dict[str, str] | None = None
_tokens_lock = threading.Lock()
# Requests and failures this process made, as Locust counted them (one per request event).
made = {"requests": 0, "failures": 0}
# kind -> the process's tally of that kind now, or None while it has nothing to say.
Tally = Callable[[], dict[str, Any] | None]
_tallies: dict[str, Tally] = {}
# The message field a worker's stats report carries its tallies in.
REPORT_FIELD = "lab_tallies"


def population() -> Population:
    global _population
    if _population is None:
        _population = population_load(
            Path(os.environ.get("LAB_MANIFEST", "var/seed-manifest.json")),
            per_tier=int(os.environ.get("LAB_PERSONAS_PER_TIER", "0") or 0),
        )
    return _population


def pooled_token(username: str) -> str | None:
    global _tokens
    with _tokens_lock:
        if _tokens is None:
            path = os.environ.get("LAB_TOKENS")
            _tokens = json.loads(Path(path).read_text()) if path and Path(path).exists() else {}
        return _tokens.get(username)


def process_file(kind: str) -> Path | None:
    """``<LAB_OUT>/<kind>.<pid>.json``: one per Locust process, merged by the runner."""
    if OUT is None:
        return None
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT / f"{kind}.{os.getpid()}.json"


def tally_register(kind: str, tally: Tally) -> None:
    """Have ``tally()`` written (standalone) or sent to the master (worker) as ``kind``."""
    _tallies[kind] = tally


def tallies_now() -> dict[str, dict[str, Any]]:
    return {kind: found for kind, tally in _tallies.items() if (found := tally()) is not None}


def _generator_tally() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), **made}


def _timing_tally() -> dict[str, Any] | None:
    if not (timing.endpoints or cpu_warnings):
        return None
    return {"endpoints": timing.dump(), "cpu_warnings": cpu_warnings}


tally_register("generator", _generator_tally)
tally_register("server-timing", _timing_tally)


def tallies_write(found: dict[str, dict[str, Any]], *, process: str) -> None:
    if OUT is None:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", process)
    for kind, payload in found.items():
        (OUT / f"{kind}.{name}.json").write_text(json.dumps(payload))


@events.request.add_listener
def on_request(
    request_type: str, name: str, response: Any = None, exception: Any = None, **_: Any
) -> None:
    made["requests"] += 1
    made["failures"] += exception is not None
    headers = getattr(response, "headers", None)
    if headers is not None:
        timing.add(key=f"{request_type} {name}", header=headers.get("Server-Timing"))


@events.cpu_warning.add_listener
def on_cpu_warning(environment: Any, cpu_usage: float, **_: Any) -> None:
    cpu_warnings.append(cpu_usage)


@events.report_to_master.add_listener
def on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    # Built without yielding, beside the stats delta of the same report.
    data[REPORT_FIELD] = tallies_now()


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    found = data.get(REPORT_FIELD)
    if found:
        found["generator"] = {**found.get("generator", {}), "worker": client_id}
        tallies_write(found, process=client_id)


@events.quitting.add_listener
def on_quitting(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return  # its tallies went to the master with its stats
    found = tallies_now()
    if isinstance(runner, MasterRunner):
        # The master makes no requests; its only tally is its own CPU warnings, if any.
        found.pop("generator", None)
    tallies_write(found, process=str(os.getpid()))


class LabUser(FastHttpUser):
    """Logs in as a seeded user of a drawn tier and sends the lab headers on every request."""

    abstract = True
    # Keep-alive per user, as a browser would; Locust's default is the same but says so here.
    concurrency = 1
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.rng = random.Random()
        self.tier, self.username = population().pick(self.rng)
        token = pooled_token(self.username) or self.login()
        self.headers = {"Authorization": f"Bearer {token}"}
        if STRATEGY:
            self.headers["X-Lab-Strategy"] = STRATEGY

    def wait_time(self) -> float:
        return think_seconds(self.tier, rng=self.rng, scale=THINK)

    def login(self) -> str:
        body = {"username": self.username, "password": population().password}
        with self.client.post(
            "/api/auth/login", json=body, name="/api/auth/login", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"login {self.username}: {response.status_code}")
                raise RuntimeError(f"cannot log in as {self.username}")
            return str(response.json()["token"])

    def get(self, path: str, *, name: str, ok: tuple[int, ...] = (200,)) -> Any:
        """GET with the lab headers; a status in ``ok`` passes; returns the JSON body or None."""
        with self.client.get(path, name=name, headers=self.headers, catch_response=True) as r:
            return self._checked(r, ok)

    def send(
        self, method: str, path: str, *, name: str, json_body: Any = None, ok: tuple[int, ...]
    ) -> Any:
        with self.client.request(
            method, path, name=name, json=json_body, headers=self.headers, catch_response=True
        ) as r:
            return self._checked(r, ok)

    @staticmethod
    def _checked(response: Any, ok: tuple[int, ...]) -> Any:
        if response.status_code not in ok:
            response.failure(f"HTTP {response.status_code}")
            return None
        # An expected 4xx (a hidden post is a 404) must be marked, or Locust counts it failed.
        response.success()
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            response.failure("response is not JSON")
            return None
