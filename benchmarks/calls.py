"""Python function calls per request: a CPU figure that a noisy box cannot move.

``python -m benchmarks.calls --path /api/feed --strategy feed=naive`` serves warm requests
in-process through Django's test client with production settings (DEBUG=0), on the database
and Redis the environment names, and reports per request:

- ``queries``: SQL statements (exact);
- ``calls``: Python and built-in function calls, counted by cProfile: the same code on the
  same data makes the same calls, whatever else the machine is running, up to a few calls of
  a periodic refresh in the process (within 0.1 %, tested);
- ``cpu_ms``: process CPU milliseconds without the profiler (noisy, for scale only).

Timings on a shared box move by 10 % between runs; the call count does not, so when two trees
differ in CPU (``make bench-commits``) their call counts say whether the code does more work.
The script imports Django from the working directory, so it measures any checkout, even one
that predates it: ``cd <worktree> && python <this file> --out before.json``. ``--compare A B``
prints the per-request differences of two such files and, with ``--profiles``, the functions
whose call counts moved. Exit status: 0 done, 2 bad arguments or a request that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Production settings unless the caller chose; a secret only so DEBUG=0 settings load (no
# session or token made here leaves the process).
_DEFAULTS = {
    "DJANGO_SETTINGS_MODULE": "app.settings",
    "DEBUG": "0",
    "LAB_EXPERIMENTS": "1",
    "SECRET_KEY": "benchmarks-calls-in-process-only-" + "x" * 32,
}


# The checkout this file belongs to: where a fresh process must import Django from.
ROOT = Path(__file__).resolve().parents[1]


class CallsError(Exception):
    """A run that cannot be made: the message says why."""


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks.calls", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--path", default="/api/feed", help="a GET path (default /api/feed)")
    parser.add_argument("--strategy", default="", help="X-Lab-Strategy, e.g. feed=naive")
    parser.add_argument(
        "--user", default="", help="sign in as (default: the user who follows the most)"
    )
    parser.add_argument("--requests", type=int, default=50, help="measured requests (50)")
    parser.add_argument("--warmup", type=int, default=20, help="requests before measuring (20)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--probes",
        type=Path,
        help='a JSON file of probes, {"name": {"path", "strategy", "user"}}: measure each '
        "(queries and calls only) and write {name: figures} to --out",
    )
    parser.add_argument("--profile", type=Path, help="write the cProfile stats here")
    parser.add_argument(
        "--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="two --out files"
    )
    parser.add_argument(
        "--profiles", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="two --profile files"
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be at least 1 and --warmup at least 0")
    if not args.path.startswith("/"):
        parser.error("--path must start with /")
    return args


def _setup() -> None:
    for name, value in _DEFAULTS.items():
        os.environ.setdefault(name, value)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    import django

    django.setup()


def _user(username: str) -> Any:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CallsError(f"no user named {username!r} in this database")
        return user
    user = users.filter(is_active=True).order_by("-following_count", "id").first()
    if user is None:
        raise CallsError("the database has no users: seed it first (make seed SCALE=tiny)")
    return user


def measure(
    *,
    path: str,
    strategy: str,
    user: Any,
    requests: int,
    warmup: int,
    profile: Path | None,
    timed: bool = True,
) -> dict[str, Any]:
    """The figures of ``requests`` warm GETs of ``path`` by ``user`` (Django already set up);
    ``timed=False`` skips the unprofiled requests that time the CPU (``cpu_ms`` is then None)."""
    import cProfile

    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    headers = {"X-Lab-Strategy": strategy} if strategy else None

    def get() -> None:
        response = client.get(path, headers=headers)
        if response.status_code != 200:
            raise CallsError(
                f"GET {path} answered {response.status_code}: {response.content[:200]!r}"
            )

    for _ in range(warmup):
        get()
    with CaptureQueriesContext(connections["default"]) as captured:
        get()
    # Now: the next request's start clears the connection's query log.
    queries = len(captured.captured_queries)
    cpu = None
    if timed:
        started = time.process_time()
        for _ in range(requests):
            get()
        cpu = time.process_time() - started
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        get()
    profiler.disable()
    stats = pstats.Stats(profiler)
    if profile is not None:
        stats.dump_stats(profile)
    return {
        "path": path,
        "strategy": strategy,
        "user": user.get_username(),
        "requests": requests,
        "queries": queries,
        "calls": round(stats.total_calls / requests, 1),  # type: ignore[attr-defined]
        "cpu_ms": None if cpu is None else round(cpu / requests * 1000, 3),
    }


def measure_probes(
    probes: Mapping[str, Mapping[str, str]], *, requests: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Queries and calls per warm request of each named probe (``{"path", "strategy",
    "user"}``), in one process: what ``make perf-check`` gates its ``calls:`` figures on."""
    if not isinstance(probes, Mapping) or not all(
        isinstance(probe, Mapping) and str(probe.get("path", "")).startswith("/")
        for probe in probes.values()
    ):
        raise CallsError('--probes wants {"name": {"path": "/...", "strategy": "", "user": ""}}')
    found = {}
    for name, probe in probes.items():
        figures = measure(
            path=probe["path"],
            strategy=probe.get("strategy", ""),
            user=_user(probe.get("user", "")),
            requests=requests,
            warmup=warmup,
            profile=None,
            timed=False,
        )
        found[name] = {"queries": figures["queries"], "calls": figures["calls"]}
    return found


