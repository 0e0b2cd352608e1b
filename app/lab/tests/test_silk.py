"""django-silk: off by default, and with SILK=1 sampled, staff-only and outside our timings.

SILK is read when settings are imported, so the SILK=1 half runs in a child pytest process
(its own test database, suffix h4silk) over the tests below that are marked ``needs_silk``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

from app.testing.factories import UserFactory

needs_silk = pytest.mark.skipif(not settings.SILK, reason="runs in the SILK=1 child process")
without_silk = pytest.mark.skipif(settings.SILK, reason="the parent process, SILK unset")


@without_silk
@pytest.mark.django_db
def test_it_has_no_silk_when_silk_is_off(client: Client) -> None:
    assert "silk" not in settings.INSTALLED_APPS
    assert not any("silk" in name for name in settings.MIDDLEWARE)
    staff = UserFactory(username="staffer", is_staff=True)
    client.force_login(staff)
    assert client.get("/silk/").status_code == 404


@without_silk
@pytest.mark.slow
def test_it_passes_the_silk_checks_in_a_silk_process() -> None:
    env = {**os.environ, "SILK": "1", "SILK_PERCENT": "100", "LAB_TEST_DB_SUFFIX": "h4silk"}
    # The parent's prefix would be inherited; the child derives its own from the suffix.
    env.pop("REDIS_KEY_PREFIX", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The child skips the parent's tests and must run every needs_silk test.
    summary = re.search(r"(\d+) passed", output)
    assert summary and int(summary.group(1)) == 5, output


@needs_silk
@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_log_in(client: Client) -> None:
    response = client.get("/silk/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{settings.LOGIN_URL}?next=/silk/")


@needs_silk
@pytest.mark.django_db
def test_it_refuses_users_who_are_not_staff(client: Client) -> None:
    client.force_login(UserFactory(username="bob"))
    assert client.get("/silk/").status_code == 403
    assert client.get("/silk/requests/").status_code == 403


@needs_silk
@pytest.mark.django_db
def test_it_serves_staff(client: Client) -> None:
    client.force_login(UserFactory(username="staffer", is_staff=True))
    response = client.get("/silk/")
    assert response.status_code == 200
    assert b"Silk" in response.content


@needs_silk
@pytest.mark.django_db
def test_it_records_sampled_requests_outside_server_timing(client: Client) -> None:
    from silk.models import Request

    response = client.get("/lab/hello")
    assert response.status_code == 200
    # The child runs at SILK_PERCENT=100, so this request was recorded...
    assert Request.objects.filter(path="/lab/hello").count() == 1
    # ...yet silk's own inserts, made outside ServerTimingMiddleware, are not counted as ours.
    assert 'desc="0 queries"' in response["Server-Timing"]


@needs_silk
@pytest.mark.django_db
def test_it_ignores_probes_and_scrapes(client: Client) -> None:
    from silk.models import Request

    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200
    assert not Request.objects.filter(path__in=["/healthz", "/readyz", "/metrics"]).exists()
