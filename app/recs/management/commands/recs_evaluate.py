"""manage.py recs_evaluate: random, popular, ALS and the best blend on a leave-last-k-out split."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand

from app.recs import data, evaluate
from app.recs.train import Params
from seed.manifest import manifest_default_path, manifest_read


class Command(BaseCommand):
    help = "Score random, popular, als and the best blend (precision/recall/nDCG@10, coverage)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print {strategy: {metric: v}}")
        parser.add_argument("--tune", action="store_true", help="grid-search ALS first")
        parser.add_argument("--hold-out", type=int, default=evaluate.HOLD_OUT)
        parser.add_argument("--max-users", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--factors", type=int)
        parser.add_argument("--regularization", type=float)
        parser.add_argument("--iterations", type=int)
        parser.add_argument("--scaling", choices=["bm25", "log"])
        parser.add_argument("--alpha", type=float)

    def handle(self, *args: Any, **options: Any) -> None:
        quiet = options["json"]
        echo = (lambda _: None) if quiet else self.stdout.write
        started = time.perf_counter()
        events = data.interactions_load()
        split = evaluate.split_leave_last_k(events, k=options["hold_out"])
        echo(
            f"{len(events):,} events; {len(split.test_rows):,} users with {options['hold_out']} "
            f"held-out posts each ({time.perf_counter() - started:.1f} s)"
        )
        chosen = {
            name: options[name]
            for name in ("factors", "regularization", "iterations", "scaling", "alpha")
            if options[name] is not None
        }
        params = replace(Params(), **chosen)
        if options["tune"]:
            echo("tuning ALS (nDCG@10 on up to 2,000 test users):")
            ranked = evaluate.tune(split, params, echo=echo)
            best = ranked[0]
            params = Params(
                **{k: best[k] for k in ("factors", "regularization", "iterations", "alpha")},
                scaling=best["scaling"],
            )
            echo(f"best: {params}")
        manifest = manifest_read(manifest_default_path())
        results = evaluate.evaluate(
            split, params, max_users=options["max_users"], seed=options["seed"], manifest=manifest
        )
        if quiet:
            self.stdout.write(json.dumps(results, indent=1))
            return
        echo(evaluate.table(results))
        als, popular, random = (results[n]["precision@10"] for n in ("als", "popular", "random"))
        echo(
            f"als precision@10 = {als / max(popular, 1e-12):.1f}x popular, "
            f"{als / max(random, 1e-12):.1f}x random ({time.perf_counter() - started:.1f} s)"
        )
        served = evaluate.served_community(manifest)
        if served is not None:
            echo(
                f"live model: {served[0]:.1%} of the precomputed top-10 are by authors of the "
                f"user's planted community ({served[1]:,} users)"
            )