def probes_run(
    probes: Mapping[str, Mapping[str, str]], *, requests: int, warmup: int, timeout: float = 600
) -> dict[str, dict[str, Any]]:
    """:func:`measure_probes` in a fresh process of this checkout, on the database and Redis
    the environment names, in production mode: the caller need not (and perf-check does not)
    set Django up itself."""
    with tempfile.TemporaryDirectory(prefix="lab-calls-") as folder:
        spec, out = Path(folder) / "probes.json", Path(folder) / "figures.json"
        spec.write_text(json.dumps(probes))
        command = [
            sys.executable, __file__, "--probes", str(spec), "--out", str(out),
            "--requests", str(requests), "--warmup", str(warmup),
        ]  # fmt: skip
        env = {**os.environ, "DEBUG": "0", "LAB_EXPERIMENTS": "1"}
        try:
            done = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise CallsError(f"no answer after {timeout:.0f} s") from None
        if done.returncode != 0:
            raise CallsError((done.stderr.strip() or done.stdout.strip())[-800:])
        figures: dict[str, dict[str, Any]] = json.loads(out.read_text())
        return figures


def compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    lines = [f"{'':10} {'before':>12} {'after':>12} {'change':>9}"]
    for name in ("queries", "calls", "cpu_ms"):
        old, new = float(before[name]), float(after[name])
        change = f"{new / old - 1:+.1%}" if old else "-"
        lines.append(f"{name:10} {old:12,.1f} {new:12,.1f} {change:>9}")
    return "\n".join(lines)


def _function(key: tuple[str, int, str]) -> str:
    """A function's name without the checkout it was loaded from, so two trees line up."""
    filename, _, name = key
    # A built-in's name carries its type object's address, which differs between processes.
    name = re.sub(r" at 0x[0-9a-f]+", "", name)
    for marker in ("site-packages/", "/app/", "/benchmarks/"):
        if marker in filename:
            filename = marker.strip("/") + "/" + filename.split(marker, 1)[1]
            break
    return f"{filename}:{name}"


def call_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, (_, calls, *_) in pstats.Stats(str(path)).stats.items():  # type: ignore[attr-defined]
        name = _function(key)
        counts[name] = counts.get(name, 0) + calls
    return counts


def moved(
    before: Mapping[str, int], after: Mapping[str, int], *, requests: int, top: int = 15
) -> str:
    """The functions whose calls per request changed most, largest first."""
    rows = sorted(
        ((after.get(name, 0) - before.get(name, 0)) / requests, name)
        for name in set(before) | set(after)
    )
    rows = sorted((row for row in rows if row[0]), key=lambda row: -abs(row[0]))[:top]
    return "\n".join(f"{delta:+9.1f}  {name}" for delta, name in rows)


def main(argv: Sequence[str] | None = None) -> int:
    # Run as a file, this folder comes first on the path, and its profile.py would stand in
    # for the standard library's, which cProfile imports.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [entry for entry in sys.path if str(Path(entry or ".").resolve()) != here]
    args = arguments(argv)
    try:
        if args.compare:
            before, after = (json.loads(path.read_text()) for path in args.compare)
            print(compare(before, after))
            if args.profiles:
                print("\ncalls per request that moved, by function:")
                counts = [call_counts(path) for path in args.profiles]
                print(moved(*counts, requests=int(after["requests"])))
            return 0
        _setup()
        if args.probes:
            figures = measure_probes(
                json.loads(args.probes.read_text()), requests=args.requests, warmup=args.warmup
            )
        else:
            figures = measure(
                path=args.path,
                strategy=args.strategy,
                user=_user(args.user),
                requests=args.requests,
                warmup=args.warmup,
                profile=args.profile,
            )
    except (CallsError, OSError, ValueError, KeyError) as exc:
        print(f"benchmarks.calls: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(figures))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
