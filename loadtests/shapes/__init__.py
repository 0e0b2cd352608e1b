"""Load shapes; the runner adds one of these files to Locust's -f list (steady needs none)."""

from __future__ import annotations

import os


def shape_settings() -> tuple[int, float, float]:
    """Peak users, spawn rate and total seconds, as the runner passed them."""
    users = int(os.environ.get("LAB_USERS", "50"))
    spawn = float(os.environ.get("LAB_SPAWN", "10"))
    seconds = float(os.environ.get("LAB_SECONDS", "60"))
    return users, spawn, seconds
