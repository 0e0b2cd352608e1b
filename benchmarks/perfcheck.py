"""Performance regression checks that survive a noisy, shared machine: ``make perf-check``.

Absolute timings move with whoever else uses the box, so the check gates only on figures that
hold still there, taken from one production-mode server (DEBUG=0, granian, 2 workers) in one
run, and on counts that noise cannot move:

- ``queries:<probe>``: the SQL queries a warm request runs (Server-Timing). Exact.
- ``calls:<probe>``: Python function calls per warm request, counted in-process on production
  settings after the server's rounds (benchmarks/calls.py): the CPU work, without the CPU's
  noise. A fixed band (CALLS_TOLERANCE): the runs agree to 0.1 %.
- ``share:<probe>``: the probe's req/s over /lab/hello's in the same round (median of rounds).
- ``ab:<pair>``: one strategy's req/s over another's, same rounds (optimized/naive and so on).
- ``cpu:<probe>``: the app processes' CPU milliseconds per request. Shown and recorded, not
  gated (advisory): the host's slow phases move it by a third or more. Only on the machine
  that took the baseline (the same CPU model).
- ``cpushare:<probe>``: that CPU per request over /lab/hello's in the same run, which cancels
  what the machine and its load do to every request alike. Judged everywhere.
- ``delivery:<count>``: the chat probe's frames over /ws/ (benchmarks/delivery.py). Exact.

``baseline`` measures several times and writes ``benchmarks/baseline.json``: each figure's
median, and a tolerance derived from the spread of those runs (benchmarks/verdicts.py and
docs/regressions.md). A machine of another kind (processor and core count) keeps a baseline
of its own beside it, ``benchmarks/baselines/<cpu>-<n>cpu.json``: ratios between a database-
bound probe and a Python-bound one move with the processor, beyond the noise of one box.
``check`` reads this machine's own baseline when one is committed, else the default one. It
measures once and compares; a timing ratio outside its band is measured again, up to twice,
and fails only if every measurement is outside it, so a noisy minute costs a rerun, not a
false alarm. Every run appends a record to ``benchmarks/history/perf-check.jsonl``
(loadtests/history.py), with the confirming measurements.
Exit status: 0 pass, 1 regression, 2 no run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import calls, delivery, drive
from benchmarks.drive import ENDPOINTS, DriveError, say
from benchmarks.machines import (
    baseline_to_read,
    baseline_to_write,
    machine_baseline,
    same_machine,
)
from benchmarks.verdicts import (
    TOLERANCE_CAP,
    TOLERANCE_FLOOR,
    TOLERANCE_SPREADS,
    Verdict,
    baseline_of,
    compare,
    confirm,
    kind_of,
    table,
    verdict_line,
)
from loadtests import history
from loadtests.cpu import CpuMeter, per_request_ms
from loadtests.run import RunError, data_ensure

# Its own database and Redis keys, seeded `tiny` on first use: never the dev data, and the
# same rows on every machine, so exact query counts mean the same everywhere.
DATABASE_NAME = "instalab_perf"
REDIS_PREFIX = "perf"
SCALE = "tiny"
SEED = 42
BASELINE_PATH = drive.ROOT / "benchmarks" / "baseline.json"

# probe -> (endpoint label in benchmarks/drive.py, X-Lab-Strategy)
PROBES: dict[str, tuple[str, str]] = {
    "hello": ("hello", ""),
    "me": ("me", ""),
    "feed.naive": ("feed", "feed=naive"),
    "feed.optimized": ("feed", "feed=optimized"),
    "feed.cached": ("feed", "feed=cached"),
    "explore": ("explore", ""),
    "post": ("post", ""),
    "profile_posts": ("profile_posts", ""),
    "inbox.naive": ("inbox", "inbox=naive"),
    "inbox.optimized": ("inbox", "inbox=optimized"),
    "inbox.cached": ("inbox", "inbox=cached"),
    "search.naive": ("search_all", "search=naive"),
    "search.indexed": ("search_all", "search=indexed"),
    "search.cached": ("search_all", "search=cached"),
    "suggest": ("suggest", ""),
    "hashtag": ("hashtag", ""),
}
HELLO = "hello"
# Not an HTTP endpoint: the members' sockets of a group, every message counted on each.
CHAT = "chat"
# A/B pairs measured in the same rounds: name -> (faster strategy, the one it replaces).
PAIRS: dict[str, tuple[str, str]] = {
    "feed.optimized/naive": ("feed.optimized", "feed.naive"),
    "feed.cached/optimized": ("feed.cached", "feed.optimized"),
    "inbox.optimized/naive": ("inbox.optimized", "inbox.naive"),
    "inbox.cached/optimized": ("inbox.cached", "inbox.optimized"),
    "search.indexed/naive": ("search.indexed", "search.naive"),
    "search.cached/indexed": ("search.cached", "search.indexed"),
}
# Warm in-process requests per probe for the calls:<probe> figures: (warm-up, counted).
CALLS_REQUESTS = (10, 20)


@dataclass(frozen=True)
class Settings:
    rounds: int = 3
    seconds: float = 2.0
    warmup: float = 1.0
    connections: int = 16
    workers: int = 2


# --- measuring -----------------------------------------------------------------------------


@dataclass
class ProbeRuns:
    """One probe's rounds: wrk's throughput and the app's CPU per round."""

    path: str
    headers: dict[str, str]
    rps: list[float]
    cpu_seconds: float = 0.0
    requests: int = 0
    queries: int | None = None


