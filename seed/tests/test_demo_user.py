"""``python -m seed.demo_user``, which ``make run`` calls: idempotent, its login works, it
prints where the server runs, and in production mode it creates nothing. Its world on seeded
data is tested in seed/tests/test_demo.py."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from app.accounts.models import User
from app.conftest import ApiClient
from seed import demo_user
from seed.demo_user import DEMO_PASSWORD, DEMO_USERNAME

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _development_mode(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-django runs tests with DEBUG off; `make run`'s default is on.
    settings.DEBUG = True
    # The printed URL follows HOST and PORT, as the server runner does: `make run`'s defaults.
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)


def run() -> str:
    out = StringIO()
    demo_user.ensure(base_url=None, out=out)
    return out.getvalue()


def test_it_creates_the_demo_account_and_prints_how_to_log_in():
    output = run()

    assert "http://127.0.0.1:8000" in output
    assert f"username  {DEMO_USERNAME}" in output
    assert f"password  {DEMO_PASSWORD}" in output
    assert "curl -s -X POST http://127.0.0.1:8000/api/auth/login" in output
    response = ApiClient().post_json(
        "/api/auth/login", {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200
    # Nothing seeded, nobody to follow: it says how to get a world.
    assert response.json()["user"]["following_count"] == 0
    assert "run `make seed` first" in output


def test_it_prints_the_host_and_port_the_server_runs_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("HOST", "0.0.0.0")

    output = run()

    assert "open      http://127.0.0.1:9123" in output
    assert "curl -s -X POST http://127.0.0.1:9123/api/auth/login" in output


def test_running_it_again_duplicates_nothing_and_keeps_edits():
    run()
    User.objects.filter(username=DEMO_USERNAME).update(bio="edited by hand")

    run()
    output = run()

    demo = User.objects.get(username=DEMO_USERNAME)
    assert "already there" in output
    assert "world" not in output
    assert demo.bio == "edited by hand"
    assert User.objects.count() == 1


def test_it_restores_the_printed_password():
    run()
    demo = User.objects.get(username=DEMO_USERNAME)
    demo.set_password("something-else-entirely")
    demo.save()

    run()

    demo.refresh_from_db()
    assert demo.check_password(DEMO_PASSWORD)


def test_it_lists_seeded_lab_accounts_once_a_seed_completed(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    from seed.manifest import manifest_default_path

    out = StringIO()
    demo_user.ensure(base_url=None, out=out)
    assert "Seeded lab accounts" not in out.getvalue()

    manifest_default_path().write_text(
        json.dumps(
            {
                "status": "complete",
                "scale": "tiny",
                "password": "instalab-lab",
                "tiers": {"celebrities": ["star.one", "star.two"], "private": ["quiet.one"]},
            }
        )
    )
    out = StringIO()
    demo_user.ensure(base_url=None, out=out)
    text = out.getvalue()
    assert "Seeded lab accounts (tiny scale), all with password instalab-lab:" in text
    assert "star.one, star.two" in text
    assert "quiet.one" in text


def test_in_production_mode_it_creates_no_account_and_says_why(settings: Any) -> None:
    settings.DEBUG = False

    output = run()

    assert "No demo account: DEBUG is off (production mode)" in output
    assert DEMO_PASSWORD not in output
    assert not User.objects.exists()
    response = ApiClient().post_json(
        "/api/auth/login", {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 401
