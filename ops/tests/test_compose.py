"""docker-compose.yml and the Dockerfile, checked against the project (Docker cannot run here)."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
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


# --- the `scale` profile: app nodes behind HAProxy, MinIO, a replica, Redis by role ------

HAPROXY_CFG = ROOT / "ops" / "haproxy" / "haproxy.cfg"
SCALE = {
    "lb", "node1", "node2", "scale-worker", "pg-primary", "pg-replica", "minio", "minio-bucket",
    "redis-cache", "redis-channels-1", "redis-channels-2", "redis-queues", "redis-limits",
}  # fmt: skip
NODES = ("node1", "node2")


def test_the_scale_profile_defines_its_services_and_only_under_scale() -> None:
    scaled = {name for name, s in services().items() if s.get("profiles") == ["scale"]}
    assert scaled == SCALE
    assert {name for name, s in services().items() if "profiles" not in s}.isdisjoint(SCALE)


@pytest.mark.parametrize("name", sorted(SCALE - {"minio-bucket"}))
def test_every_scale_service_has_a_healthcheck(name: str) -> None:
    check = services()[name]["healthcheck"]["test"]
    assert check[0] in {"CMD", "CMD-SHELL"}
    if check[:3] == ["CMD", "python", "-c"]:
        compile(check[3], f"{name} healthcheck", "exec")


@pytest.mark.parametrize("name", [*NODES, "scale-worker"])
def test_the_nodes_name_every_server_by_role(name: str) -> None:
    env = services()[name]["environment"]
    read = variables_read_by(ROOT / "app" / "settings.py") | variables_read_by(
        ROOT / "ops" / "serve.py"
    )
    unknown = set(env) - read - LIBRARY_VARIABLES
    assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"
    assert urlsplit(env["DATABASE_URL"]).hostname == "pg-primary"
    assert [urlsplit(u).hostname for u in env["DATABASE_REPLICA_URLS"].split(",")] == ["pg-replica"]
    assert urlsplit(env["REDIS_CACHE_URL"]).hostname == "redis-cache"
    channels = [urlsplit(u).hostname for u in env["REDIS_CHANNELS_URLS"].split(",")]
    assert channels == ["redis-channels-1", "redis-channels-2"]
    assert urlsplit(env["REDIS_QUEUES_URL"]).hostname == "redis-queues"
    assert urlsplit(env["REDIS_LIMITS_URL"]).hostname == "redis-limits"
    # Media in MinIO, in the bucket minio-bucket makes, with MinIO's own credentials.
    minio = services()["minio"]["environment"]
    assert env["MEDIA_STORAGE"] == "s3"
    assert urlsplit(env["AWS_S3_ENDPOINT_URL"]).hostname == "minio"
    assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert f"lab/{env['AWS_STORAGE_BUCKET_NAME']}" in services()["minio-bucket"]["entrypoint"][-1]
    # Every host named is a service of the profile.
    for key in ("DATABASE_URL", "REDIS_CACHE_URL", "REDIS_QUEUES_URL", "REDIS_LIMITS_URL"):
        assert urlsplit(env[key]).hostname in SCALE, key
    assert services()[name]["build"]["args"]["WITH_S3"] == "1"


def test_the_replica_streams_from_the_primary() -> None:
    primary = services()["pg-primary"]["environment"]
    replica = services()["pg-replica"]["environment"]
    assert primary["POSTGRESQL_REPLICATION_MODE"] == "master"
    assert replica["POSTGRESQL_REPLICATION_MODE"] == "slave"
    assert replica["POSTGRESQL_MASTER_HOST"] == "pg-primary"
    for key in ("POSTGRESQL_REPLICATION_USER", "POSTGRESQL_REPLICATION_PASSWORD"):
        assert replica[key] == primary[key]
    assert "pg-primary" in services()["pg-replica"]["depends_on"]


def test_only_the_first_node_migrates_and_the_second_waits_for_it() -> None:
    assert shell_steps(services()["node1"]["command"]) == [
        ["python", "manage.py", "migrate", "--no-input"],
        ["exec", "python", "-m", "ops.serve"],
    ]
    assert shell_steps(services()["node2"]["command"]) == [["python", "-m", "ops.serve"]]
    assert services()["node2"]["depends_on"]["node1"]["condition"] == "service_healthy"
    for name in NODES:
        for argv in shell_steps(services()[name]["command"]):
            check_step(argv)
        env = services()[name]["environment"]
        assert env["HOST"] == "0.0.0.0"
        assert "/readyz" in services()[name]["healthcheck"]["test"][-1]


def test_the_balancer_routes_pages_and_sockets_to_both_nodes() -> None:
    lb = services()["lb"]
    assert lb["image"].startswith("haproxy:")
    assert "./ops/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in lb["volumes"]
    assert set(lb["depends_on"]) == set(NODES)
    text = HAPROXY_CFG.read_text()
    assert "acl socket path_beg /ws/" in text and "use_backend sockets if socket" in text
    assert "timeout tunnel 1h" in text
    assert text.count("uri /readyz") == 2
    published = {port.split(":")[-1] for port in lb["ports"]}
    bind = re.search(r"^\s+bind :(\d+)$", text, re.M)
    assert bind and bind.group(1) in published
    for name in NODES:
        env = services()[name]["environment"]
        assert f"server {name} {name}:{env['PORT']} check" in text
        assert f"server {name} {name}:{env['WS_PORT']} check port {env['PORT']}" in text
        # Pages open /ws/ on the balancer's published port.
        assert urlsplit(env["LAB_WS_URL"]).port in {int(port) for port in published}


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")
def test_haproxy_accepts_the_config() -> None:
    done = subprocess.run(
        ["haproxy", "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr


def test_the_image_installs_the_s3_lock_when_asked() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG WITH_S3=0$", text, re.M)
    assert 'if [ "$WITH_S3" = "1" ]; then pip install -r requirements-s3.lock; fi' in text