def _sample_queries(server: drive.Server, runs: ProbeRuns, probe: str) -> int | None:
    """The warm request's query count; the same three times, or the probe is not exact."""
    counts: set[int | None] = set()
    for _ in range(3):
        answer = drive.http_get(base_url=server.base_url, path=runs.path, headers=runs.headers)
        if answer.status != 200:
            raise DriveError(f"{probe}: {runs.path} answered HTTP {answer.status}")
        counts.add(drive.server_timing(answer)["queries"])
    if len(counts) != 1:
        raise DriveError(f"{probe}: warm requests ran {sorted(counts)} queries: not exact")
    return counts.pop()


def _warm(server: drive.Server, probes: Mapping[str, ProbeRuns], settings: Settings) -> None:
    for probe, runs in probes.items():
        drive.wrk_run(
            base_url=server.base_url,
            path=runs.path,
            headers=runs.headers,
            seconds=settings.warmup,
            connections=settings.connections,
        )
        runs.queries = _sample_queries(server, runs, probe)
        say(f"warm {probe:<16} {runs.path}  {runs.queries} queries")


def _rounds(
    server: drive.Server, probes: Mapping[str, ProbeRuns], settings: Settings, meter: CpuMeter
) -> None:
    """Interleaved: every probe once per round, so a neighbour's burst hits them alike."""
    for number in range(1, settings.rounds + 1):
        for probe, runs in probes.items():
            meter.start()
            run = drive.wrk_run(
                base_url=server.base_url,
                path=runs.path,
                headers=runs.headers,
                seconds=settings.seconds,
                connections=settings.connections,
            )
            spent = meter.stop()
            if run.errors:
                raise DriveError(f"{probe}: {run.errors} failed responses; {server.log_hint()}")
            runs.rps.append(run.rps)
            runs.cpu_seconds += spent.get("app", 0.0)
            runs.requests += run.requests
        say(f"round {number}/{settings.rounds} done (load {drive.loadavg()[0]})")


