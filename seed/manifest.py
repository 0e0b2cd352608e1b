"""The seed manifest: what was seeded, who is who, and the planted communities; also the marker."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

from app.core import embedded
from seed.loader import PhaseStat
from seed.plan import TIERS, Plan
from seed.presets import LAB_PASSWORD
from seed.vocab import COMMUNITIES

SAMPLE = 20


def manifest_default_path() -> Path:
    """var/seed-manifest.json for the default database; a per-database name for any other."""
    name = str(connection.settings_dict["NAME"])
    if name == embedded.DATABASE_NAME:
        return Path(settings.VAR_DIR) / "seed-manifest.json"
    return Path(settings.VAR_DIR) / f"seed-manifest-{name}.json"


def manifest_read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def manifest_write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    tmp.replace(path)


def _iso(us: int) -> str:
    return str(np.datetime64(us, "us")) + "Z"


def manifest_complete(
    plan: Plan, *, tables: dict[str, int], phases: list[PhaseStat], seconds: float
) -> dict[str, Any]:
    names = plan.usernames
    post_count = np.bincount(plan.post_author, minlength=plan.n_users)
    public = ~plan.private
    by_posts = np.argsort(-post_count, kind="stable")

    def sample(mask: np.ndarray[Any, Any]) -> list[str]:
        return [names[i] for i in np.flatnonzero(mask)[:SAMPLE]]

    star = int(plan.celebs[np.argmax(plan.pop[plan.celebs])])
    return {
        "status": "complete",
        "scale": plan.preset.name,
        "seed": plan.seed,
        "database": str(connection.settings_dict["NAME"]),
        "password": LAB_PASSWORD,
        "counts": dict(sorted(tables.items())),
        "seconds": round(seconds, 2),
        "phases": [
            {"name": p.name, "rows": p.rows, "seconds": round(p.seconds, 3)} for p in phases
        ],
        # The end is the anchor: `--anchor <end>` with the same seed reproduces these rows.
        "time_range": {"start": _iso(plan.start_us), "end": _iso(plan.end_us)},
        "tiers": {
            "celebrities": [names[i] for i in plan.celebs[:50]],
            "celebrity_followers": [names[i] for i in plan.celeb_followers[:SAMPLE]],
            "heavy_posters": [names[i] for i in by_posts[:SAMPLE]],
            "active": sample((plan.tier == 2) & public),
            "casual": sample((plan.tier == 1) & public),
            "lurkers": sample((plan.tier == 0) & (post_count == 0)),
            "private": sample(plan.private),
        },
        "celebrity_followed": names[star],
        "tier_names": list(TIERS),
        "communities": {
            "names": [c.name for c in COMMUNITIES],
            # Index i is the community of the user with id i + 1.
            "user_community": plan.community.tolist(),
        },
    }
