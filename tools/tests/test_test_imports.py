"""Test hygiene: a test imports no other test module, no conftest, no other app's test package
and no private name (``_x``) of the app. What tests share lives in app/testing (clients,
factories, test data), what pytest must inject stays a fixture in a conftest; import-linter
checks the other direction (only tests import app/testing)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"


def files_of_tests(root: Path = APP) -> Iterator[Path]:
    """Every test module, conftest and test-package helper under ``root``."""
    for path in sorted(root.rglob("*.py")):
        if "tests" in path.relative_to(root).parts or path.name == "conftest.py":
            yield path


def problem(target: str, own_tests: str | None) -> str | None:
    """Why a test may not import the module ``target`` (None: it may)."""
    pieces = target.split(".")
    if pieces[0] != "app":
        return None
    if pieces[-1] == "conftest":
        return f"imports a conftest ({target}); use a fixture"
    if pieces[-1].startswith("test_"):
        return f"imports a test module ({target}); share via app/testing"
    if "tests" in pieces and ".".join(pieces[: pieces.index("tests") + 1]) != own_tests:
        return f"imports another app's tests ({target})"
    return None


def problems(path: Path, root: Path = ROOT) -> list[str]:
    """What ``path`` imports that a test must not, as ``file:line: reason`` lines."""
    parts = path.relative_to(root).with_suffix("").parts
    own_tests = ".".join(parts[: parts.index("tests") + 1]) if "tests" in parts else None
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            reasons = [problem(alias.name, own_tests) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            # ``from package import module`` names a module too.
            reasons = [problem(node.module, own_tests)]
            if reasons[0] is None:
                reasons = [problem(f"{node.module}.{name}", own_tests) for name in names]
            if node.module.startswith("app."):
                reasons += [
                    f"imports the private {node.module}.{name}; test the public API"
                    for name in names
                    if name.startswith("_")
                ]
        else:
            continue
        where = f"{path.relative_to(root)}:{node.lineno}"
        found += [(node.lineno, f"{where}: {reason}") for reason in reasons if reason]
    return [line for _, line in sorted(found)]


def test_no_test_imports_another_test_module_a_conftest_or_a_private_name() -> None:
    found = [line for path in files_of_tests() for line in problems(path)]
    assert not found, "\n".join(found)


def test_the_check_catches_each_kind_of_import(tmp_path: Path) -> None:
    tests = tmp_path / "app" / "feed" / "tests"
    tests.mkdir(parents=True)
    planted = tests / "test_planted.py"
    planted.write_text(
        "from app.conftest import login_client\n"
        "from app.recs.tests.conftest import world\n"
        "from app.posts.tests.test_create import create\n"
        "from app.posts.tests import imagedata\n"
        "from app.feed.selectors import _keys_sql, feed_keys_sql\n"
        "from app.feed.tests import helpers\n"
        "from app.testing.client import ApiClient\n"
    )
    assert [line.split(": ", 1)[1] for line in problems(planted, tmp_path)] == [
        "imports a conftest (app.conftest); use a fixture",
        "imports a conftest (app.recs.tests.conftest); use a fixture",
        "imports a test module (app.posts.tests.test_create); share via app/testing",
        "imports another app's tests (app.posts.tests)",
        "imports the private app.feed.selectors._keys_sql; test the public API",
    ]