def figures_of(probes: Mapping[str, ProbeRuns]) -> dict[str, float]:
    """Every figure the runs give, by name (``kind:subject``)."""
    found: dict[str, float] = {}
    hello = probes.get(HELLO)
    for probe, runs in probes.items():
        if runs.queries is not None and probe != HELLO:
            found[f"queries:{probe}"] = runs.queries
        if hello is not None and probe != HELLO:
            ratios = drive.ratios_per_round(values=runs.rps, baseline=hello.rps)
            found[f"share:{probe}"] = round(drive.median(ratios), 4)
        cpu = per_request_ms({"app": runs.cpu_seconds}, runs.requests)["app"]
        found[f"cpu:{probe}"] = round(cpu, 3)
    hello_cpu = found.get(f"cpu:{HELLO}")
    for probe in probes:
        if hello_cpu and probe != HELLO:
            found[f"cpushare:{probe}"] = round(found[f"cpu:{probe}"] / hello_cpu, 4)
    for pair, (fast, slow) in PAIRS.items():
        if fast in probes and slow in probes:
            ratios = drive.ratios_per_round(values=probes[fast].rps, baseline=probes[slow].rps)
            found[f"ab:{pair}"] = round(drive.median(ratios), 4)
    return found


def measure(
    names: Sequence[str], settings: Settings, *, with_calls: bool = True
) -> dict[str, float]:
    """Start the production-mode server, log a persona in, and take every figure once
    (``with_calls=False``: all but the call counts, which do not need measuring twice)."""
    drive.services_ensure()
    targets = drive.lab_targets()
    busy = drive.port_busy(drive.DEFAULT_WS_PORT)
    ws_port = drive.free_port() if busy else drive.DEFAULT_WS_PORT
    server = drive.server_start(port=None, ws_port=ws_port, workers=settings.workers)
    try:
        meter = CpuMeter.for_servers(
            app_pid=server.http_pid,
            database_url=drive.database_url(),
            redis_url=drive.redis_url(),
        )
        token = drive.login(
            base_url=server.base_url, username=targets.username, password=targets.password
        )
        probes = {
            name: ProbeRuns(
                path=targets.path(ENDPOINTS[PROBES[name][0]]),
                headers=drive.request_headers(token=token, strategy=PROBES[name][1]),
                rps=[],
            )
            for name in names
            if name in PROBES
        }
        _warm(server, probes, settings)
        _rounds(server, probes, settings, meter)
        found = figures_of(probes)
        if CHAT in names:
            found.update(_chat(server, targets, ws_url=f"ws://127.0.0.1:{ws_port}/ws/"))
    finally:
        server.stop()
    if with_calls and probes:
        found.update(_calls(targets, list(probes)))
    return found


def _calls(targets: drive.LabTargets, names: Sequence[str]) -> dict[str, float]:
    """Python function calls per warm request of each probe, in-process on production
    settings (benchmarks/calls.py): the CPU work, without the noise of the CPU's time."""
    warmup, requests = CALLS_REQUESTS
    spec = {
        name: {
            "path": targets.path(ENDPOINTS[PROBES[name][0]]),
            "strategy": PROBES[name][1],
            "user": targets.username,
        }
        for name in names
    }
    try:
        measured = calls.probes_run(spec, requests=requests, warmup=warmup)
    except calls.CallsError as exc:
        raise DriveError(f"calls per request: {exc}") from None
    say(f"calls per request: {len(measured)} probes, {requests} warm requests each, in-process")
    return {f"calls:{name}": figures["calls"] for name, figures in measured.items()}


def _chat(server: drive.Server, targets: drive.LabTargets, *, ws_url: str) -> dict[str, float]:
    usernames = delivery.members_pick(persona=targets.username)
    tokens = [
        drive.login(base_url=server.base_url, username=name, password=targets.password)
        for name in usernames
    ]
    found = delivery.measure(
        base_url=server.base_url, ws_url=ws_url, tokens=tokens, usernames=usernames
    )
    say(f"chat: {delivery.MESSAGES} messages to {len(tokens)} sockets: {found}")
    return found


# --- baseline and comparison ------------------------------------------------------------------


