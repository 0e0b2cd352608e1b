"""Gates: a TOML file of per-endpoint and aggregate limits, checked against a summary.

```toml
[aggregate]
p95_ms = 500            # Locust's p95 over every request
max_failure_ratio = 0.0
min_rps = 20

[endpoint."GET /api/feed"]
p95_ms = 300
max_queries = 6         # the most SQL queries any one request ran (Server-Timing); exact
```

Keys: ``p95_ms``, ``p99_ms``, ``max_failure_ratio``, ``min_rps``, ``max_queries`` and
``max_mean_queries``. An endpoint named in the file but absent from the run fails, so a renamed
endpoint cannot silently drop out of the gate; ``optional = true`` allows it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEYS = ("p95_ms", "p99_ms", "max_failure_ratio", "min_rps", "max_queries", "max_mean_queries")


class ThresholdError(ValueError):
    """The thresholds file is unreadable or names an unknown key."""


@dataclass(frozen=True)
class Check:
    scope: str
    key: str
    limit: float
    actual: float | None
    ok: bool

    def line(self) -> str:
        shown = "absent" if self.actual is None else f"{self.actual:g}"
        relation = ">=" if self.key == "min_rps" else "<="
        verdict = "ok  " if self.ok else "FAIL"
        return f"{verdict} {self.scope}: {self.key} {shown} (limit {relation} {self.limit:g})"


def thresholds_load(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThresholdError(f"cannot read thresholds {path}: {exc}") from None
    for scope, limits in [
        ("aggregate", data.get("aggregate", {})),
        *list(data.get("endpoint", {}).items()),
    ]:
        unknown = set(limits) - set(KEYS) - {"optional"}
        if unknown:
            raise ThresholdError(f"{path}: unknown keys {sorted(unknown)} for {scope}")
    return data


def _actual(row: dict[str, Any], key: str) -> float | None:
    server = row.get("server") or {}
    if key in ("max_queries", "max_mean_queries"):
        value = server.get("max_queries" if key == "max_queries" else "mean_queries")
        return None if value is None else float(value)
    if key == "max_failure_ratio":
        return float(row["failure_ratio"])
    if key == "min_rps":
        return float(row["rps"])
    value = row.get(key)
    return None if value is None else float(value)


def thresholds_check(summary: dict[str, Any], thresholds: dict[str, Any]) -> list[Check]:
    rows = {row["name"]: row for row in summary["endpoints"]}
    if summary.get("aggregate"):
        rows["Aggregated"] = summary["aggregate"]
    scopes = [("Aggregated", thresholds.get("aggregate", {}))]
    scopes += list(thresholds.get("endpoint", {}).items())
    checks = []
    for scope, limits in scopes:
        row = rows.get(scope)
        for key in KEYS:
            if key not in limits:
                continue
            limit = float(limits[key])
            if row is None:
                checks.append(Check(scope, key, limit, None, bool(limits.get("optional"))))
                continue
            actual = _actual(row, key)
            if actual is None:
                # No Server-Timing seen (e.g. a WebSocket row): a query gate cannot pass blind.
                checks.append(Check(scope, key, limit, None, False))
            elif key == "min_rps":
                checks.append(Check(scope, key, limit, actual, actual >= limit))
            else:
                checks.append(Check(scope, key, limit, actual, actual <= limit))
    return checks
