"""The import rules hold, they catch a planted bad import, and the docs' graph is current."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_tree_keeps_every_import_rule():
    result = lint()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "6 kept, 0 broken" in result.stdout


def test_a_lab_module_importing_the_feed_breaks_the_rules():
    planted = ROOT / "app" / "lab" / f"planted_{uuid.uuid4().hex[:8]}.py"
    planted.write_text(
        '"""Planted by a test: the lab must not import a feature app."""\n\n'
        "from app.feed import store  # noqa: F401\n"
    )
    try:
        result = lint()
    finally:
        planted.unlink()
    assert result.returncode == 1
    assert "The lab imports no feature app BROKEN" in result.stdout
    assert f"{planted.stem} -> app.feed.store" in result.stdout


def test_a_settings_like_module_importing_the_process_manager_breaks_the_rules():
    planted = ROOT / "app" / "core" / f"planted_{uuid.uuid4().hex[:8]}.py"
    planted.write_text(
        '"""Planted by a test: the app learns socket paths from core, never from ops."""\n\n'
        "from ops import services  # noqa: F401\n"
    )
    try:
        result = lint()
    finally:
        planted.unlink()
    assert result.returncode == 1
    assert "The app imports no process manager BROKEN" in result.stdout
    assert f"{planted.stem} -> ops.services" in result.stdout


def test_the_architecture_docs_show_the_current_package_graph():
    result = subprocess.run(
        [sys.executable, "-m", "tools.depgraph", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