def probes_behind(figures: Iterable[str]) -> list[str]:
    """The probes a figure is computed from (hello for every share)."""
    wanted: set[str] = set()
    for figure in figures:
        kind, subject = figure.split(":", 1)
        if kind == "ab":
            wanted.update(PAIRS[subject])
        elif kind == "delivery":
            wanted.add(CHAT)
        else:
            wanted.add(subject)
        if kind in ("share", "cpushare"):
            wanted.add(HELLO)
    return [name for name in (*PROBES, CHAT) if name in wanted]


# --- history ---------------------------------------------------------------------------------


def record_of(
    kind: str,
    figures: Mapping[str, float],
    verdicts: Sequence[Verdict],
    *,
    again: Sequence[Mapping[str, float]] = (),
) -> dict[str, Any]:
    """A history record; ``again``: the measurements taken to confirm a figure, in order."""
    record = {
        "kind": kind,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": drive.commit(),
        "machine": drive.machine(),
        "loadavg": drive.loadavg(),
        "figures": dict(figures),
        "failed": [v.figure for v in verdicts if v.failed],
    }
    if again:
        record["again"] = [dict(figures) for figures in again]
    return record


# --- command line ----------------------------------------------------------------------------


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perfcheck", description=__doc__)
    parser.add_argument("command", choices=("check", "baseline"))
    parser.add_argument("--runs", type=int, default=5, help="baseline: measurements to take")
    known = (*PROBES, CHAT)
    parser.add_argument("--only", default="", help=f"comma-separated probes of {', '.join(known)}")
    parser.add_argument("--rounds", type=int, default=Settings.rounds)
    parser.add_argument("--seconds", type=float, default=Settings.seconds)
    parser.add_argument(
        "--update",
        action="store_true",
        help="baseline: replace only the figures of the --only probes, keep the others",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="the baseline file (default: this machine's under benchmarks/baselines/ when "
        "there is one, else benchmarks/baseline.json)",
    )
    parser.add_argument("--history", type=Path, default=history.HISTORY_DIR, help="a folder")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if HELLO not in names:
        names.insert(0, HELLO)
    if args.runs < 1 or args.rounds < 1 or args.seconds < 1:
        parser.error("--runs, --rounds and --seconds must be at least 1")
    if args.update and (args.command != "baseline" or not args.only):
        parser.error("--update goes with `baseline --only PROBES`")
    args.names = names
    args.settings = Settings(rounds=args.rounds, seconds=args.seconds)
    if args.baseline is None:
        pick = baseline_to_write if args.command == "baseline" else baseline_to_read
        args.baseline = pick(BASELINE_PATH, drive.machine())
    return args


def baseline_command(args: argparse.Namespace) -> int:
    runs = []
    for number in range(1, args.runs + 1):
        say(f"baseline measurement {number}/{args.runs}")
        runs.append(measure(args.names, args.settings))
    figures = baseline_of(runs)
    capped = [name for name, entry in figures.items() if entry.get("capped")]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    document = {
        "date": now,
        "commit": drive.commit(),
        "machine": drive.machine(),
        "settings": vars(args.settings),
        "tolerance_rule": {
            "spreads": TOLERANCE_SPREADS,
            "floor": TOLERANCE_FLOOR,
            "cap": TOLERANCE_CAP,
        },
        "figures": figures,
    }
    if args.update:
        figures = {name: entry for name, entry in figures.items() if named_by(name, args.only)}
        document = baseline_updated(args.baseline, figures, runs=args.runs, date=now)
    args.baseline.parent.mkdir(parents=True, exist_ok=True)
    args.baseline.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    for run in runs:
        history.append(record_of("baseline", run, []), args.history)
    say(f"wrote {args.baseline} ({len(figures)} figures from {args.runs} runs)")
    if capped:
        say(f"too noisy to catch a 30 % regression here (tolerance capped): {', '.join(capped)}")
    return 0


