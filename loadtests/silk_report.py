"""`make silk-report`: N+1 suspects from silk's sampled requests, grouped by endpoint.

A suspect is one SQL shape (literals stripped) that runs N or more times within one request:
the signature of a loop touching an unprefetched relation. Reads the profiling pass that
`SILK=1 make loadtest ...` recorded (it never profiles the measured run).
Usage: ``python -m loadtests.silk_report [--minutes 60] [--repeats 3] [--out reports/]``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LITERALS = [
    (re.compile(r"'(?:[^']|'')*'"), "?"),
    (re.compile(r"\b\d+(\.\d+)?\b"), "?"),
    (re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)"), "(?)"),
    (re.compile(r"\s+"), " "),
]
IDS = re.compile(r"/\d+(?=/|$)")


def sql_shape(sql: str) -> str:
    """The statement with its literals replaced, so one loop's queries compare equal."""
    for pattern, replacement in LITERALS:
        sql = pattern.sub(replacement, sql)
    return sql.strip()


def endpoint_of(method: str, path: str) -> str:
    return f"{method} {IDS.sub('/{id}', path)}"


def suspects_find(
    requests: list[tuple[str, str, list[str]]], *, repeats: int
) -> dict[str, dict[str, Any]]:
    """``(method, path, [sql, ...])`` per request -> per endpoint: requests, suspects, worst."""
    found: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"requests": 0, "with_suspects": 0, "queries": 0, "shapes": Counter()}
    )
    for method, path, queries in requests:
        entry = found[endpoint_of(method, path)]
        entry["requests"] += 1
        entry["queries"] += len(queries)
        counts = Counter(sql_shape(q) for q in queries)
        repeated = {shape: n for shape, n in counts.items() if n >= repeats}
        if repeated:
            entry["with_suspects"] += 1
            for shape, n in repeated.items():
                entry["shapes"][shape] = max(entry["shapes"][shape], n)
    return dict(found)


def markdown_of(found: dict[str, dict[str, Any]], *, repeats: int, since: datetime) -> str:
    lines = [
        "# N+1 suspects (django-silk, sampled)",
        "",
        f"Requests recorded since {since:%Y-%m-%d %H:%M} UTC; a suspect is one SQL shape run "
        f"{repeats}+ times in one request.",
        "",
        "| endpoint | sampled | with suspects | mean queries | worst repeat | statement |",
        "|---|---:|---:|---:|---:|---|",
    ]
    ranked = sorted(found.items(), key=lambda kv: (-kv[1]["with_suspects"], kv[0]))
    for endpoint, entry in ranked:
        mean = entry["queries"] / max(entry["requests"], 1)
        worst = entry["shapes"].most_common(1)
        shape, times = worst[0] if worst else ("", 0)
        statement = shape[:140].replace("|", "\\|")
        lines.append(
            f"| {endpoint} | {entry['requests']} | {entry['with_suspects']} | {mean:.1f} | "
            f"{times or '-'} | {('`' + statement + '`') if statement else '-'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.silk_report", description=__doc__)
    parser.add_argument("--minutes", type=int, default=60, help="how far back to read")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)
    os.environ["SILK"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    import django

    django.setup()
    from django.db import DatabaseError
    from silk.models import Request

    since = datetime.now(UTC) - timedelta(minutes=args.minutes)
    try:
        sampled = Request.objects.filter(start_time__gte=since).prefetch_related("queries")
        requests = [(r.method, r.path, [q.query for q in r.queries.all()]) for r in sampled]
    except DatabaseError as exc:
        print(f"error: silk's tables are missing or unreadable ({exc}); run a pass with "
              "`SILK=1 make loadtest ...` first", file=sys.stderr)  # fmt: skip
        return 2
    if not requests:
        print("no silk requests recorded in that window; run `SILK=1 make loadtest ...`")
        return 0
    text = markdown_of(
        suspects_find(requests, repeats=args.repeats), repeats=args.repeats, since=since
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"silk-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    path.write_text(text)
    print(text)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
