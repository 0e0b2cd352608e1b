"""The seeder's manifest, read as a plain JSON file: evaluation needs only its planted
communities, and the app never imports the seeder (seed/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

from app.core import embedded

Array = np.ndarray[Any, Any]


def manifest_path() -> Path:
    """Where ``python -m seed`` writes it: var/seed-manifest.json for the default database,
    var/seed-manifest-<database>.json for any other."""
    name = str(connection.settings_dict["NAME"])
    if name == embedded.DATABASE_NAME:
        return Path(settings.VAR_DIR) / "seed-manifest.json"
    return Path(settings.VAR_DIR) / f"seed-manifest-{name}.json"


def manifest_read(path: Path | None = None) -> dict[str, Any]:
    """The manifest, or {} when there is none to read (an unseeded or hand-made database)."""
    try:
        manifest = json.loads((path or manifest_path()).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def seeded_as(manifest: dict[str, Any]) -> str | None:
    """ "scale small, seed 42, anchor <end>": what reproduces the data, if the manifest says."""
    try:
        return (
            f"scale {manifest['scale']}, seed {manifest['seed']}, "
            f"anchor {manifest['time_range']['end']}"
        )
    except (KeyError, TypeError):
        return None


def planted_communities(manifest: dict[str, Any]) -> Array | None:
    """The planted community of the user with id ``i + 1`` at index ``i``, if listed."""
    try:
        return np.asarray(manifest["communities"]["user_community"], dtype=np.int64)
    except (KeyError, TypeError, ValueError):
        return None


def communities(
    planted: Array, user_ids: Array, post_ids: Array, author_ids: Array, columns: Array
) -> tuple[Array, Array]:
    """(community per user in ``user_ids``, community per item in ``columns`` by its
    author); -1 for a user outside the manifest, -2 for an unknown post."""

    def of_users(ids: Array) -> Array:
        index = ids - 1
        inside = (index >= 0) & (index < len(planted))
        return np.where(inside, planted[np.clip(index, 0, len(planted) - 1)], -1)

    by_post = dict(zip(post_ids.tolist(), of_users(author_ids).tolist(), strict=True))
    return of_users(user_ids), np.array([by_post.get(p, -2) for p in columns.tolist()])
