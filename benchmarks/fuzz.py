"""`make fuzz`: a property-based fuzzer of the JSON API, schemathesis driven by its OpenAPI schema.

It starts a production-mode server (DEBUG=0, its own SECRET_KEY, free ports) on a database, a
Redis key prefix and a media root of its own, recreated for every run so that a run is
repeatable: the same seed and budget send the same requests to the same data. A few objects
(two users, a post with an image, a comment, a DM with a message, a search) exist before it
starts, so the boundary cases the schema implies (id 1, a username) reach real rows. Every
operation is tried signed in, with a bearer token; ``POST /api/auth/logout`` is left out, since
it would end that token.

A run fails on any 5xx and on any response whose body does not match its documented schema.
It writes ``reports/<UTC timestamp>-fuzz/`` with summary.json (case count, failures), report.md
and schemathesis' own JUnit and NDJSON reports. Run as ``python -m benchmarks.fuzz``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks import drive

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
FUZZ_DATABASE = "instalab_fuzz"
FUZZ_PREFIX = "fuzz"
FUZZ_PASSWORD = "fuzz-password-7g2k"
DEFAULT_BUDGET = 40
DEFAULT_SEED = 42
CHECKS = "not_a_server_error,response_schema_conformance"
# Examples and boundary coverage are deterministic; fuzzing draws the budget from the seed.
PHASES = "examples,coverage,fuzzing"
EXCLUDED_PATHS = ("/api/auth/logout",)
REQUEST_TIMEOUT = 30.0


class FuzzError(RuntimeError):
    """The run could not be made (database, server or schemathesis failed to start)."""


def say(message: str) -> None:
    print(f"[fuzz] {message}", flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__)
    parser.add_argument(
        "--budget",
        type=int,
        default=int(os.environ.get("BUDGET") or DEFAULT_BUDGET),
        help=f"generated cases per operation (default {DEFAULT_BUDGET}; the boundary "
        "coverage phase adds its own)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    parser.add_argument("--out", type=Path, default=None, help="report directory")
    args = parser.parse_args(argv)
    if args.budget < 1:
        parser.error("--budget must be at least 1")
    return args


# --- the database, the data and the server -----------------------------------------------------


def fuzz_database_url() -> str:
    """FUZZ_DATABASE_URL, or the app's database URL with the fuzz database's name."""
    explicit = os.environ.get("FUZZ_DATABASE_URL")
    if explicit:
        return explicit
    parts = urlsplit(drive.database_url())
    return urlunsplit(parts._replace(path=f"/{FUZZ_DATABASE}"))


def database_recreate(url: str) -> None:
    """Drop and create the fuzz database, then migrate it: every run starts from the same rows."""
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(url)
    name = str(params.get("dbname") or "")
    if not name or name == urlsplit(drive.database_url()).path.lstrip("/"):
        raise FuzzError(f"refusing to recreate {name or 'an unnamed database'}: not a fuzz one")
    params["dbname"] = "postgres"
    with psycopg.connect(psycopg.conninfo.make_conninfo("", **params), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    say(f"migrating a fresh {name}")
    result = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise FuzzError(f"migrate failed: {result.stderr.strip()[-2000:]}")


def redis_clear(prefix: str) -> None:
    from django_redis import get_redis_connection

    conn = get_redis_connection("default")
    keys = list(conn.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        conn.delete(*keys)


def data_make() -> None:
    """Two users (ids 1 and 2), alice's post 1 with a comment, a DM with a message, a search."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from app.accounts.models import User
    from app.chat import services as chat
    from app.posts import services as posts
    from app.posts.models import Place
    from app.search import services as search

    alice = User.objects.create_user(username="alice", email="alice@example.com")
    alice.set_password(FUZZ_PASSWORD)
    alice.save()
    bob = User.objects.create_user(username="bob", email="bob@example.com", password=FUZZ_PASSWORD)
    place = Place.objects.create(name="Seoul Forest", latitude=37.5444, longitude=127.0374)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, "JPEG")
    upload = SimpleUploadedFile("fuzz.jpg", buffer.getvalue(), content_type="image/jpeg")
    post = posts.post_create(
        author=alice, uploads=[upload], caption="hello #fuzz @bob", place_id=place.pk
    )
    posts.comment_create(author=bob, post_id=post.pk, text="nice")
    room, _ = chat.room_open(user=alice, usernames=["bob"])
    chat.message_send(sender=bob, room_id=room.pk, client_id=uuid.UUID(int=1), text="hi")
    search.history_record(user=alice, query="seoul")


