"""make profile: collapsed-stack merging, self and inclusive shares, the SVG, and one real run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django_redis import get_redis_connection

from app.accounts.models import User
from app.lab.testing import database_url_for_tests
from benchmarks import drive, profile

SVG = "{http://www.w3.org/2000/svg}"
# Three request stacks by hand: 10 samples, a recursive frame, and names XML must escape.
STACKS = {
    "main (a.py:1);handle (b.py:2);query (c.py:3)": 6,
    "main (a.py:1);handle (b.py:2);<lambda> & co (d.py:4)": 3,
    "main (a.py:1);rec (e.py:5);rec (e.py:5)": 1,
}


def test_it_parses_collapsed_stacks_and_adds_up_identical_ones_across_workers() -> None:
    worker_a = "a;b 3\na;c 1\n\nnot a stack line\n"
    worker_b = "a;b 2\nx (y.py:1);z 4\n"
    merged = profile.stacks_merge([profile.stacks_parse(worker_a), profile.stacks_parse(worker_b)])
    assert merged == {"a;b": 5, "a;c": 1, "x (y.py:1);z": 4}
    assert profile.stacks_parse(profile.stacks_text(merged)) == merged


def test_it_computes_exact_self_and_inclusive_shares() -> None:
    total, own, inclusive = profile.function_shares(STACKS)
    assert total == 10
    assert [(row.function, row.samples, row.share) for row in own] == [
        ("query (c.py:3)", 6, 0.6),
        ("<lambda> & co (d.py:4)", 3, 0.3),
        ("rec (e.py:5)", 1, 0.1),
    ]
    assert [(row.function, row.samples, row.share) for row in inclusive] == [
        ("main (a.py:1)", 10, 1.0),
        ("handle (b.py:2)", 9, 0.9),
        ("query (c.py:3)", 6, 0.6),
        ("<lambda> & co (d.py:4)", 3, 0.3),
        # Twice on its stack, counted once: an inclusive share never passes 100 %.
        ("rec (e.py:5)", 1, 0.1),
    ]


def test_it_renders_a_valid_svg_with_one_frame_per_function_and_widths_by_share() -> None:
    svg = profile.flame_svg(STACKS, title="GET /api/feed <x>", subtitle="10 samples", width=1000)
    root = ET.fromstring(svg)
    frames = {}
    for group in root.iter(f"{SVG}g"):
        title = group.find(f"{SVG}title")
        rect = group.find(f"{SVG}rect")
        assert title is not None and rect is not None
        frames[title.text] = float(rect.get("width", "0"))
    assert set(frames) == {
        "all (10 samples, 100.00%)",
        "main (a.py:1) (10 samples, 100.00%)",
        "handle (b.py:2) (9 samples, 90.00%)",
        "query (c.py:3) (6 samples, 60.00%)",
        "<lambda> & co (d.py:4) (3 samples, 30.00%)",
        "rec (e.py:5) (1 samples, 10.00%)",
    }
    full = frames["all (10 samples, 100.00%)"]
    assert full == pytest.approx(980)
    assert frames["handle (b.py:2) (9 samples, 90.00%)"] == pytest.approx(0.9 * full)
    assert "GET /api/feed &lt;x&gt;" in svg


def test_it_names_the_report_folder_after_the_path() -> None:
    assert profile.slug("/api/feed?limit=20") == "api-feed-limit-20"
    assert profile.slug("/") == "root"


# --- one real run ---------------------------------------------------------------------------

REQUIRED = os.environ.get("LAB_REQUIRE_PROFILER") == "1"
PASSWORD = "profile-e2e-password"


def skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"LAB_REQUIRE_PROFILER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def persona(transactional_db: None) -> Iterator[str]:
    """A committed user the server process can log in as. The production-mode server does not
    know the tests' fast MD5 hasher, so the hash is the default PBKDF2 one."""
    hasher = PBKDF2PasswordHasher()
    user = User.objects.create(
        username="profiler", password=hasher.encode(PASSWORD, hasher.salt()), email="p@x.io"
    )
    yield user.username
    conn = get_redis_connection("default")
    keys = list(conn.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000))
    if keys:
        conn.delete(*keys)


@pytest.mark.slow
def test_it_profiles_hello_on_a_live_server_into_a_report(persona: str, tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        skip_or_fail("wrk is absent (apt-get install -y wrk)")
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_TESTING", "DEBUG")}
    env |= {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "DB_POOL_MIN": "0",
    }
    argv = [
        sys.executable, "-m", "benchmarks.profile", "--endpoint", "/lab/hello",
        "--user", persona, "--password", PASSWORD, "--seconds", "3", "--warmup", "1",
        "--connections", "8", "--out", str(tmp_path), "--name", "run",
        "--port", str(drive.free_port()), "--ws-port", str(drive.free_port()),
    ]  # fmt: skip
    result = subprocess.run(
        argv, cwd=drive.ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    if result.returncode == profile.EXIT_NO_PROFILER:
        skip_or_fail(f"py-spy cannot attach here: {result.stderr.strip()[-400:]}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = tmp_path / "run"
    svg = (report / "flame.svg").read_text()
    assert ET.fromstring(svg).find(f"{SVG}g") is not None
    assert "hello" in svg
    top = (report / "top.md").read_text()
    assert "GET /lab/hello" in top
    data = json.loads((report / "top.json").read_text())
    assert data["wrk"]["rps"] > 0
    assert data["wrk"]["errors"] == 0
    assert data["persona"] == persona
    assert f"**{data['wrk']['rps']:,.1f} req/s**" in top
    assert data["samples"] > 0
    # The view itself is a sliver of each request: look for it in every sampled stack, not
    # only in the 30 functions of the table (a loaded box may leave it out of those).
    stacks = (report / "stacks.txt").read_text()
    assert "WSGIHandler.__call__" in stacks
    assert "hello (app/lab/views.py" in stacks