def named_by(figure: str, only: str) -> bool:
    """Whether ``figure`` belongs to the probes ``--only`` names (hello, measured with every
    probe for the shares, counts only when named itself)."""
    named = {name.strip() for name in only.split(",")}
    behind = set(probes_behind([figure]))
    if kind_of(figure) == "share":
        behind.discard(HELLO)
    return behind <= named


def baseline_updated(
    path: Path, figures: Mapping[str, Any], *, runs: int, date: str
) -> dict[str, Any]:
    """The baseline at ``path`` with ``figures`` replaced or added, the others kept, and the
    update recorded (which figures, when, at which commit, from how many runs)."""
    if not path.exists():
        raise DriveError(f"no baseline at {path} to update; run `make perf-baseline` first")
    document: dict[str, Any] = json.loads(path.read_text())
    document["figures"] = {**document["figures"], **figures}
    update = {"date": date, "commit": drive.commit(), "runs": runs, "figures": sorted(figures)}
    document["updates"] = [*document.get("updates", []), update]
    return document


def _shown(path: Path) -> str:
    return str(path.relative_to(drive.ROOT)) if path.is_relative_to(drive.ROOT) else str(path)


def check_command(args: argparse.Namespace) -> int:
    if not args.baseline.exists():
        raise DriveError(f"no baseline at {args.baseline}; run `make perf-baseline` first")
    document = json.loads(args.baseline.read_text())
    baseline = document["figures"]
    here = same_machine(document)
    say(f"baseline: {_shown(args.baseline)} ({document.get('machine', {}).get('cpu')})")
    figures = measure(args.names, args.settings)
    again: list[dict[str, float]] = []

    def remeasure(names: list[str]) -> dict[str, float]:
        again.append(measure(names, args.settings, with_calls=False))
        return again[-1]

    verdicts = confirm(
        compare(baseline, figures, same_machine=here), baseline, remeasure, probes_behind
    )
    history.append(record_of("check", figures, verdicts, again=again), args.history)
    print(table(verdicts))
    if not here:
        print(
            f"not judged: the absolute CPU figures (cpu:*), since the baseline was taken on "
            f"{document.get('machine', {}).get('cpu')} and this is {drive.machine().get('cpu')}; "
            "cpushare:* judges the same CPU relative to /lab/hello. Ratios between probes "
            "can move with the processor too: `make perf-baseline` on this machine commits a "
            f"baseline of its own ({_shown(machine_baseline(BASELINE_PATH, drive.machine()))})"
        )
    unknown = sorted(set(figures) - set(baseline))
    if unknown:
        print(f"not in the baseline (not judged): {', '.join(unknown)}")
    failed = [v for v in verdicts if v.failed]
    if failed:
        # Last, so that a log's tail (all CI shows of a long run) names them.
        print(f"perf-check FAILED: {len(failed)} of {len(verdicts)} figures", file=sys.stderr)
        for verdict in failed:
            print(f"  {verdict_line(verdict)}", file=sys.stderr)
        return 1
    print(f"perf-check passed: {len(verdicts)} figures within their tolerances")
    return 0


def data_use() -> None:
    """Point this process and the server it starts at the perf database, seeded if need be.
    PERF_DATABASE_URL overrides; by default it is the embedded server's instalab_perf."""
    from ops import services

    url = os.environ.get("PERF_DATABASE_URL") or services.database_url().replace(
        f"/{services.DATABASE_NAME}?", f"/{DATABASE_NAME}?", 1
    )
    os.environ["DATABASE_URL"] = url
    os.environ["REDIS_KEY_PREFIX"] = os.environ.get("PERF_REDIS_KEY_PREFIX", REDIS_PREFIX)
    try:
        data_ensure(scale=SCALE, seed=SEED, reseed=True)
    except RunError as exc:
        raise DriveError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.monotonic()
    try:
        drive.wrk_require(command="`make perf-check`")
        data_use()
        status = baseline_command(args) if args.command == "baseline" else check_command(args)
    except DriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say(f"{args.command} took {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
