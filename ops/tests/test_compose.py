"""docker-compose.yml and the Dockerfile, checked against the project (Docker cannot run here)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(settings.BASE_DIR)
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# Read by libraries or the interpreter rather than by our code.
LIBRARY_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR", "PYTHONUNBUFFERED", "OPENBLAS_NUM_THREADS"}
_ENV_READ = re.compile(
    r"""(?:environ\.get|environ\.setdefault|env_bool|env_list|_int_env\(\s*environ,)\(?\s*["'](\w+)["']"""
    r"""|environ\[\s*["'](\w+)["']\s*\]"""
)


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def variables_read_by(path: Path) -> set[str]:
    return {a or b for a, b in _ENV_READ.findall(path.read_text())}


def shell_steps(command: str | list[str]) -> list[list[str]]:
    """Each program a command runs: ``sh -c "a && exec b"`` is two steps."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(step) for step in re.split(r"&&|;", argv[2]) if step.strip()]
    return [argv]


def check_step(argv: list[str]) -> None:
    if argv and argv[0] == "exec":
        argv = argv[1:]
    if argv[:2] == ["python", "-m"]:
        assert importlib.util.find_spec(argv[2]) is not None, f"no module {argv[2]}"
    elif argv[:2] == ["python", "manage.py"]:
        assert argv[2] in get_commands(), f"no management command {argv[2]}"
    else:
        assert argv[0] in {"redis-server"}, f"unchecked program: {argv}"


def test_it_defines_the_four_services() -> None:
    # Profiled services (Prometheus and Grafana) start only when asked: dashboards/tests.
    started = {name for name, service in services().items() if "profiles" not in service}
    assert started == {"postgres", "redis", "app", "worker"}
    assert services()["postgres"]["image"] == "postgres:16"
    assert services()["redis"]["image"].startswith("redis:7")
    assert services()["app"]["build"] == "."
    assert services()["worker"]["build"] == "."


@pytest.mark.parametrize("name", ["postgres", "redis", "app", "worker"])
def test_it_gives_every_service_a_healthcheck(name: str) -> None:
    check = services()[name]["healthcheck"]["test"]
    assert check[0] in {"CMD", "CMD-SHELL"}
    if check[:3] == ["CMD", "python", "-c"]:
        compile(check[3], f"{name} healthcheck", "exec")


def test_it_checks_each_server_with_its_own_client() -> None:
    assert "pg_isready" in " ".join(services()["postgres"]["healthcheck"]["test"])
    assert services()["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    assert "/healthz" in services()["app"]["healthcheck"]["test"][-1]


@pytest.mark.parametrize("name", ["redis", "app", "worker"])
def test_it_runs_only_commands_that_exist_in_the_project(name: str) -> None:
    steps = shell_steps(services()[name]["command"])
    assert steps
    for argv in steps:
        check_step(argv)


def test_it_serves_with_the_default_runner_after_migrating() -> None:
    steps = shell_steps(services()["app"]["command"])
    assert steps == [
        ["python", "manage.py", "migrate", "--no-input"],
        ["exec", "python", "-m", "ops.serve"],
    ]


def test_it_works_every_queue_the_settings_define() -> None:
    argv = shell_steps(services()["worker"]["command"])[0]
    assert argv[:3] == ["python", "manage.py", "rqworker"]
    assert set(argv[3:]) == set(settings.RQ_QUEUES)


@pytest.mark.parametrize("name", ["app", "worker"])
def test_it_sets_only_variables_the_project_reads(name: str) -> None:
    read = (
        variables_read_by(ROOT / "app" / "settings.py")
        | variables_read_by(ROOT / "ops" / "serve.py")
        | LIBRARY_VARIABLES
    )
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"} <= read  # the regex works
    unknown = set(services()[name]["environment"]) - read
    assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


@pytest.mark.parametrize("name", ["app", "worker"])
def test_it_points_the_app_at_the_compose_servers(name: str) -> None:
    environment = services()[name]["environment"]
    database = urlsplit(environment["DATABASE_URL"])
    postgres = services()["postgres"]["environment"]
    assert database.scheme == "postgres"
    assert database.hostname == "postgres"
    assert database.path == f"/{postgres['POSTGRES_DB']}"
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"]
    assert urlsplit(environment["REDIS_URL"]).hostname == "redis"
    assert environment["DEBUG"] == "0"
    assert len(environment["SECRET_KEY"]) >= 50


def test_it_starts_the_app_only_once_its_servers_are_healthy() -> None:
    for name, needs in (("app", {"postgres", "redis"}), ("worker", {"redis", "app"})):
        depends = services()[name]["depends_on"]
        assert set(depends) == needs, name
        assert all(d["condition"] == "service_healthy" for d in depends.values()), name


def test_it_binds_the_app_beyond_loopback() -> None:
    environment = services()["app"]["environment"]
    assert environment["HOST"] == "0.0.0.0"
    published = {port.split(":")[-1] for port in services()["app"]["ports"]}
    assert {environment["PORT"], environment["WS_PORT"]} <= published


def test_it_builds_from_python_311_slim_and_installs_the_lock() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.MULTILINE)
    assert re.search(r"^RUN pip install -r requirements\.lock$", text, re.MULTILINE)
    for source in re.findall(r"^COPY (.+) \S+$", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    assert "requirements.lock" in re.findall(r"^COPY (\S+)", text, re.MULTILINE)


def test_the_image_holds_every_package_its_commands_run() -> None:
    copied = {
        path
        for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
        for path in source.split()
    }
    for name in ("app", "worker"):
        for argv in shell_steps(services()[name]["command"]):
            argv = argv[1:] if argv[0] == "exec" else argv
            if argv[:2] == ["python", "-m"]:
                assert argv[2].split(".")[0] in copied, f"the image lacks {argv[2]}"
    assert "ops" in copied  # the runner the app service serves with


def test_it_migrates_on_start_in_the_image_default_command() -> None:
    match = re.search(r"^CMD (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match
    command = yaml.safe_load(match.group(1))  # a JSON array is YAML too
    assert command == services()["app"]["command"]
