"""manage.py recs_train: train ALS, version the artefact, publish every active user's top-N."""

from __future__ import annotations

from argparse import ArgumentParser
from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from app.recs.train import Params, recs_train, recs_train_if_stale


class Command(BaseCommand):
    help = "Train the recommender (implicit ALS) and publish top-N lists to Redis."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--if-stale",
            action="store_true",
            help="skip when a READY model matches the current data and is live",
        )
        parser.add_argument("--factors", type=int)
        parser.add_argument("--regularization", type=float)
        parser.add_argument("--iterations", type=int)
        parser.add_argument("--scaling", choices=["bm25", "log"])
        parser.add_argument("--alpha", type=float)

    def handle(self, *args: Any, **options: Any) -> None:
        echo = self.stdout.write
        progress = options["verbosity"] > 0
        chosen = {
            name: options[name]
            for name in ("factors", "regularization", "iterations", "scaling", "alpha")
            if options[name] is not None
        }
        try:
            if options["if_stale"] and not chosen:
                version = recs_train_if_stale(echo=echo, progress=progress)
            else:
                version = recs_train(
                    params=replace(Params(), **chosen), echo=echo, progress=progress
                )
        except Exception as exc:
            raise CommandError(f"training failed, the live model is unchanged: {exc}") from exc
        echo(self.style.SUCCESS(f"model v{version.pk} is live"))
