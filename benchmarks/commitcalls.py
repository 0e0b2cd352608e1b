"""Two revisions' Python calls and SQL per request, probe by probe: ``make bench-calls``.

``python -m benchmarks.commitcalls --before d6c07f2 [--after HEAD]`` checks both revisions out
as git worktrees with a database each, migrated and seeded ``tiny`` by the tree's own code
(benchmarks/trees.py, as bench-commits does), then runs benchmarks/calls.py in each tree for
every probe of perf-check (benchmarks/perfcheck.py): the same persona, paths and strategies.
Per probe it reports the exact SQL count, the Python function calls per warm request (the same
on every run of the same code and data, to within a periodic refresh's few calls, so a larger
change is a change of work), the in-process CPU milliseconds (noisy, for scale) and, where the
calls moved, the functions that moved most. bench-commits says how much a tree's CPU moved;
this says whether the code does more work and where. Writes
benchmarks/results/calls-<before>-<after>.json and reports/calls/<before>-<after>.md and prints
the table. Exit status: 0 done, 2 no run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import calls, drive, trees
from benchmarks.drive import ENDPOINTS, DriveError, say
from benchmarks.perfcheck import PROBES
from benchmarks.trees import Tree

RESULTS = drive.ROOT / "benchmarks" / "results"
REPORTS = drive.ROOT / "reports" / "calls"
SIDES = ("before", "after")
CALLS = Path(calls.__file__)
# Calls per request that moved by less than this share are reported without their functions.
NOTICE = 0.005
TOP = 8


def probe_run(
    tree: Tree, *, probe: str, path: str, strategy: str, user: str, requests: int, out: Path
) -> dict[str, Any]:
    """benchmarks/calls.py run in the tree's checkout, on its database: the figures, and the
    calls per function (from its profile)."""
    figures_path, profile_path = (
        out / f"{tree.label}-{probe}.json",
        out / f"{tree.label}-{probe}.prof",
    )
    env = {**tree.environ(), "DEBUG": "0", "LAB_EXPERIMENTS": "1"}
    tree.python(
        str(CALLS),
        "--path", path,
        "--strategy", strategy,
        "--user", user,
        "--requests", str(requests),
        "--out", str(figures_path),
        "--profile", str(profile_path),
        env=env,
        timeout=900,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(figures_path.read_text())
    figures["functions"] = calls.call_counts(profile_path)
    return figures


def change(before: float, after: float) -> float | None:
    return after / before - 1 if before else None


def row_of(probe: str, sides: Mapping[str, Mapping[str, Any]], *, requests: int) -> dict[str, Any]:
    before, after = sides["before"], sides["after"]
    moved: list[list[Any]] = []
    calls_change = change(before["calls"], after["calls"])
    if calls_change is not None and abs(calls_change) >= NOTICE:
        for line in calls.moved(
            before["functions"], after["functions"], requests=requests, top=TOP
        ).splitlines():
            delta, name = line.split(maxsplit=1)
            moved.append([float(delta), name])
    return {
        "probe": probe,
        "path": after["path"],
        "strategy": after["strategy"],
        "queries": {side: sides[side]["queries"] for side in SIDES},
        "calls": {side: sides[side]["calls"] for side in SIDES},
        "calls_change": calls_change,
        "cpu_ms": {side: sides[side]["cpu_ms"] for side in SIDES},
        "moved": moved,
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def markdown(document: Mapping[str, Any]) -> str:
    revs, machine = document["revisions"], document["machine"]
    lines = [
        f"# Calls per request: {revs['before']['sha'][:7]} against {revs['after']['sha'][:7]}",
        "",
        f"`{document['command']}` on {document['date']} ({machine['cpu']}, "
        f"{machine['nproc']} cores), "
        f"{document['requests']} warm requests per probe in-process (benchmarks/calls.py), "
        f"persona `{document['persona']}`, `tiny` seeded by each tree's own code.",
        "",
        "| probe | queries before | after | calls before | after | change "
        "| CPU ms before | after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in document["probes"]:
        queries = row["queries"]
        mark = " **changed**" if queries["before"] != queries["after"] else ""
        lines.append(
            f"| {row['probe']} | {queries['before']} | {queries['after']}{mark} | "
            f"{row['calls']['before']:,.0f} | {row['calls']['after']:,.0f} | "
            f"{_pct(row['calls_change'])} | {row['cpu_ms']['before']:.2f} | "
            f"{row['cpu_ms']['after']:.2f} |"
        )
    moved = [row for row in document["probes"] if row["moved"]]
    if moved:
        lines += ["", f"## Where the calls moved (probes that moved {NOTICE:.1%} or more)"]
        for row in moved:
            lines += ["", f"{row['probe']} (calls per request, after minus before):", ""]
            lines += [f"- {delta:+.1f} `{name}`" for delta, name in row["moved"]]
    lines += [
        "",
        "Calls are cProfile's count of Python and built-in function calls; CPU ms is process "
        "time without the profiler, noisy on a shared box and given for scale only.",
    ]
    return "\n".join(lines) + "\n"


def write(document: Mapping[str, Any], *, results: Path, reports: Path) -> tuple[Path, Path]:
    return trees.pair_write(
        document, markdown(document), kind="calls", results=results, reports=reports
    )


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.commitcalls", description=__doc__)
    parser.add_argument("--before", required=True, help="the revision before the change")
    parser.add_argument("--after", default="HEAD", help="the revision after it (HEAD)")
    parser.add_argument("--only", default="", help=f"comma-separated probes of {', '.join(PROBES)}")
    parser.add_argument("--requests", type=int, default=30, help="measured requests (30)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON's folder")
    parser.add_argument("--reports", type=Path, default=REPORTS, help="the Markdown's folder")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(PROBES)
    unknown = [name for name in names if name not in PROBES]
    if unknown:
        parser.error(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(PROBES)}")
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    args.names = names
    return args


def measure(args: argparse.Namespace, pair: Mapping[str, Tree], out: Path) -> list[dict[str, Any]]:
    rows = []
    for probe in args.names:
        endpoint, strategy = PROBES[probe]
        sides = {}
        for side in SIDES:
            targets = pair[side].targets
            assert targets is not None
            sides[side] = probe_run(
                pair[side],
                probe=probe,
                path=targets.path(ENDPOINTS[endpoint]),
                strategy=strategy,
                user=targets.username,
                requests=args.requests,
                out=out,
            )
        row = row_of(probe, sides, requests=args.requests)
        say(f"{probe}: {row['calls']['before']:,.0f} -> {row['calls']['after']:,.0f} calls")
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    started = time.monotonic()
    try:
        revisions = {"before": trees.revision_resolve(args.before)}
        revisions["after"] = trees.revision_resolve(args.after)
    except DriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = trees.temp_root()
    pair: dict[str, Tree] = {}
    try:
        drive.services_ensure()
        base_url, redis_url = drive.database_url(), drive.redis_url()
        for side in SIDES:
            revision = revisions[side]
            suffix = f"{revision.short}_{side}"
            pair[side] = Tree(
                label=side,
                revision=revision,
                path=trees.worktree_add(label=side, revision=revision, under=root),
                database_url=trees.database_url_named(base_url, f"instalab_calls_{suffix}"),
                redis_url=redis_url,
                redis_prefix=f"calls_{suffix}",
            )
            trees.tree_prepare(pair[side])
            pair[side].targets = trees.targets_read(
                pair[side].database_url, password=trees.lab_password(pair[side])
            )
        rows = measure(args, pair, root)
    except DriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for tree in pair.values():
            trees.database_drop(tree.database_url)
            trees.worktree_remove(tree.path)
        trees.worktrees_prune()
        shutil.rmtree(root, ignore_errors=True)
    persona = pair["after"].targets.username if pair["after"].targets else ""
    document = {
        "command": f"make bench-calls BEFORE={args.before} AFTER={args.after}",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "checkout": drive.commit(),
        "machine": drive.machine(),
        "revisions": {side: {"spec": rev.spec, "sha": rev.sha} for side, rev in revisions.items()},
        "requests": args.requests,
        "persona": persona,
        "probes": rows,
        "seconds": round(time.monotonic() - started, 1),
    }
    json_path, md_path = write(document, results=args.results, reports=args.reports)
    print(markdown(document))
    say(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
