"""The plan's table and report: reports/capacity/dau-<N>.md, from a Plan, the model and the
costs, with the validation against every committed mix measurement."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.capacity.model import Cost, Costs, Model, Plan, cores_per_1000_rps

# The target: the prediction of CPU per 1,000 req/s within 25 % of the measurement.
TARGET_ERROR = 0.25


def _n(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def hardware_rows(plan: Plan, model: Model) -> list[tuple[str, str, str]]:
    """(piece, what it needs, how it was sized) for the table."""
    hw = model.hardware
    primary = "" if plan.primary_fits else " (more than one host: shard the writes)"
    return [
        ("peak load", f"{_n(plan.read_rps, 0)} reads/s + {_n(plan.write_rps, 0)} writes/s", ""),
        (
            "app",
            f"{_n(plan.app_cores)} cores = {plan.app_hosts} hosts of {hw.app_cores_per_host}",
            f"{_n(plan.cores_per_1000_rps, 3)} cores per 1,000 reads/s, plus writes",
        ),
        (
            "PostgreSQL primary",
            f"{_n(plan.primary_cores)} cores{primary}",
            "every write; reads of write requests not counted",
        ),
        (
            "PostgreSQL replicas",
            f"{plan.replicas} standbys ({_n(plan.replica_cores)} cores of reads)",
            f"GET reads; at least {hw.postgres_min_replicas}",
        ),
        (
            "Redis",
            f"{plan.redis_shards} shards: {_n(plan.redis_memory_gib)} GiB, "
            f"{_n(plan.redis_cores)} cores",
            f"{hw.redis_memory_per_shard_gib:g} GiB and one core a shard",
        ),
        (
            "socket processes",
            f"{plan.socket_processes} (/ws/)",
            f"{_n(plan.sockets, 0)} sockets at the peak, {_n(plan.messages_per_second, 0)} msg/s",
        ),
        (
            "storage growth",
            f"{_n(plan.storage_gib_per_day)} GiB a day, {_n(plan.storage_gib / 1024, 2)} TiB "
            f"in {hw.storage_days} days",
            "tables with their indexes",
        ),
        (
            "media growth",
            f"{_n(plan.media_gib_per_day)} GiB a day",
            "image renditions of new posts (object storage)",
        ),
    ]


def hardware_table(plan: Plan, model: Model) -> str:
    lines = ["| piece | needs at the peak | sized by |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in hardware_rows(plan, model)]
    return "\n".join(lines)


def assumptions_table(model: Model) -> str:
    t, hw = model.traffic, model.hardware
    reads = ", ".join(f"{k} {v:g}" for k, v in t.reads_per_dau.items())
    writes = ", ".join(f"{k} {v:g}" for k, v in t.writes_per_dau.items())
    total_r, total_w = sum(t.reads_per_dau.values()), sum(t.writes_per_dau.values())
    rows = [
        ("reads per DAU per day", f"{total_r:g}: {reads}"),
        ("writes per DAU per day", f"{total_w:g}: {writes}"),
        ("write share", f"{total_w / (total_r + total_w):.1%} of requests"),
        ("peak / average", f"{t.peak_to_average:g}"),
        ("minutes online per DAU", f"{t.minutes_online_per_dau:g}"),
        ("target CPU utilization", f"{hw.target_utilization:g}"),
        ("sockets per /ws/ process", f"{hw.sockets_per_process:,}"),
        ("Redis memory overhead", f"{hw.redis_memory_overhead:.0%}"),
    ]
    return "\n".join(["| assumption | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def costs_table(costs: Costs, raw: Mapping[str, Any]) -> str:
    lines = [
        "| request | app CPU ms | PostgreSQL CPU ms | Redis CPU ms | Server-Timing db ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, rows in (("read", costs.reads), ("write", costs.writes)):
        extra = raw.get(f"{kind}s", {})
        for label, cost in rows.items():
            db = extra.get(label, {}).get("db_ms_server_timing")
            lines.append(
                f"| {kind} {label} | {cost.app_ms:.2f} | {cost.pg_ms:.2f} | {cost.redis_ms:.2f} "
                f"| {'-' if db is None else f'{db:.1f}'} |"
            )
    return "\n".join(lines)


@dataclass(frozen=True)
class Source:
    """Per-request costs measured at one scale and worker count (a bench-endpoints report)."""

    scale: str
    workers: int
    reads: Mapping[str, Cost]
    file: str = ""

    @property
    def label(self) -> str:
        return f"{self.scale}, {self.workers} worker{'s' if self.workers > 1 else ''}"


def source_of(data: Mapping[str, Any], *, file: str = "") -> Source:
    """A bench-endpoints report's scale, workers (from "split, N workers") and costs."""
    settings = data["settings"]
    words = str(settings.get("server", "")).replace(",", " ").split()
    workers = next((int(w) for w in words if w.isdigit()), 0)
    reads = {
        label: Cost(
            app_ms=row["cpu_ms_per_request"].get("app", 0.0),
            pg_ms=row["cpu_ms_per_request"].get("postgres", 0.0),
            redis_ms=row["cpu_ms_per_request"].get("redis", 0.0),
        )
        for label, row in data["endpoints"].items()
    }
    return Source(scale=str(settings["scale"]), workers=workers, reads=reads, file=file)


