"""recs_evaluate --interactions: an outside log, evaluated without the database."""

from __future__ import annotations

import json
from dataclasses import replace
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from app.recs import evaluate, outside
from app.recs.tests.outside_log import log_write
from app.recs.train import Params

SMALL = ["--factors", "8", "--iterations", "5", "--draws", "50", "--min-train", "3"]


def evaluate_file(path: Path, *extra: str) -> dict[str, Any]:
    out = StringIO()
    call_command("recs_evaluate", "--json", "--interactions", path, *SMALL, *extra, stdout=out)
    return json.loads(out.getvalue())


def test_an_outside_log_gets_the_seeded_table_without_the_database(tmp_path):
    # No `db` fixture: any query would fail the test.
    path = tmp_path / "log.tsv"
    rows = log_write(path, seed=3)
    save = tmp_path / "reports" / "outside"
    report = evaluate_file(path, "--save", str(save))
    assert report["data"]["events"] == rows
    assert report["data"]["delimiter"] == "tab"
    assert report["data"]["weights"] == "the file's weight column"
    assert "no recency window" in report["data"]["item_times"]
    assert report["chosen_on"].startswith("none:")
    names = {"random", "popular", "popular (train counts)", "als"}
    assert names | {f"blend({report['blend_weight']})"} == set(report["test"])
    for metrics in report["test"].values():
        assert {"precision@10", "recall@10", "ndcg@10", "coverage"} <= set(metrics)
        assert set(metrics["ci95"]) == {"precision@10", "ndcg@10"}
    test = report["test"]
    assert test["als"]["ndcg@10"] > test["random"]["ndcg@10"]
    assert set(report["ratios"]) == {
        "als / popular precision@10",
        "als / popular (train counts) precision@10",
    }
    assert report["params"]["recency_days"] is None
    assert json.loads(save.with_suffix(".json").read_text())["test"] == report["test"]
    text = save.with_suffix(".md").read_text()
    assert "| popular (train counts) |" in text and "no recency window" in text


def test_first_events_can_stand_in_for_creation_times(tmp_path):
    path = tmp_path / "log.tsv"
    log_write(path, seed=3)
    report = evaluate_file(path, "--item-times", "first-event")
    assert "first event stands in for its creation time" in report["data"]["item_times"]
    assert report["params"]["recency_days"] == 3.0
    assert {"als", "als (no recency)"} <= set(report["test"])


def test_tuning_ranks_settings_on_the_validation_split(tmp_path):
    path = tmp_path / "log.csv"
    log_write(path, users=40, items=40, seed=5, iso=True)
    log = outside.log_read(path)
    first, second, _ = evaluate.windows(log.events, 0.1)
    catalogue = evaluate.Catalogue(ids=np.arange(len(log.item_names)))
    validation = evaluate.split_by_time(
        log.events, start=first, end=second, catalogue=catalogue, min_train=3
    )
    base = Params(factors=4, iterations=3, scaling="log", alpha=1.0)
    settings = [base, replace(base, factors=8)]
    ranked = evaluate.tune(validation, base, params_grid=settings, echo=lambda _: None)
    assert [row["factors"] for row in ranked] in ([4, 8], [8, 4])
    assert ranked[0]["ndcg@10"] >= ranked[1]["ndcg@10"]
    # Without creation times there is no recency to tune: one row per fit.
    assert {row["recency_days"] for row in ranked} == {base.recency_days}
    assert evaluate.params_of(ranked[0], base).factors == ranked[0]["factors"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.csv", "", "the file is empty"),
        ("header.csv", "user,item,timestamp\n", "line 2: no interactions"),
        ("columns.tsv", "user\titem\tweight\nu\ti\t1\n", "line 1: missing column(s) timestamp"),
        ("time.csv", "user,item,ts\na,b,1700000000\na,c,yesterday\n", "line 3: bad timestamp"),
        ("short.csv", "user,item,ts\na,b,1700000000\na,c\n", "line 3: 2 field(s)"),
        ("weight.csv", "user,item,ts,rating\na,b,1700000000,-1\n", "line 2: bad weight"),
        ("guess.log", "no delimiter here\n", "cannot tell the delimiter"),
    ],
)
def test_a_bad_file_is_a_command_error_naming_the_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate_file(path)


def test_the_reader_sniffs_the_delimiter_and_reads_iso_times(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(
        "UserId;MovieId;Timestamp\nann;m1;2024-01-01T00:00:00Z\nbob;m1;2024-01-01T01:00:00+01:00\n"
    )
    log = outside.log_read(path)
    assert log.delimiter == ";"
    assert log.user_names.tolist() == ["ann", "bob"]
    assert log.events.ts.tolist() == [1704067200 * 10**6] * 2
    assert log.events.weights().tolist() == [1.0, 1.0]
