"""Production mode: `check --deploy` is clean, pages carry a CSP that fits them, /metrics is for
operators, Server-Timing and /api/docs are for the lab (or staff), and 500s show no traceback."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from app.testing.factories import UserFactory

ROOT = Path(__file__).resolve().parents[3]

# What a real deployment behind a TLS-terminating proxy sets (docs/reliability.md).
DEPLOYMENT_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "instalab.example",
    "CSRF_TRUSTED_ORIGINS": "https://instalab.example",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "TRUST_X_FORWARDED_PROTO": "1",
    "TRUSTED_PROXY_HOPS": "1",
    "METRICS_TOKEN": "a-long-random-scrape-token",
}


# Set by the test run itself (test mode; browser tests' live server), never by a deployment.
TEST_ONLY_ENV = ("LAB_TESTING", "DJANGO_ALLOW_ASYNC_UNSAFE")


def production_run(*argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in TEST_ONLY_ENV}
    env.update(DEPLOYMENT_ENV, SECRET_KEY=secrets.token_urlsafe(50), **extra)
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_production_mode() -> None:
    result = production_run("manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_deployment_settings_come_from_the_environment() -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, "
        "s.USE_X_FORWARDED_HOST, s.SESSION_COOKIE_SECURE, s.LAB_EXPERIMENTS, s.METRICS_TOKEN)"
    )
    result = production_run(
        "-c",
        f"import django; django.setup(); {code}",
        DJANGO_SETTINGS_MODULE="app.settings",
        USE_X_FORWARDED_HOST="1",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False", "True", "31536000", "('HTTP_X_FORWARDED_PROTO',", "'https')", "True", "True",
        "False", "a-long-random-scrape-token",
    ]  # fmt: skip


def test_the_check_names_what_a_deployment_left_out() -> None:
    result = production_run(
        "manage.py", "check", "--deploy", SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0"
    )
    assert "security.W004" in result.stderr + result.stdout
    assert "security.W008" in result.stderr + result.stdout


# --- Content-Security-Policy ------------------------------------------------------------------


def csp_of(response: Any) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


@pytest.mark.django_db
def test_pages_carry_a_policy_that_allows_only_their_own_scripts(
    client: Client, settings: Any
) -> None:
    settings.LAB_WS_URL = "ws://127.0.0.1:8001/ws/"
    response = client.get("/login")

    assert response.status_code == 200
    policy = csp_of(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # The chat socket may live on the runner's other port.
    assert policy["connect-src"] == ["'self'", "ws://127.0.0.1:8001"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login", "/signup", "/", "/upload", "/inbox", "/u/alice"])
def test_no_page_relies_on_what_the_policy_blocks(client: Client, path: str) -> None:
    alice = UserFactory(username="alice")
    if path not in ("/login", "/signup"):  # which send a signed-in user home
        client.force_login(alice)

    response = client.get(path)

    assert response.status_code == 200, path
    assert "Content-Security-Policy" in response
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts, "the page loads its module"
    assert all(" src=" in tag for tag in scripts), scripts  # no inline script
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handler
    assert "<style" not in html


@pytest.mark.django_db
def test_json_responses_carry_no_policy(client: Client) -> None:
    assert "Content-Security-Policy" not in client.get("/api/search?q=x")
    assert "Content-Security-Policy" not in client.get("/healthz")


# --- /metrics ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_for_loopback_clients_without_a_token(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200

    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert b"instalab_http_requests_total" not in response.content


@pytest.mark.django_db
def test_behind_a_local_proxy_outsiders_are_not_loopback(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.TRUSTED_PROXY_HOPS = 1
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 403


@pytest.mark.django_db
def test_with_a_token_metrics_need_it_from_anywhere(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-me-please"

    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-not")
    assert wrong.status_code == 403
    right = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-me-please"
    )
    assert right.status_code == 200
    assert b"instalab_http_requests_total" in right.content


# --- Server-Timing and the API docs -----------------------------------------------------------


@pytest.mark.django_db
def test_with_lab_experiments_off_only_staff_see_server_timing(
    client: Client, settings: Any
) -> None:
    settings.LAB_EXPERIMENTS = False
    assert "Server-Timing" not in client.get("/lab/hello")
    client.force_login(UserFactory(username="member"))
    assert "Server-Timing" not in client.get("/lab/hello")

    staff = Client()
    staff.force_login(UserFactory(username="operator", is_staff=True))
    response = staff.get("/lab/hello")

    assert "db;" in response["Server-Timing"]


@pytest.mark.django_db
def test_with_lab_experiments_on_everyone_sees_server_timing(client: Client, settings: Any) -> None:
    settings.LAB_EXPERIMENTS = True
    assert "db;" in client.get("/lab/hello")["Server-Timing"]


def test_the_api_docs_exist_only_in_the_lab(client: Client, settings: Any) -> None:
    settings.LAB_EXPERIMENTS = False
    response = client.get("/api/docs")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # The schema stays: clients and the API fuzzer read it.
    assert client.get("/api/openapi.json").status_code == 200

    settings.LAB_EXPERIMENTS = True
    assert client.get("/api/docs").status_code == 200


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_500_in_production_shows_no_traceback(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = False
    settings.METRICS_TOKEN = ""

    def broken() -> Any:
        raise RuntimeError("secret-internal-detail")

    # Fault injection: the exposition fails (a full disk under the multiprocess directory).
    monkeypatch.setattr("app.lab.views.render_metrics", broken)
    client = Client(raise_request_exception=False)
    page = client.get("/metrics")
    monkeypatch.setattr("app.accounts.selectors.user_for_viewer", lambda **kwargs: broken())
    api = client.get("/api/users/anyone")

    assert page.status_code == 500
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "server_error"
    for response in (page, api):
        body = response.content.decode()
        assert "secret-internal-detail" not in body
        assert "Traceback" not in body
        assert "RuntimeError" not in body
