"""make fuzz: the schemathesis command, the summary it writes, its own database, and a real
run against a live server that fails on a 5xx."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import fuzz


def args(budget: int = 7, seed: int = 3) -> SimpleNamespace:
    return SimpleNamespace(budget=budget, seed=seed)


def test_the_command_has_the_budget_seed_checks_and_token_and_skips_logout(tmp_path):
    argv = fuzz.schemathesis_argv(
        base_url="http://127.0.0.1:9", token="t0k", budget=7, seed=3, out=tmp_path
    )
    assert argv[1:3] == ["run", "http://127.0.0.1:9/api/openapi.json"]
    pairs = {option: argv[i + 1] for i, option in enumerate(argv[:-1]) if option.startswith("--")}
    assert pairs["--max-examples"] == "7"
    assert pairs["--seed"] == "3"
    assert pairs["--checks"] == "not_a_server_error,response_schema_conformance"
    assert pairs["--header"] == "Authorization: Bearer t0k"
    assert pairs["--exclude-path"] == "/api/auth/logout"


def scenario(label: str, statuses: list[int], failed: list[str]) -> dict[str, object]:
    checks = {"c1": [{"name": name, "status": "failure"} for name in failed]}
    checks["c2"] = [{"name": "not_a_server_error", "status": "success"}]
    return {
        "ScenarioFinished": {
            "recorder": {
                "label": label,
                "interactions": {
                    str(i): {"response": {"status_code": s}} for i, s in enumerate(statuses)
                },
                "checks": checks,
            }
        }
    }


def test_the_summary_counts_cases_statuses_and_unique_failures():
    events = [
        scenario("GET /api/a", [200, 400, 500], ["not_a_server_error"]),
        scenario("GET /api/a", [500], ["not_a_server_error"]),
        scenario("GET /api/b", [200], []),
    ]
    output = "Test cases:\n  123 generated, 1 found 1 unique failure"
    summary = fuzz.summary_build(output=output, events=events, returncode=1, args=args())
    assert summary["cases"] == 123
    assert summary["operations"] == 2
    assert summary["responses_by_status"] == {"200": 2, "400": 1, "500": 2}
    assert summary["server_errors"] == 2
    assert summary["failures"] == [
        {"operation": "GET /api/a", "check": "not_a_server_error", "message": "not_a_server_error"}
    ]
    assert summary["passed"] is False


def test_a_clean_run_passes_and_the_report_states_the_case_count(tmp_path):
    events = [scenario("GET /api/b", [200, 404], [])]
    summary = fuzz.summary_build(output="", events=events, returncode=0, args=args())
    assert summary["passed"] is True
    assert summary["cases"] == 2  # from the responses when the output has no count
    fuzz.report_write(tmp_path, summary, seconds=1.25)
    assert json.loads((tmp_path / "summary.json").read_text())["cases"] == 2
    assert "2 cases over 1 operations" in (tmp_path / "report.md").read_text()


def test_it_never_recreates_the_app_database(monkeypatch):
    monkeypatch.delenv("FUZZ_DATABASE_URL", raising=False)
    monkeypatch.setattr(
        fuzz.drive, "database_url", lambda: "postgres://u@h:5432/instalab?sslmode=disable"
    )
    assert fuzz.fuzz_database_url() == "postgres://u@h:5432/instalab_fuzz?sslmode=disable"
    with pytest.raises(fuzz.FuzzError, match="refusing"):
        fuzz.database_recreate("postgres://u@h:5432/instalab?sslmode=disable")


@pytest.mark.django_db(transaction=True)
def test_a_real_run_fails_on_a_server_error(live_server, monkeypatch, tmp_path: Path):
    from app.search import api as search_api

    def explode() -> None:
        raise RuntimeError("boom")

    # Two operations: a healthy one, and one that answers 500 (the server runs in this process).
    monkeypatch.setattr(search_api.selectors, "trending_list", explode)
    argv = fuzz.schemathesis_argv(
        base_url=live_server.url, token="none", budget=2, seed=1, out=tmp_path
    )
    argv += ["--include-path-regex", "^/api/(search/trending|auth/csrf)$"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    events = fuzz.events_read(next(tmp_path.glob("*.ndjson")))
    summary = fuzz.summary_build(
        output=result.stdout, events=events, returncode=result.returncode, args=args(2, 1)
    )
    assert summary["passed"] is False, result.stdout
    assert summary["server_errors"] >= 1
    assert {f["operation"] for f in summary["failures"]} == {"GET /api/search/trending"}
    assert summary["cases"] >= 2
