"""ramp: equal steps up to USERS to find the knee (highest RPS with p95 under the target)."""

from __future__ import annotations

import os

from locust import LoadTestShape

from loadtests.shapes import shape_settings


class RampShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        users, spawn, seconds = shape_settings()
        steps = max(1, int(os.environ.get("LAB_STEPS", "6")))
        elapsed = self.get_run_time()
        if elapsed >= seconds:
            return None
        step = min(steps, int(elapsed // (seconds / steps)) + 1)
        return max(1, round(users * step / steps)), spawn
