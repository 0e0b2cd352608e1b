"""soak: flat at USERS for the whole (long) duration; the report reads p95 and RSS drift."""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.shapes import shape_settings


class SoakShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        users, spawn, seconds = shape_settings()
        return None if self.get_run_time() >= seconds else (users, spawn)
