"""The partitioning demonstration's report as Markdown: the migration's figures per table,
the hot reads side by side, and each read's plan before and after."""

from __future__ import annotations

from typing import Any


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _fks(table: dict[str, Any]) -> str:
    if table["fks_after_backfill"]:
        return f"after the backfill, {table['fks_late_seconds']:.2f} s"
    return "before the backfill"


def _tables(result: dict[str, Any]) -> list[str]:
    lines = [
        "| table | key | partitions | rows (plain / partitioned) | size (plain / partitioned) "
        "| backfill | batches (slowest) | writes meanwhile | rows differing (compare) | lock held "
        "| FKs | pointing FK validation |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in result["tables"]:
        fill, swap = t["backfill"], t["swap"]
        lines.append(
            f"| `{t['table']}` | HASH (`{t['key']}`) | {t['partitions']} "
            f"| {t['rows_plain']:,} / {t['rows_partitioned']:,} "
            f"| {_mb(t['bytes_plain'])} / {_mb(t['bytes_partitioned'])} "
            f"| {fill['seconds']:.2f} s "
            f"| {fill['batches']} ({fill['slowest_batch_seconds']:.2f} s) "
            f"| {t['writes_during_backfill']} "
            f"| {t['differing_before_swap']} ({t['compare_seconds']:.2f} s) "
            f"| {swap['lock_held_seconds'] * 1000:.0f} ms | {_fks(t)} "
            f"| {swap['validate_seconds'] * 1000:.0f} ms |"
        )
    return lines


def _queries(result: dict[str, Any]) -> list[str]:
    lines = [
        "| read | from | pruning | rows | identical | plain ms | partitioned ms "
        "| partitions in plan | scanned | scans |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| `{q['name']}` | {q['source']} | {q['pruning']} | {q['rows']} "
        f"| {'yes' if q['identical'] else '**NO**'} | {q['plain_ms']:.2f} "
        f"| {q['partitioned_ms']:.2f} | {q['partitions_in_plan']} "
        f"| {q['partitions_scanned']} | {q['partition_scans']} |"
        for q in result["queries"]
    )
    return lines


def _plans(result: dict[str, Any]) -> list[str]:
    lines = []
    for q in result["queries"]:
        lines += [
            f"### `{q['name']}`",
            "",
            "Plain table:",
            "",
            "```",
            q["plan_plain"],
            "```",
            "",
            "Partitioned:",
            "",
            "```",
            q["plan_partitioned"],
            "```",
            "",
        ]
    return lines


def markdown(result: dict[str, Any], *, label: str) -> str:
    copy = ", ".join(
        f"`{name}` {seconds:.2f} s" for name, seconds in result["copy_seconds"].items()
    )
    lines = [
        f"# Partitioning likes and messages at `{label}`",
        "",
        "Written by `python -m ops.partition demo` (`ops/partition.py`); the design and the "
        "reading of these figures are in docs/experiments/partitioning.md.",
        "",
        f"PostgreSQL {result['server_version']}, scratch schema `{result['schema']}`. "
        f"Copies of the seeded tables: {copy}.",
        "",
        "## The migration",
        "",
        *_tables(result),
        "",
        "## The hot reads, plain and partitioned",
        "",
        "Pruning `plan`: one partition left after planning; `run`: one partition scan per "
        "outer row, chosen at execution; `none`: the key is not in the query, every "
        "partition is read. Timings are the median of 15 warm runs.",
        "",
        f"Parameters: `{result['parameters']}`",
        "",
        *_queries(result),
        "",
        "## Plans (EXPLAIN ANALYZE, costs and timing off)",
        "",
        *_plans(result),
    ]
    return "\n".join(lines).rstrip() + "\n"
