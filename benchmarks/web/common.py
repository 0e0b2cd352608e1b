"""What the web benchmark's parts share: the budgets, its error, its log line, its percentile."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from benchmarks import drive

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
STATIC_JS = ROOT / "app" / "web" / "static" / "web"

# The feed's first contentful paint on a warm server, the median of the cold-cache loads.
FCP_BUDGET_MS = 500.0
JS_BUDGET_BYTES = 100_000
CLS_BUDGET = 0.0
LIVE_P95_BUDGET_MS = 500.0


class BudgetError(RuntimeError):
    """The run cannot be made: no chromium or Playwright, no data, the server did not start."""


def say(message: str) -> None:
    drive.say(f"bench-web: {message}")


def static_js_bytes(root: Path = STATIC_JS) -> dict[str, int]:
    """Every JavaScript file of the browser app and its size: an upper bound of what a page
    loads, since each page imports only its own module."""
    return {str(path.relative_to(root)): path.stat().st_size for path in sorted(root.rglob("*.js"))}


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
