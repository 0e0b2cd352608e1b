"""Who the virtual users are: seeded usernames by activity tier, and each tier's think time.

Pure Python (no Locust import) so the unit tests and the runner can use it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Seconds between two actions of one user, per seeded activity tier, before LAB_THINK scales it.
# Active users scroll quickly; lurkers read longer. These set the per-user request rate, so the
# users needed for a target RPS (docs/loadtesting.md) follow from them.
THINK_SECONDS: dict[str, tuple[float, float]] = {
    "active": (0.5, 2.0),
    "celebrity_followers": (1.0, 3.0),
    "casual": (1.0, 4.0),
    "lurkers": (2.0, 6.0),
}
# The share of virtual users drawn from each tier: most people read, few post.
TIER_WEIGHTS: dict[str, float] = {
    "lurkers": 0.40,
    "casual": 0.35,
    "active": 0.20,
    "celebrity_followers": 0.05,
}


class ManifestError(ValueError):
    """The seed manifest is missing or lacks what the scenarios need."""


@dataclass(frozen=True)
class Population:
    """The seeded users a scenario may log in as, and the id ranges it may address."""

    password: str
    scale: str
    tiers: dict[str, list[str]]
    posts: int
    places: int

    def pick(self, rng: random.Random) -> tuple[str, str]:
        """A (tier, username) pair, tiers drawn by TIER_WEIGHTS among those with users."""
        tiers = [tier for tier in TIER_WEIGHTS if self.tiers.get(tier)]
        if not tiers:
            raise ManifestError("the manifest lists no users in any activity tier")
        tier = rng.choices(tiers, weights=[TIER_WEIGHTS[t] for t in tiers])[0]
        return tier, rng.choice(self.tiers[tier])

    def usernames(self) -> list[str]:
        """Every username a scenario may log in as, once each, in a stable order."""
        seen: dict[str, None] = {}
        for tier in TIER_WEIGHTS:
            for name in self.tiers.get(tier, []):
                seen.setdefault(name, None)
        return list(seen)


def population_of(manifest: dict[str, Any], *, per_tier: int = 0) -> Population:
    """``per_tier`` > 0 keeps that many users of each tier: fewer logins for a short run."""
    if manifest.get("status") != "complete":
        raise ManifestError("the seed manifest is not complete; seed again")
    try:
        tiers = {name: list(users)[: per_tier or None] for name, users in manifest["tiers"].items()}
        counts = manifest["counts"]
        return Population(
            password=str(manifest["password"]),
            scale=str(manifest["scale"]),
            tiers=tiers,
            posts=int(counts.get("posts_post", 0)),
            places=int(counts.get("posts_place", 0)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"the seed manifest lacks {exc}") from None


def population_load(path: Path, *, per_tier: int = 0) -> Population:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read the seed manifest {path}: {exc}") from None
    return population_of(manifest, per_tier=per_tier)


def think_seconds(tier: str, *, rng: random.Random, scale: float) -> float:
    low, high = THINK_SECONDS.get(tier, THINK_SECONDS["casual"])
    return rng.uniform(low, high) * scale