def login(base_url: str) -> str:
    request = urllib.request.Request(
        f"{base_url}/api/auth/login",
        data=json.dumps({"username": "alice", "password": FUZZ_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
        return str(json.load(response)["token"])


# --- schemathesis --------------------------------------------------------------------------------


def schemathesis_argv(*, base_url: str, token: str, budget: int, seed: int, out: Path) -> list[str]:
    argv = [
        str(Path(PYTHON).with_name("st")),
        "run",
        f"{base_url}/api/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        PHASES,
        "--max-examples",
        str(budget),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {token}",
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--suppress-health-check",
        "all",
        "--continue-on-failure",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(out),
    ]
    for path in EXCLUDED_PATHS:
        argv += ["--exclude-path", path]
    return argv


def events_read(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events


def _failure_title(check: dict[str, Any]) -> str:
    failure = (check.get("failure_info") or {}).get("failure") or {}
    return str(failure.get("title") or check.get("name"))


_CASES = re.compile(r"Test cases:\s*(\d+) generated")


def summary_build(
    *, output: str, events: list[dict[str, Any]], returncode: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Case count, per-operation failures and statuses from schemathesis' output and events."""
    failures: set[tuple[str, str, str]] = set()
    statuses: Counter[str] = Counter()
    operations: set[str] = set()
    for event in events:
        recorder = (event.get("ScenarioFinished") or {}).get("recorder")
        if not isinstance(recorder, dict):
            continue
        label = str(recorder.get("label", ""))
        operations.add(label)
        for interaction in (recorder.get("interactions") or {}).values():
            response = interaction.get("response") or {}
            if "status_code" in response:
                statuses[str(response["status_code"])] += 1
        for check_list in (recorder.get("checks") or {}).values():
            failures.update(
                (label, str(check.get("name")), _failure_title(check))
                for check in check_list
                if str(check.get("status", "")).lower() == "failure"
            )
    found = _CASES.search(output)
    cases = int(found.group(1)) if found else sum(statuses.values())
    return {
        "tool": "schemathesis",
        "budget_per_operation": args.budget,
        "seed": args.seed,
        "checks": CHECKS.split(","),
        "phases": PHASES.split(","),
        "excluded": list(EXCLUDED_PATHS),
        "operations": len(operations),
        "cases": cases,
        "responses_by_status": dict(sorted(statuses.items())),
        "server_errors": sum(n for status, n in statuses.items() if status.startswith("5")),
        "failures": [
            {"operation": op, "check": check, "message": message}
            for op, check, message in sorted(failures)
        ],
        "exit_code": returncode,
        "passed": returncode == 0 and not failures,
    }


def report_write(out: Path, summary: dict[str, Any], *, seconds: float) -> None:
    summary = {**summary, "seconds": round(seconds, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# API fuzz run",
        "",
        f"- {summary['cases']} cases over {summary['operations']} operations in "
        f"{summary['seconds']} s (budget {summary['budget_per_operation']} per operation, "
        f"seed {summary['seed']}, phases {', '.join(summary['phases'])})",
        f"- checks: {', '.join(summary['checks'])}",
        f"- responses by status: {summary['responses_by_status']}",
        f"- 5xx: {summary['server_errors']}; failures: {len(summary['failures'])}",
        f"- result: **{'passed' if summary['passed'] else 'FAILED'}**",
    ]
    lines += [f"  - {f['operation']}: {f['check']}: {f['message']}" for f in summary["failures"]]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = (args.out or ROOT / "reports" / f"{stamp}-fuzz").resolve()
    out.mkdir(parents=True, exist_ok=True)
    drive.services_ensure()
    url = fuzz_database_url()
    database_recreate(url)
    # This process makes the data: the ORM and Redis of the fuzz database and prefix, and
    # uploads under a media root of its own (the server inherits all three).
    media = ROOT / "var" / "fuzz-media"
    shutil.rmtree(media, ignore_errors=True)
    os.environ.update(
        {"DATABASE_URL": url, "REDIS_KEY_PREFIX": FUZZ_PREFIX, "MEDIA_ROOT": str(media)}
    )
    drive.django_setup()
    redis_clear(FUZZ_PREFIX)
    data_make()
    environ = {**os.environ, "LOG_LEVEL": "ERROR"}
    server = drive.server_start(port=args.port, ws_port=None, workers=2, environ=environ)
    started = time.monotonic()
    try:
        token = login(server.base_url)
        argv_ = schemathesis_argv(
            base_url=server.base_url, token=token, budget=args.budget, seed=args.seed, out=out
        )
        say(f"schemathesis: budget {args.budget} per operation, seed {args.seed}")
        result = subprocess.run(argv_, cwd=ROOT, capture_output=True, text=True, check=False)
        (out / "schemathesis.txt").write_text(result.stdout + result.stderr)
    finally:
        server.stop()
        if server.log_path is not None:
            with contextlib.suppress(OSError):
                (out / "server.log").write_text(server.log_path.read_text()[-200_000:])
    events = events_read(next(out.glob("*.ndjson"), out / "missing.ndjson"))
    summary = summary_build(
        output=result.stdout, events=events, returncode=result.returncode, args=args
    )
    report_write(out, summary, seconds=time.monotonic() - started)
    say(
        f"{summary['cases']} cases, {summary['server_errors']} 5xx, "
        f"{len(summary['failures'])} failures: {out / 'report.md'}"
    )
    if not summary["passed"]:
        print(result.stdout[-6000:], file=sys.stderr)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FuzzError, drive.DriveError) as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        sys.exit(2)
