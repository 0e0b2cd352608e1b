"""Locust glue shared by every scenario: the logged-in base user and the reporting hooks.

Configuration comes from the environment the runner (loadtests/run.py) sets:
LAB_MANIFEST, LAB_STRATEGY (sent as X-Lab-Strategy), LAB_TOKENS (a pre-issued session per
username, so the slow password hash is paid once per run and not inside the measured window),
LAB_OUT (where each Locust process writes its Server-Timing and chat tallies), LAB_THINK (think
time multiplier) and LAB_WS_URL. Each process writes its own files, so `--processes N` works.
"""

from __future__ import annotations

import json
import os
import random
import threading
from pathlib import Path
from typing import Any

from locust import FastHttpUser, events

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


@events.request.add_listener
def on_request(request_type: str, name: str, response: Any = None, **_: Any) -> None:
    headers = getattr(response, "headers", None)
    if headers is not None:
        timing.add(key=f"{request_type} {name}", header=headers.get("Server-Timing"))


@events.cpu_warning.add_listener
def on_cpu_warning(environment: Any, cpu_usage: float, **_: Any) -> None:
    cpu_warnings.append(cpu_usage)


@events.quitting.add_listener
def on_quitting(environment: Any, **_: Any) -> None:
    path = process_file("server-timing")
    if path is not None and (timing.endpoints or cpu_warnings):
        payload = {"endpoints": timing.dump(), "cpu_warnings": cpu_warnings}
        path.write_text(json.dumps(payload))


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
