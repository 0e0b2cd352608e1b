"""A seeded interaction log in the outside format, made without the project's seeder.

Users and items fall in ``groups``; a user picks an item of their own group four times in
five, more popular items more often (Zipf), at a time after the item's release (items have
no creation time in the file: only their events date them). Used by the tests and, at a
larger size, for reports/recs-eval-outside.*:

    .venv/bin/python -m app.recs.tests.outside_log reports/outside-log.tsv --users 3000
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

DAY_S = 24 * 3600
START_S = 1_700_000_000


def log_write(
    path: Path,
    *,
    users: int = 60,
    items: int = 80,
    groups: int = 4,
    events_per_user: int = 25,
    days: int = 120,
    seed: int = 42,
    iso: bool = False,
) -> int:
    """Write the log (header: user, item, timestamp, rating) and return its row count.
    Timestamps are Unix seconds, or ISO 8601 with ``iso``; the delimiter follows the suffix."""
    rng = np.random.default_rng(seed)
    item_group = rng.integers(0, groups, size=items)
    release = rng.uniform(0, days * DAY_S * 0.9, size=items)
    appeal = 1.0 / np.arange(1, items + 1) ** 0.8
    rng.shuffle(appeal)
    rows = []
    for user in range(users):
        group = int(rng.integers(0, groups))
        own = item_group == group
        for _ in range(int(rng.integers(events_per_user // 2, events_per_user * 3 // 2 + 1))):
            pool = own if rng.random() < 0.8 else ~own
            weights = appeal * pool
            item = int(rng.choice(items, p=weights / weights.sum()))
            at = min(release[item] + rng.exponential(10 * DAY_S), days * DAY_S - 1)
            rows.append((user, item, START_S + int(at), int(rng.integers(1, 6))))
    rows.sort(key=lambda row: row[2])
    with path.open("w", newline="") as out:
        writer = csv.writer(out, delimiter="\t" if path.suffix == ".tsv" else ",")
        writer.writerow(["user", "item", "timestamp", "rating"])
        for user, item, at, rating in rows:
            stamp = np.datetime64(at, "s").astype(str) + "Z" if iso else str(at)
            writer.writerow([f"u{user:05d}", f"i{item:05d}", stamp, rating])
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--events-per-user", type=int, default=60)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    count = log_write(
        args.path,
        users=args.users,
        items=args.items,
        groups=args.groups,
        events_per_user=args.events_per_user,
        days=args.days,
        seed=args.seed,
    )
    print(f"{count:,} events -> {args.path}")


if __name__ == "__main__":
    main()
