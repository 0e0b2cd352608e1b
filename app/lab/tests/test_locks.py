"""The two lock files: `make run` installs only what the app needs, everything is pinned."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEV_ONLY = {"pytest", "locust", "playwright", "ruff", "mypy", "py-spy", "matplotlib"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>\[ ]", requirement, maxsplit=1)[0]).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-r")):
            assert "==" in line, f"{path.name}: {line!r} is not pinned"
            pins[_name(line)] = line.split("==", 1)[1]
    return pins


def test_the_runtime_lock_pins_every_runtime_dependency_and_no_dev_tool():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _pins(ROOT / "requirements.lock")
    for requirement in project["dependencies"]:
        version = requirement.split("==", 1)[1]
        assert runtime.get(_name(requirement)) == version, requirement
    assert not DEV_ONLY & set(runtime)


def test_the_dev_lock_adds_the_dev_extra_on_top_of_the_runtime_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "requirements-dev.lock").read_text()
    assert "-r requirements.lock" in text.splitlines()
    dev, runtime = _pins(ROOT / "requirements-dev.lock"), _pins(ROOT / "requirements.lock")
    assert not set(dev) & set(runtime), "a package pinned in both locks"
    for requirement in project["optional-dependencies"]["dev"]:
        name = _name(requirement)
        assert (dev | runtime).get(name) == requirement.split("==", 1)[1], requirement