def validation_rows(sources: list[Source], mixes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each source and each measured mix: the source's prediction of app cores per 1,000
    req/s for that mix's weights, against the mix's median round."""
    rows = []
    for source in sources:
        for mix in mixes:
            settings = mix["settings"]
            predicted = cores_per_1000_rps(settings["weights"], source.reads)
            measured = float(mix["cores_per_1000_rps"])
            error = (predicted - measured) / measured if measured else float("inf")
            target = Source(scale=settings["scale"], workers=settings["workers"], reads={})
            rows.append(
                {
                    "source": source.label,
                    "target": target.label,
                    "same": (source.scale, source.workers) == (target.scale, target.workers),
                    "predicted": round(predicted, 3),
                    "measured": round(measured, 3),
                    "rounds": [r["cpu_ms_per_request"]["app"] for r in mix["rounds"]],
                    "rps": mix["rps_median"],
                    "date": str(mix.get("date", ""))[:16].replace("T", " "),
                    "error": round(error, 4),
                    "met": abs(error) <= TARGET_ERROR,
                }
            )
    return rows


def validation_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| costs measured at | mix measured at | mix run (UTC) | predicted | measured (median) "
        "| rounds | mix req/s | error | within 25 % |",
        "|---|---|---|---:|---:|---|---:|---:|---|",
    ]
    for row in rows:
        rounds = ", ".join(f"{v:.2f}" for v in row["rounds"])
        same = " (same)" if row["same"] else ""
        lines.append(
            f"| {row['source']} | {row['target']}{same} | {row['date'] or '-'} "
            f"| {row['predicted']:.3f} "
            f"| {row['measured']:.3f} | {rounds} | {row['rps']:,.0f} "
            f"| {row['error']:+.1%} | {'yes' if row['met'] else '**no**'} |"
        )
    return "\n".join(lines)


def results_read(directory: Path) -> tuple[list[Source], list[dict[str, Any]]]:
    """The bench-endpoints reports (capacity-endpoints-*.json) and mixes (capacity-mix-*)."""
    sources = [
        source_of(json.loads(path.read_text()), file=path.name)
        for path in sorted(directory.glob("capacity-endpoints-*.json"))
    ]
    mixes = []
    for path in sorted(directory.glob("capacity-mix-*.json")):
        data = json.loads(path.read_text())
        data["file"] = path.name
        mixes.append(data)

    def order(scale: str, workers: int) -> tuple[bool, int]:
        return (scale != "tiny", workers)

    sources.sort(key=lambda s: order(s.scale, s.workers))
    mixes.sort(
        key=lambda m: (*order(m["settings"]["scale"], m["settings"]["workers"]), m.get("date", ""))
    )
    return sources, mixes


def markdown(
    *, plan: Plan, model: Model, costs: Costs, raw: Mapping[str, Any], validation: str
) -> str:
    origin = raw.get("origin", {})
    return (
        "\n\n".join(
            [
                f"# Capacity for {plan.dau:,} daily active users",
                "Written by `make capacity DAU=...` (`python -m benchmarks.capacity plan`) from "
                f"`benchmarks/results/capacity-costs.json` (measured {raw.get('date', '?')} at "
                f"commit {raw.get('commit', '?')}, {origin.get('reads', '?')}) and the traffic "
                "model `benchmarks/capacity/model.toml`. The formula is in docs/scaling.md.",
                "## Hardware at the peak",
                hardware_table(plan, model),
                "## Traffic model (assumptions)",
                assumptions_table(model),
                "## Measured costs per request",
                costs_table(costs, raw),
                f"Redis per active user: {costs.redis_bytes_per_active_user:,.0f} bytes; "
                f"socket CPU per chat message: {costs.socket_ms_per_message:.2f} ms.",
                "## Validation: app cores per 1,000 req/s of the read mix",
                validation,
            ]
        )
        + "\n"
    )
