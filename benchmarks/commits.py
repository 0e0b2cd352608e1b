"""Two commits compared on one box in one run: ``make bench-commits BEFORE=<rev> AFTER=<rev>``.

``python -m benchmarks.commits --before d6c07f2 --after HEAD`` checks both revisions out as git
worktrees, gives each a database seeded ``tiny`` (seed 42) by its own code and its own
production-mode server (DEBUG=0, granian split, 2 workers, no job worker), signs a persona in on
each (benchmarks/trees.py), and drives benchmarks/perfcheck.py's probes with wrk in interleaved
rounds: in round k every probe runs on one server and then on the other, the first side
alternating between rounds, so a neighbour's burst lands on both alike. Per probe it reports:

- the exact warm query count on each side (Server-Timing ``db;desc="N queries"``): a change is
  a change of behaviour, never noise;
- the share: the probe's req/s over /lab/hello's on the same server in the same round;
- the after/before ratio of the shares, per round, its median and the rounds' range;
- the app's CPU milliseconds per request on each side (loadtests/cpu.py).

A probe *regressed* when the median ratio is below 1 - threshold and no round reached 1; it
*improved* when the median is above 1 + threshold and every round was above 1. ``--gate`` also
runs the CI load-test gate (.ci/run: mixed at tiny) in each tree, back to back, with the after
tree's thresholds file. Writes benchmarks/results/commits-<before>-<after>.json and
reports/commits/<before>-<after>.md and prints the table. Exit status: 0 done (whatever the
verdicts), 2 no run (a bad revision, a missing tool, a server that did not start).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import drive, trees
from benchmarks.drive import ENDPOINTS, DriveError, say
from benchmarks.perfcheck import HELLO, PROBES
from benchmarks.trees import Tree
from loadtests.cpu import CpuMeter, per_request_ms

RESULTS = drive.ROOT / "benchmarks" / "results"
REPORTS = drive.ROOT / "reports" / "commits"
SIDES = ("before", "after")


@dataclass(frozen=True)
class Settings:
    rounds: int = 5
    seconds: float = 2.0
    warmup: float = 1.0
    connections: int = 16
    workers: int = 2
    threshold: float = 0.10


# --- the math (pure) -----------------------------------------------------------------------------


@dataclass
class Side:
    """One probe on one server: throughput per round, CPU, the warm query count."""

    path: str
    headers: dict[str, str]
    rps: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    requests: int = 0
    queries: list[int | None] = field(default_factory=list)


def shares(values: Sequence[float], hello: Sequence[float]) -> list[float]:
    """The probe's req/s over /lab/hello's, round by round."""
    return drive.ratios_per_round(values=values, baseline=hello)


def share_ratios(before: Sequence[float], after: Sequence[float]) -> list[float]:
    """after/before of the shares, round by round (a round with a 0 share on before: skipped)."""
    return drive.ratios_per_round(values=after, baseline=before)


def verdict(ratios: Sequence[float], *, threshold: float) -> str:
    """``regressed``/``improved`` only when the median is past the threshold and every round
    agrees on the direction; otherwise ``same`` (within the run's noise)."""
    if not ratios:
        return "n/a"
    middle = drive.median(ratios)
    if middle < 1 - threshold and max(ratios) < 1:
        return "regressed"
    if middle > 1 + threshold and min(ratios) > 1:
        return "improved"
    return "same"


def exact_count(samples: Sequence[int | None]) -> int | None:
    """The warm query count when every sample agrees, else None."""
    found = set(samples)
    return found.pop() if len(found) == 1 else None


def usual_count(samples: Sequence[int | None]) -> int | None:
    """The count most samples ran (the smaller on a tie). A warm request can run one query
    more now and then: a process's periodic refresh (the recommender's latest-version recheck
    every 30 s per worker, the popular list every 5 min) lands on whichever request is due."""
    counts = [sample for sample in samples if sample is not None]
    if not counts:
        return None
    return min(set(counts), key=lambda count: (-counts.count(count), count))


def queries_of(row: dict[str, Any]) -> None:
    """A row's query fields from its samples: exact or usual count per side, and whether the
    usual counts differ (a change of behaviour; a sample off by a refresh is not one)."""
    for side in SIDES:
        samples = row[f"query_samples_{side}"]
        row[f"queries_{side}"] = usual_count(samples)
        row[f"queries_exact_{side}"] = exact_count(samples) is not None
    row["queries_changed"] = row["queries_before"] != row["queries_after"]


def probe_figures(
    probe: str, before: Side, after: Side, hello: Mapping[str, Side], *, threshold: float
) -> dict[str, Any]:
    """One probe's row: queries, shares, the ratio's median and range, CPU, the verdict."""
    row: dict[str, Any] = {"probe": probe, "path": before.path}
    share = {
        side: shares(runs.rps, hello[side].rps)
        for side, runs in (("before", before), ("after", after))
    }
    ratios = share_ratios(share["before"], share["after"])
    for side, runs in (("before", before), ("after", after)):
        row[f"query_samples_{side}"] = list(runs.queries)
        row[f"rps_{side}"] = round(drive.median(runs.rps), 1)
        row[f"share_{side}"] = round(drive.median(share[side]), 4)
        row[f"cpu_ms_{side}"] = per_request_ms({"app": runs.cpu_seconds}, runs.requests)["app"]
    row["ratios"] = [round(r, 4) for r in ratios]
    row["ratio"] = round(drive.median(ratios), 4) if ratios else None
    row["ratio_min"] = round(min(ratios), 4) if ratios else None
    row["ratio_max"] = round(max(ratios), 4) if ratios else None
    queries_of(row)
    row["verdict"] = "baseline" if probe == HELLO else verdict(ratios, threshold=threshold)
    return row


def _num(value: Any, spec: str) -> str:
    return "?" if value is None else format(value, spec)


def cpu_ratio(row: Mapping[str, Any]) -> float | None:
    """The app's CPU per request after over before (None without a before figure)."""
    before, after = row.get("cpu_ms_before"), row.get("cpu_ms_after")
    return after / before if before and after is not None else None


def cpu_ratio_median(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """The median over the probes (hello left out) of their CPU after/before."""
    found = [r for r in (cpu_ratio(row) for row in rows if row["probe"] != HELLO) if r]
    return round(drive.median(found), 3) if found else None


def _count(row: Mapping[str, Any], side: str) -> str:
    """The usual count, with ``~`` when some sample ran another number."""
    exact = row.get(f"queries_exact_{side}", True)
    return _num(row[f"queries_{side}"], "d") + ("" if exact else "~")


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The Markdown table of every probe's row."""
    lines = [
        "| probe | queries before | queries after | share before | share after "
        "| after/before (median) | rounds' range | app CPU ms/req before | after "
        "| CPU after/before | verdict |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for row in rows:
        queries = {side: _count(row, side) for side in SIDES}
        queries_after = queries["after"]
        if row["queries_changed"]:
            queries_after = f"**{queries_after}**"
        mark = row["verdict"]
        if mark in ("regressed", "improved"):
            mark = f"**{mark}**"
        spread = f"{_num(row['ratio_min'], '.2f')}-{_num(row['ratio_max'], '.2f')}"
        lines.append(
            f"| {row['probe']} | {queries['before']} | {queries_after} "
            f"| {row['share_before']:.3f} | {row['share_after']:.3f} "
            f"| {_num(row['ratio'], '.3f')} | {spread} "
            f"| {row['cpu_ms_before']:.2f} | {row['cpu_ms_after']:.2f} "
            f"| {_num(cpu_ratio(row), '.3f')} | {mark} |"
        )
    return "\n".join(lines)


def gate_table(gates: Mapping[str, Mapping[str, Any]]) -> str:
    """The load-test gate of each side: verdict, aggregate p95, each endpoint's p95."""
    if not gates:
        return ""
    names = sorted({name for g in gates.values() for name in g.get("endpoints_p95_ms", {})})
    sides = [side for side in SIDES if side in gates]
    head = "| | " + " | ".join(f"{side} ({gates[side]['revision']})" for side in sides) + " |"
    lines = [head, "|---|" + "---:|" * len(sides)]

    def line(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    line("verdict", ["pass" if gates[s]["passed"] else "**FAIL**" for s in sides])
    line("requests", [_num(gates[s].get("requests"), "d") for s in sides])
    line("failures", [_num(gates[s].get("failures"), "d") for s in sides])
    line("req/s", [_num(gates[s].get("rps"), ".1f") for s in sides])
    line("aggregate p95 ms", [_num(gates[s].get("p95_ms"), ".0f") for s in sides])
    for name in names:
        line(f"{name} p95 ms", [_num(gates[s]["endpoints_p95_ms"].get(name), ".0f") for s in sides])
    for name in names:
        most = [gates[s].get("endpoints_max_queries", {}).get(name) for s in sides]
        if any(value is not None for value in most):
            line(f"{name} max queries", [_num(value, "d") for value in most])
    return "\n".join(lines)


# --- measuring ---------------------------------------------------------------------------------


def _queries(server: drive.Server, runs: Side, probe: str) -> None:
    for _ in range(3):
        answer = drive.http_get(base_url=server.base_url, path=runs.path, headers=runs.headers)
        if answer.status != 200:
            raise DriveError(f"{probe}: {server.base_url}{runs.path} answered {answer.status}")
        runs.queries.append(drive.server_timing(answer)["queries"])


def sides_of(tree: Tree, names: Sequence[str]) -> dict[str, Side]:
    assert tree.targets is not None
    return {
        name: Side(
            path=tree.targets.path(ENDPOINTS[PROBES[name][0]]),
            headers=drive.request_headers(token=tree.token, strategy=PROBES[name][1]),
        )
        for name in names
    }


def _wrk(tree: Tree, runs: Side, seconds: float, settings: Settings) -> drive.WrkRun:
    assert tree.server is not None
    return drive.wrk_run(
        base_url=tree.server.base_url,
        path=runs.path,
        headers=runs.headers,
        seconds=seconds,
        connections=settings.connections,
    )


def warm(tree: Tree, probes: Mapping[str, Side], settings: Settings) -> None:
    assert tree.server is not None
    for probe, runs in probes.items():
        _wrk(tree, runs, settings.warmup, settings)
        _queries(tree.server, runs, probe)
        say(f"warm {tree.label:<6} {probe:<16} {runs.path}  {runs.queries[-1]} queries")


def rounds(
    pair: Mapping[str, Tree],
    probes: Mapping[str, Mapping[str, Side]],
    meters: Mapping[str, CpuMeter],
    settings: Settings,
) -> None:
    """Round k: each probe on one side and then the other, the first side alternating."""
    names = list(probes["before"])
    for number in range(settings.rounds):
        order = SIDES if number % 2 == 0 else SIDES[::-1]
        for probe in names:
            for side in order:
                runs = probes[side][probe]
                meters[side].start()
                run = _wrk(pair[side], runs, settings.seconds, settings)
                spent = meters[side].stop()
                if run.errors:
                    server = pair[side].server
                    hint = server.log_hint() if server else ""
                    raise DriveError(f"{side} {probe}: {run.errors} failed responses; {hint}")
                runs.rps.append(run.rps)
                runs.cpu_seconds += spent.get("app", 0.0)
                runs.requests += run.requests
        load = drive.loadavg()[0]
        say(f"round {number + 1}/{settings.rounds} done ({order[0]} first, load {load})")
    for side in SIDES:
        tree = pair[side]
        assert tree.server is not None
        for probe, runs in probes[side].items():
            _queries(tree.server, runs, probe)


def measure(
    pair: Mapping[str, Tree], names: Sequence[str], settings: Settings
) -> list[dict[str, Any]]:
    probes = {side: sides_of(pair[side], names) for side in SIDES}
    meters = {}
    for side in SIDES:
        server = pair[side].server
        assert server is not None
        meters[side] = CpuMeter.for_servers(
            app_pid=server.http_pid,
            database_url=pair[side].database_url,
            redis_url=pair[side].redis_url,
        )
        warm(pair[side], probes[side], settings)
    rounds(pair, probes, meters, settings)
    hello = {side: probes[side][HELLO] for side in SIDES}
    return [
        probe_figures(
            name, probes["before"][name], probes["after"][name], hello, threshold=settings.threshold
        )
        for name in names
    ]


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Run:
    """Everything made for the comparison, so it is all undone on the way out."""

    root: Path
    trees: dict[str, Tree] = field(default_factory=dict)

    def cleanup(self) -> None:
        for tree in self.trees.values():
            trees.tree_stop(tree)
        for tree in self.trees.values():
            trees.database_drop(tree.database_url)
            trees.worktree_remove(tree.path)
        trees.worktrees_prune()
        shutil.rmtree(self.root, ignore_errors=True)
        say("worktrees, servers and databases removed")


def trees_make(run: Run, revisions: Mapping[str, trees.Revision]) -> None:
    base_url, redis_url = drive.database_url(), drive.redis_url()
    for side in SIDES:
        revision = revisions[side]
        say(f"{side}: git worktree of {revision.spec} ({revision.short})")
        # The same revision twice still gets two databases: the sides never share rows.
        suffix = (
            f"{revision.short}"
            if revisions["before"] != revisions["after"]
            else f"{revision.short}_{side}"
        )
        run.trees[side] = Tree(
            label=side,
            revision=revision,
            path=trees.worktree_add(label=side, revision=revision, under=run.root),
            database_url=trees.database_url_named(base_url, f"instalab_commit_{suffix}"),
            redis_url=redis_url,
            redis_prefix=f"commit_{suffix}",
        )


def compare(args: argparse.Namespace, run: Run) -> dict[str, Any]:
    revisions = {"before": args.before_rev, "after": args.after_rev}
    drive.services_ensure()
    trees_make(run, revisions)
    pair = run.trees
    differ = trees.requirements_differ(pair["before"].path, pair["after"].path)
    if differ:
        say(f"the trees' {', '.join(differ)} differ: one virtualenv serves both")
    for side in SIDES:
        trees.tree_prepare(pair[side])
    for side in SIDES:
        trees.tree_serve(pair[side], workers=args.settings.workers)
    rows = measure(pair, args.names, args.settings)
    for side in SIDES:
        trees.tree_stop(pair[side])
    gates = {}
    if args.gate:
        thresholds = pair["after"].path / "loadtests" / "thresholds" / "ci.toml"
        before_own = pair["before"].path / "loadtests" / "thresholds" / "ci.toml"
        if trees.files_differ(thresholds, before_own):
            say("the before tree's ci.toml differs: both gates use the after tree's")
        gates = {
            side: trees.gate_run(pair[side], thresholds=thresholds).figures() for side in SIDES
        }
    return document_of(args, rows=rows, gates=gates, requirements=differ)


def document_of(
    args: argparse.Namespace,
    *,
    rows: list[dict[str, Any]],
    gates: Mapping[str, Any],
    requirements: list[str],
) -> dict[str, Any]:
    tree_facts = {
        side: {"spec": rev.spec, "sha": rev.sha}
        for side, rev in (("before", args.before_rev), ("after", args.after_rev))
    }
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "checkout": drive.commit(),
        "machine": drive.machine(),
        "loadavg": drive.loadavg(),
        "settings": vars(args.settings),
        "revisions": tree_facts,
        "requirements_differ": requirements,
        "probes": rows,
        "regressed": [row["probe"] for row in rows if row["verdict"] == "regressed"],
        "queries_changed": [row["probe"] for row in rows if row["queries_changed"]],
        "gate": dict(gates),
    }


def markdown(document: Mapping[str, Any]) -> str:
    revs = document["revisions"]
    before, after = revs["before"], revs["after"]
    settings = document["settings"]
    parts = [
        f"# {before['sha'][:7]} ({before['spec']}) vs {after['sha'][:7]} ({after['spec']})",
        "",
        f"`python -m benchmarks.commits --before {before['spec']} --after {after['spec']}`, "
        f"{document['date']}, load {document['loadavg']}. {settings['rounds']} interleaved rounds "
        f"of {settings['seconds']:g} s per probe and side, {settings['connections']} connections, "
        f"{settings['workers']} workers each. Share: req/s over /lab/hello's on the same server "
        f"in the same round; after/before: the shares' ratio per round (median, range).",
        "",
        table(document["probes"]),
        "",
        f"Regressed beyond the noise (median below {1 - settings['threshold']:.2f} and no round "
        f"at 1): {', '.join(document['regressed']) or 'none'}. "
        f"Query counts changed: {', '.join(document['queries_changed']) or 'none'} "
        "(the count most warm samples ran; `~`: some sample ran another, as the JSON's "
        "query_samples show). The probes' median CPU after/before: "
        f"{_num(cpu_ratio_median(document['probes']), '.3f')}.",
    ]
    if document["requirements_differ"]:
        parts += ["", f"Lock files that differ: {', '.join(document['requirements_differ'])}."]
    if document["gate"]:
        parts += ["", "## The CI load-test gate, back to back", "", gate_table(document["gate"])]
    return "\n".join(parts) + "\n"


def write(document: Mapping[str, Any], *, results: Path, reports: Path) -> tuple[Path, Path]:
    return trees.pair_write(
        document, markdown(document), kind="commits", results=results, reports=reports
    )


# --- command line --------------------------------------------------------------------------------


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.commits", description=__doc__)
    parser.add_argument("--before", help="the revision before the change (required)")
    parser.add_argument("--after", default="HEAD", help="the revision after it (HEAD)")
    parser.add_argument("--only", default="", help=f"comma-separated probes of {', '.join(PROBES)}")
    parser.add_argument("--rounds", type=int, default=Settings.rounds)
    parser.add_argument("--seconds", type=float, default=Settings.seconds)
    parser.add_argument("--threshold", type=float, default=Settings.threshold)
    parser.add_argument(
        "--gate", action="store_true", help="also run the CI load-test gate in each"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON's folder")
    parser.add_argument("--reports", type=Path, default=REPORTS, help="the Markdown's folder")
    parser.add_argument(
        "--render", type=Path, help="measure nothing: rewrite the report of this results JSON"
    )
    args = parser.parse_args(argv)
    if not args.before and args.render is None:
        parser.error("--before is required")
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(PROBES)
    unknown = [name for name in names if name not in PROBES]
    if unknown:
        parser.error(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(PROBES)}")
    if HELLO not in names:
        names.insert(0, HELLO)
    if args.rounds < 2 or args.seconds < 1:
        parser.error(
            "--rounds must be at least 2 (the first side alternates) and --seconds at least 1"
        )
    if not 0 < args.threshold < 1:
        parser.error("--threshold is a fraction between 0 and 1, e.g. 0.10")
    args.names = names
    args.settings = Settings(rounds=args.rounds, seconds=args.seconds, threshold=args.threshold)
    return args


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def render(path: Path, *, results: Path, reports: Path) -> int:
    """A results JSON's report again, its query figures recomputed from the samples."""
    try:
        document = json.loads(path.read_text())
        for row in document["probes"]:
            queries_of(row)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {path} is not a bench-commits results file: {exc}", file=sys.stderr)
        return 2
    document["queries_changed"] = [r["probe"] for r in document["probes"] if r["queries_changed"]]
    json_path, md_path = write(document, results=results, reports=reports)
    print(markdown(document))
    say(f"wrote {json_path} and {md_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.render is not None:
        return render(args.render, results=args.results, reports=args.reports)
    started = time.monotonic()
    try:
        args.before_rev = trees.revision_resolve(args.before)
        args.after_rev = trees.revision_resolve(args.after)
        drive.wrk_require(command="`make bench-commits`")
    except DriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupted)
    run = Run(root=trees.temp_root())
    try:
        document = compare(args, run)
    except DriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        run.cleanup()
    json_path, md_path = write(document, results=args.results, reports=args.reports)
    print(markdown(document))
    say(f"wrote {json_path} and {md_path} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
