"""``python -m benchmarks.capacity measure|plan|validate``; `make capacity DAU=10000000` plans.

- ``measure``: the per-request costs of the running system into
  benchmarks/results/capacity-costs.json (benchmarks/capacity/measure.py).
- ``plan --dau N``: costs and the traffic model (benchmarks/capacity/model.toml) into
  hardware; prints the table and writes reports/capacity/dau-<N>.md.
- ``validate --scale S --workers W``: the model's read mix driven with wrk, app CPU per 1,000
  req/s measured (benchmarks/capacity/validate.py).

Exit status: 0; 1 when a measurement saw failed responses; 2 for a bad parameter or a run
that could not be made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import drive
from benchmarks.capacity import measure as measuring
from benchmarks.capacity import report
from benchmarks.capacity.model import (
    MODEL_PATH,
    ModelError,
    costs_parse,
    dau_check,
    model_load,
    plan,
)
from benchmarks.capacity.validate import validate
from benchmarks.drive import DriveError

RESULTS = drive.ROOT / "benchmarks" / "results"
COSTS = RESULTS / "capacity-costs.json"
ENDPOINTS_REPORT = RESULTS / "capacity-endpoints-small-w2.json"
CHAT_REPORT = RESULTS / "chat-load-2000-hold300-rate200.json"
REPORTS = drive.ROOT / "reports" / "capacity"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__)
    parser.add_argument("--model", type=Path, default=MODEL_PATH, help="the traffic model")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="costs of the running system into capacity-costs.json")
    m.add_argument("--endpoints", type=Path, default=ENDPOINTS_REPORT, help="bench-endpoints")
    m.add_argument("--chat", type=Path, default=CHAT_REPORT, help="a chat-load report")
    m.add_argument("--writes", type=int, default=200, help="calls of each write")
    m.add_argument("--redis-sample", type=int, default=200, help="users whose keys are read")
    m.add_argument("--out", type=Path, default=COSTS)
    p = sub.add_parser("plan", help="hardware for --dau daily active users")
    p.add_argument("--dau", required=True, help="daily active users, e.g. 10000000")
    p.add_argument("--costs", type=Path, default=COSTS)
    p.add_argument("--results", type=Path, default=RESULTS, help="where capacity-mix-* are")
    p.add_argument("--out", type=Path, default=None, help="default reports/capacity/dau-N.md")
    v = sub.add_parser("validate", help="drive the read mix, measure app CPU per 1,000 req/s")
    v.add_argument("--scale", required=True, help="the seeded scale of DATABASE_URL")
    v.add_argument("--workers", type=int, default=2)
    v.add_argument("--seconds", type=float, default=10.0)
    v.add_argument("--warmup", type=float, default=3.0)
    v.add_argument("--rounds", type=int, default=3)
    v.add_argument("--connections", type=int, default=16)
    v.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    for name in ("writes", "redis_sample", "workers", "rounds", "connections"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.command == "plan":
        try:
            args.dau = dau_check(args.dau)
        except ModelError as exc:
            parser.error(str(exc))
    return args


def measure(args: argparse.Namespace) -> int:
    endpoints = json.loads(args.endpoints.read_text())
    chat = json.loads(args.chat.read_text())
    reads = measuring.reads_from_endpoints(endpoints)
    hello = reads.pop("hello")
    measuring.django_ready()
    drive.say("storage: rows and bytes of the big tables")
    storage = measuring.storage_measure()
    drive.say(f"Redis: the keys of {args.redis_sample} users after a feed read")
    redis = measuring.redis_measure(sample=args.redis_sample)
    drive.say(f"writes: {args.writes} of each")
    writes = measuring.writes_measure(count=args.writes, http_app_ms=hello["app_ms"])
    costs: dict[str, Any] = {
        "benchmark": "capacity-costs",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": drive.commit(),
        "machine": drive.machine(),
        "scale": measuring.seed_scale(),
        "origin": {
            "reads": f"{measuring.source_name(args.endpoints)} "
            f"({endpoints['settings']['scale']}, {endpoints['settings']['server']})",
            "writes": f"in-process, {args.writes} calls each, plus hello's app ms "
            f"({hello['app_ms']:.2f}) for HTTP",
            "storage": "pg_total_relation_size / count(*) on the seeded database",
            "sockets": measuring.source_name(args.chat),
        },
        "http_overhead": hello,
        "reads": reads,
        "writes": writes,
        "redis": redis,
        "storage": storage,
        "sockets": measuring.chat_costs(chat, source=measuring.source_name(args.chat)),
    }
    costs_parse(costs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(costs, indent=2) + "\n")
    print(f"saved {measuring.source_name(args.out)}")
    return 0


def plan_run(args: argparse.Namespace) -> int:
    model = model_load(args.model)
    try:
        raw = json.loads(args.costs.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the costs {args.costs}: {exc}; run measure") from None
    costs = costs_parse(raw)
    found = plan(dau=args.dau, model=model, costs=costs)
    rows = report.validation_rows(*report.results_read(args.results))
    validation = report.validation_table(rows) if rows else "(no mix measured)"
    text = report.markdown(plan=found, model=model, costs=costs, raw=raw, validation=validation)
    out = args.out or REPORTS / f"dau-{args.dau}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"capacity for {args.dau:,} DAU (model {measuring.source_name(args.model)})")
    print(report.hardware_table(found, model))
    print()
    print(validation)
    print(f"saved {measuring.source_name(out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        if args.command == "measure":
            return measure(args)
        if args.command == "validate":
            return validate(args, model_load(args.model).traffic.reads_per_dau)
        return plan_run(args)
    except (ModelError, DriveError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
