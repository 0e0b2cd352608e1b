"""spike: a fifth of USERS, then all of them for a fifth of the time, then back."""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.shapes import shape_settings


class SpikeShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        users, spawn, seconds = shape_settings()
        elapsed = self.get_run_time()
        if elapsed >= seconds:
            return None
        base = max(1, users // 5)
        if 0.4 * seconds <= elapsed < 0.6 * seconds:
            # Arrive as fast as the generator can: a spike is not a ramp.
            return users, max(spawn, float(users))
        return base, max(spawn, float(users))
