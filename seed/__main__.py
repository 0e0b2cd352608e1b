"""``python -m seed --scale tiny|small|medium|large --seed 42 [--reset] [--anchor ISO-TIME]``.

Every timestamp lies before the anchor, by default the time of seeding, so the newest posts,
likes, comments and messages are minutes old. The same seed and anchor give the same bytes;
the manifest's ``time_range.end`` is the anchor to pass to reproduce a run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from seed.presets import SCALES


def _seed_value(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"SEED must be an integer >= 0, got {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"SEED must be an integer >= 0, got {raw!r}")
    return value


def _anchor_value(raw: str) -> int:
    from seed.plan import anchor_parse

    try:
        return anchor_parse(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"ANCHOR must be an ISO 8601 time such as 2026-11-30T06:00:00Z, got {raw!r}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seed", description=__doc__)
    parser.add_argument("--scale", choices=list(SCALES), default="small")
    parser.add_argument("--seed", type=_seed_value, default=42)
    parser.add_argument("--reset", action="store_true", help="truncate this app's data first")
    parser.add_argument(
        "--if-empty",
        action="store_true",
        help="seed only when the database has no app rows; otherwise exit 0 quietly (make run)",
    )
    parser.add_argument(
        "--anchor",
        type=_anchor_value,
        help="the instant the data ends at (ISO 8601, UTC unless it says otherwise); default now",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--manifest", type=Path, help="where to write the manifest")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    from ops import services

    if services.embedded_enabled() and not services.is_running():
        services.start(quiet=True)
    import django

    django.setup()
    from django.db import DatabaseError

    from seed.runner import SeedError, database_is_empty, seed_run, summary_table

    try:
        if args.if_empty and not args.reset and not database_is_empty():
            return 0
        result = seed_run(
            scale=args.scale,
            seed=args.seed,
            reset=args.reset,
            progress=not args.no_progress,
            manifest_path=args.manifest,
            anchor_us=args.anchor,
            echo=lambda message: print(message, file=sys.stderr),
        )
    except SeedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DatabaseError as error:
        print(
            f"error: the database is unreachable or not migrated ({error}). "
            "Run `make migrate` (or `python manage.py migrate`) first.",
            file=sys.stderr,
        )
        return 2
    print(summary_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
