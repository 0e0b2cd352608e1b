"""manage.py recs_evaluate: every strategy on a train / validation / test split by time.

Parameters (with --tune, the ALS grid and the recency tau) and the blend weight are chosen on
the validation split; the test split is scored once, with what validation chose. With
--interactions FILE the same protocol runs on an outside log, without the database.
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from app.recs import data, evaluate, outside, seeded
from app.recs.train import Params

Array = np.ndarray[Any, Any]
MODEL_FLAGS = ("factors", "regularization", "iterations", "scaling", "alpha")


@dataclass
class Source:
    """What is evaluated: events, the item catalogue, planted communities if known."""

    events: data.Interactions
    catalogue: evaluate.Catalogue
    communities: tuple[Array, Array] | None  # (per user row, per item column)
    described: dict[str, Any]
    planted: Array | None = None  # per seeded user id - 1


def tau_days(text: str) -> float | str:
    """--tau: days, or "none" for plain ALS (kept apart from the option's absence)."""
    return "none" if text.lower() == "none" else float(text)


def iso(us: int) -> str:
    return str(np.datetime64(int(us), "us"))[:19] + "Z"


def database_source(manifest: Path | None) -> Source:
    events = data.interactions_load()
    post_ids, author_ids, created = data.post_catalogue()
    facts = seeded.manifest_read(manifest)
    planted = seeded.planted_communities(facts)
    planted_by = None
    if planted is not None:
        users = np.unique(events.user)
        planted_by = seeded.communities(planted, users, post_ids, author_ids, post_ids)
    return Source(
        events=events,
        catalogue=evaluate.Catalogue(ids=post_ids, created=created),
        communities=planted_by,
        described={
            "source": "the database (likes, comments, saves, DM shares)",
            "item_times": "post creation times: ALS ranks as served, affinity x "
            "exp(-age / tau) over the posts of the last 14 days",
            "weights": dict(data.WEIGHTS),
            "seeded": seeded.seeded_as(facts) or "unknown (no seed manifest)",
        },
        planted=planted,
    )


def file_source(path: Path, item_times: str) -> Source:
    """An outside log. It has no item creation times: with ``none`` ALS ranks without a
    recency window; with ``first-event`` an item's first event in the log stands in for its
    creation, which leaks nothing (an item is recommendable at a split's start only if that
    event came before it, and its age is then known)."""
    try:
        log = outside.log_read(path)
    except outside.BadFile as exc:
        raise CommandError(str(exc)) from None
    created = None
    times = (
        "none in the file: no recency window (ALS ranks every item, as `als (no recency)` "
        "does on seeded data)"
    )
    if item_times == "first-event":
        created = np.full(len(log.item_names), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(created, log.events.post, log.events.ts)
        times = (
            "none in the file: each item's first event stands in for its creation time, and "
            "ALS ranks as served (affinity x exp(-age / tau), items first seen in the last "
            "14 days)"
        )
    return Source(
        events=log.events,
        catalogue=evaluate.Catalogue(ids=np.arange(len(log.item_names)), created=created),
        communities=None,
        described={
            "source": str(path),
            "delimiter": {"\t": "tab"}.get(log.delimiter, log.delimiter),
            "item_times": times + "; an item is recommendable from its first training event",
            "weights": "the file's weight column" if log.weighted else "1 per event",
        },
    )


def split_facts(split: evaluate.Split) -> dict[str, Any]:
    return {
        "from": iso(split.start),
        "to": iso(split.end),
        "train_events": len(split.train_events),
        "users": len(split.test_rows),
        "held_out_pairs": int(split.test.nnz),
        "cold_pairs_dropped": split.cold_pairs,
    }


def outcomes_json(
    outcomes: dict[str, evaluate.Outcome], intervals: dict[str, dict[str, tuple[float, float]]]
) -> dict[str, dict[str, Any]]:
    return {
        name: {
            **{metric: round(value, 6) for metric, value in outcome.metrics.items()},
            "ci95": {m: [round(b, 6) for b in bounds] for m, bounds in intervals[name].items()},
        }
        for name, outcome in outcomes.items()
    }


def times(ratio: float | None) -> str:
    return "unbounded" if ratio is None else f"{ratio:.2f}x"


def markdown(report: dict[str, Any]) -> str:
    """The report as the markdown saved under reports/ and printed without --json."""
    protocol = report["protocol"]
    lines = [
        f"# recs_evaluate: {report['data']['source']}",
        "",
        f"- events: {report['data']['events']:,}; users: {report['data']['users']:,}; "
        f"items: {report['data']['items']:,}",
        f"- item times: {report['data']['item_times']}",
        f"- event weights: {report['data']['weights']}",
        *([f"- seeded: {report['data']['seeded']}"] if "seeded" in report["data"] else []),
        f"- split by time: validation = the {protocol['window_share']:.0%} of events before "
        f"the last {protocol['window_share']:.0%}, test = the last {protocol['window_share']:.0%}; "
        f"held out per user: the items first touched in the window that existed at its start "
        f"(users with >= {protocol['min_train']} train items, at most "
        f"{protocol['max_users']:,} sampled)",
        f"- 95 % intervals: bootstrap over each split's users, {protocol['draws']} draws, seed "
        f"{protocol['seed']}",
        f"- parameters chosen on: {report['chosen_on']}",
        f"- parameters: {report['params']}; blend weight {report['blend_weight']} "
        "(chosen on validation)",
        "",
    ]
    for name in ("validation", "test"):
        facts = protocol[name]
        lines += [
            f"## {name}: {facts['from']} .. {facts['to']}",
            "",
            f"Trained on {facts['train_events']:,} events before {facts['from']}; "
            f"{facts['users']:,} users, {facts['held_out_pairs']:,} held-out pairs "
            f"({facts['cold_pairs_dropped']:,} more on items new in the window dropped).",
            "",
            evaluate.table(
                {n: {m: v for m, v in r.items() if m != "ci95"} for n, r in report[name].items()},
                {n: {m: tuple(b) for m, b in r["ci95"].items()} for n, r in report[name].items()},
            ),
            "",
        ]
    for label, (ratio, low, high) in report["ratios"].items():
        lines.append(
            f"- test {label}: **{times(ratio)}** (95 % interval {times(low)} to {times(high)})"
        )
    if "live" in report:
        lines.append(f"- live model: {report['live']}")
    if report["tuning"]:
        lines += ["", "## tuning on validation (ALS alone, best 10 of the grid)", ""]
        lines += ["| factors | reg | iterations | scaling | alpha | tau (days) | p@10 | nDCG@10 |"]
        lines += ["|---:|---:|---:|---|---:|---:|---:|---:|"]
        lines += [
            f"| {r['factors']} | {r['regularization']} | {r['iterations']} | {r['scaling']} | "
            f"{r['alpha']} | {r['recency_days'] or 'none'} | {r['precision@10']:.4f} | "
            f"{r['ndcg@10']:.4f} |"
            for r in report["tuning"][:10]
        ]
    return "\n".join(lines) + "\n"


def splits_of(source: Source, options: dict[str, Any]) -> dict[str, evaluate.Split]:
    """The validation and test splits by time; an error when either has no one to test."""
    events = source.events
    first, second, end = evaluate.windows(events, options["window_share"])
    splits = {
        name: evaluate.split_by_time(
            events,
            start=start,
            end=stop,
            catalogue=source.catalogue,
            min_train=options["min_train"],
        )
        for name, start, stop in (("validation", first, second), ("test", second, end))
    }
    if not len(splits["test"].test_rows) or not len(splits["validation"].test_rows):
        raise CommandError("no user has held-out items in both windows: too little data")
    return splits


@dataclass
class Scores:
    """Every strategy scored on both splits, the blend weight validation chose, and the test
    split's ALS-over-popular ratios with their intervals."""

    validation: dict[str, evaluate.Outcome]
    test: dict[str, evaluate.Outcome]
    weight: float | None
    ratios: dict[str, tuple[float | None, float | None, float | None]]


def scores_of(
    splits: dict[str, evaluate.Split], params: Params, source: Source, options: dict[str, Any]
) -> Scores:
    """Score validation, let it choose the blend weight, then score test once with it."""
    common = {
        "max_users": options["max_users"],
        "seed": options["seed"],
        "communities": source.communities,
    }
    validation = evaluate.evaluate(splits["validation"], params, **common)
    weight = evaluate.best_blend(validation)
    test = evaluate.evaluate(
        splits["test"], params, blends=(weight,) if weight is not None else (), **common
    )
    ratios = {
        f"als / {base} precision@10": evaluate.ratio_interval(
            test["als"], test[base], "precision@10", draws=options["draws"], seed=options["seed"]
        )
        for base in ("popular", "popular (train counts)")
    }
    return Scores(validation=validation, test=test, weight=weight, ratios=ratios)


def report_of(
    *,
    source: Source,
    splits: dict[str, evaluate.Split],
    options: dict[str, Any],
    chosen: tuple[Params, str, list[dict[str, Any]]],
    scores: Scores,
    started: float,
) -> dict[str, Any]:
    """The report saved as JSON and rendered by ``markdown``: the data, the protocol, what
    was chosen and on which split, each split's outcomes with intervals, the test ratios."""
    params, chosen_on, tuned = chosen
    events = source.events
    draws = {"draws": options["draws"], "seed": options["seed"]}
    report: dict[str, Any] = {
        "data": {
            **source.described,
            "events": len(events),
            "users": len(np.unique(events.user)),
            "items": len(source.catalogue.ids),
        },
        "protocol": {
            "window_share": options["window_share"],
            "min_train": options["min_train"],
            "max_users": options["max_users"],
            "k": evaluate.K,
            **draws,
            "validation": split_facts(splits["validation"]),
            "test": split_facts(splits["test"]),
        },
        "chosen_on": chosen_on,
        "params": {k: v for k, v in asdict(params).items() if k != "weights"},
        "blend_weight": scores.weight,
        "validation": outcomes_json(
            scores.validation, evaluate.bootstrap(scores.validation, **draws)
        ),
        "test": outcomes_json(scores.test, evaluate.bootstrap(scores.test, **draws)),
        "ratios": {
            label: [None if v is None else round(v, 4) for v in values]
            for label, values in scores.ratios.items()
        },
        "tuning": tuned,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if source.planted is not None:
        served = evaluate.served_community(source.planted)
        if served is not None:
            report["live"] = (
                f"{served[0]:.1%} of the precomputed top-10 are by authors of the user's "
                f"planted community ({served[1]:,} users)"
            )
    return report


class Command(BaseCommand):
    help = (
        "Score random, two popular baselines, ALS and a blend on a train / validation / test "
        "split by time: validation chooses, test is reported once, with 95 % intervals."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--tune", action="store_true", help="grid-search ALS on validation")
        parser.add_argument(
            "--interactions",
            type=Path,
            help="an outside CSV/TSV log (user, item, timestamp[, weight]); no database",
        )
        parser.add_argument(
            "--item-times",
            choices=["none", "first-event"],
            default="none",
            help="with --interactions: no recency window, or first events as creation times",
        )
        parser.add_argument("--manifest", type=Path, help="the seed manifest (communities)")
        parser.add_argument("--save", type=Path, help="also write PREFIX.json and PREFIX.md")
        parser.add_argument(
            "--window-share",
            type=float,
            default=evaluate.WINDOW_SHARE,
            help="share of the events in each of the validation and test windows",
        )
        parser.add_argument(
            "--min-train", type=int, default=evaluate.MIN_TRAIN, help="train items to be tested"
        )
        parser.add_argument("--max-users", type=int, default=5000, help="users scored per split")
        parser.add_argument("--tune-users", type=int, default=2000, help="users per tuning fit")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--draws", type=int, default=evaluate.DRAWS, help="bootstrap draws per interval"
        )
        parser.add_argument("--factors", type=int)
        parser.add_argument("--regularization", type=float)
        parser.add_argument("--iterations", type=int)
        parser.add_argument("--scaling", choices=["bm25", "log"])
        parser.add_argument("--alpha", type=float)
        parser.add_argument("--tau", type=tau_days, help="recency time constant in days, or 'none'")

    def choose(
        self,
        options: dict[str, Any],
        source: Source,
        validation: evaluate.Split,
        echo: Callable[[str], None],
    ) -> tuple[Params, str, list[dict[str, Any]]]:
        """(params, which split chose them, the tuning rows): the flags over the Params
        defaults, then with --tune the best of the grid on the validation split."""
        chosen = {name: options[name] for name in MODEL_FLAGS if options[name] is not None}
        if options["tau"] is not None:
            chosen["recency_days"] = None if options["tau"] == "none" else options["tau"]
        params = replace(Params(), **chosen)
        if source.catalogue.created is None:
            params = replace(params, recency_days=None)
        if not options["tune"]:
            given = "the Params defaults"
            if chosen:
                given = "command-line flags and " + given
            return params, f"none: {given}, not tuned in this run", []
        candidates = evaluate.grid(params)
        taus = " x recency tau" if source.catalogue.created is not None else ""
        echo(f"tuning on validation (nDCG@10, {options['tune_users']:,} users):")
        tuned = evaluate.tune(
            validation, params, max_users=options["tune_users"], echo=echo, params_grid=candidates
        )
        chosen_on = (
            f"validation ({len(candidates)} ALS fits{taus}, best nDCG@10); "
            "the test split played no part"
        )
        return evaluate.params_of(tuned[0], params), chosen_on, tuned

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["window_share"] < 0.5:
            raise CommandError("--window-share must be between 0 and 0.5")
        echo = (lambda _: None) if options["json"] else self.stdout.write
        started = time.perf_counter()
        path = options["interactions"]
        if path:
            source = file_source(path, options["item_times"])
        else:
            source = database_source(options["manifest"])
        splits = splits_of(source, options)
        echo(f"{len(source.events):,} events loaded ({time.perf_counter() - started:.1f} s)")
        chosen = self.choose(options, source, splits["validation"], echo)
        scores = scores_of(splits, chosen[0], source, options)
        report = report_of(
            source=source,
            splits=splits,
            options=options,
            chosen=chosen,
            scores=scores,
            started=started,
        )
        text = markdown(report)
        if options["save"]:
            prefix = options["save"]
            prefix.parent.mkdir(parents=True, exist_ok=True)
            Path(f"{prefix}.json").write_text(json.dumps(report, indent=1) + "\n")
            Path(f"{prefix}.md").write_text(text)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=1))
        else:
            echo(text)
