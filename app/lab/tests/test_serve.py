"""The `make run` server runner: command lines per SERVER setup, supervision, and real runs."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psutil
import pytest
import redis
from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from rq import Queue, Worker
from rq.job import JobStatus
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.feed import jobs
from app.lab import serve
from app.lab.serve import ServeConfig, ServeError, ServerProcess
from app.lab.testing import database_url_for_tests


def config_for(**environ: str) -> ServeConfig:
    return serve.serve_config(environ=environ)


def argv_of(process: ServerProcess) -> str:
    return " ".join(process.argv[1:])


def test_it_defaults_to_split_on_ports_8000_and_8001_with_two_workers() -> None:
    config = config_for()
    assert config == ServeConfig(
        setup="split", host="127.0.0.1", port=8000, ws_port=8001, workers=2
    )
    assert serve.serve_urls(config=config) == ("http://127.0.0.1:8000", "ws://127.0.0.1:8001/ws/")


def test_it_serves_http_on_granian_wsgi_and_ws_on_uvicorn_channels_for_split() -> None:
    http, ws = serve.serve_commands(config=config_for(SERVER="split"), python="py")
    assert (http.role, http.port) == ("http", 8000)
    assert http.argv[:3] == ("py", "-m", "granian")
    assert "--interface wsgi --host 127.0.0.1 --port 8000 --workers 2" in argv_of(http)
    assert "--blocking-threads 4" in argv_of(http)
    assert "--respawn-failed-workers" in argv_of(http)
    assert http.argv[-1] == "app.wsgi:application"
    assert (ws.role, ws.port) == ("ws", 8001)
    assert ws.argv[:3] == ("py", "-m", "uvicorn")
    line = argv_of(ws)
    assert "--host 127.0.0.1 --port 8001 --workers 1" in line
    assert "--ws-max-size 65536" in line
    assert "--ws-ping-interval 20.0 --ws-ping-timeout 20.0" in line
    assert "--ws-per-message-deflate false" in line
    assert "--no-access-log" in line
    assert "--lifespan off" in line
    assert "--timeout-graceful-shutdown 3" in line
    assert ws.argv[-1] == "app.asgi:application"


def test_it_serves_everything_on_one_granian_asgi_port_for_granian_asgi() -> None:
    (both,) = serve.serve_commands(config=config_for(SERVER="granian-asgi"), python="py")
    assert (both.role, both.port) == ("http+ws", 8000)
    assert both.argv[:3] == ("py", "-m", "granian")
    assert "--interface asginl --host 127.0.0.1 --port 8000 --workers 2" in argv_of(both)
    assert "--blocking-threads" not in argv_of(both)
    assert "--respawn-failed-workers" in argv_of(both)
    assert both.argv[-1] == "app.asgi:application"
    assert serve.serve_urls(config=config_for(SERVER="granian-asgi"))[1] == (
        "ws://127.0.0.1:8000/ws/"
    )


def test_it_serves_everything_on_uvicorn_with_two_workers_for_uvicorn() -> None:
    (both,) = serve.serve_commands(config=config_for(SERVER="uvicorn"), python="py")
    assert both.argv[:3] == ("py", "-m", "uvicorn")
    assert "--port 8000 --workers 2" in argv_of(both)
    assert "--ws-max-size 65536" in argv_of(both)
    assert both.argv[-1] == "app.asgi:application"


def test_it_pairs_gunicorn_sync_workers_with_uvicorn_for_gunicorn() -> None:
    http, ws = serve.serve_commands(config=config_for(SERVER="gunicorn"), python="py")
    assert http.argv[:3] == ("py", "-m", "gunicorn")
    assert "--bind 127.0.0.1:8000 --workers 2 --worker-class sync" in argv_of(http)
    assert http.argv[-1] == "app.wsgi:application"
    assert ws.argv[:3] == ("py", "-m", "uvicorn")
    assert ws.port == 8001


def test_it_takes_host_ports_and_workers_from_the_environment() -> None:
    config = config_for(HOST="0.0.0.0", PORT="9000", WS_PORT="9001", WORKERS="4")
    http, ws = serve.serve_commands(config=config, python="py")
    assert "--host 0.0.0.0 --port 9000 --workers 4" in argv_of(http)
    assert "--host 0.0.0.0 --port 9001 --workers 1" in argv_of(ws)
    _, ws = serve.serve_commands(config=config_for(WS_WORKERS="2"), python="py")
    assert "--port 8001 --workers 2" in argv_of(ws)
    (both,) = serve.serve_commands(
        config=config_for(SERVER="uvicorn", PORT="9000", WORKERS="3"), python="py"
    )
    assert "--port 9000 --workers 3" in argv_of(both)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SERVER": "waitress"}, "SERVER='waitress' is unknown"),
        ({"PORT": "eighty"}, "PORT='eighty' is not an integer"),
        ({"WORKERS": "0"}, "WORKERS=0 is out of range"),
        ({"WS_WORKERS": "0"}, "WS_WORKERS=0 is out of range"),
        ({"WORKERS": "500"}, r"WORKERS=500 is out of range \(1 to 64\)"),
        ({"WS_PORT": "70000"}, "WS_PORT=70000 is out of range"),
        ({"JOB_WORKERS": "9"}, r"JOB_WORKERS=9 is out of range \(0 to 8\)"),
        ({"JOB_WORKERS": "-1"}, r"JOB_WORKERS=-1 is out of range \(0 to 8\)"),
        ({"JOB_WORKERS": "two"}, "JOB_WORKERS='two' is not an integer"),
        ({"PORT": "9000", "WS_PORT": "9000"}, "must differ"),
    ],
)
def test_it_rejects_a_bad_environment(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ServeError, match=message):
        config_for(**environ)


def test_it_runs_one_job_worker_on_every_queue_by_default() -> None:
    (worker,) = serve.job_commands(config=config_for(), python="py")
    assert (worker.role, worker.port) == ("jobs", None)
    assert worker.argv == (
        "py", "manage.py", "rqworker", "--verbosity", "0", "default", "fanout", "training"
    )  # fmt: skip
    # The runner cannot import Django; this pins its list to the settings'.
    assert set(serve.JOB_QUEUES) == set(settings.RQ_QUEUES)


def test_it_runs_job_workers_as_job_workers_says() -> None:
    assert serve.job_commands(config=config_for(JOB_WORKERS="0")) == []
    roles = [spec.role for spec in serve.job_commands(config=config_for(JOB_WORKERS="3"))]
    assert roles == ["jobs-1", "jobs-2", "jobs-3"]
    assert config_for(JOB_WORKERS="8").job_workers == 8


def test_it_backs_off_from_half_a_second_doubling_to_30_seconds() -> None:
    failures, delays = 0, []
    for _ in range(9):
        failures, delay = serve.restart_backoff(failures=failures, uptime=1.0)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert failures == 9
    # A child that stayed up a minute is healthy again: its next death costs 0.5 s.
    assert serve.restart_backoff(failures=9, uptime=60.0) == (1, 0.5)
    assert serve.restart_backoff(failures=9, uptime=59.9) == (10, 30.0)
    # A week of failures neither overflows nor passes the cap.
    assert serve.restart_backoff(failures=100_000, uptime=0.0) == (100_001, 30.0)


def test_its_banner_names_the_job_worker_the_mode_and_supervision() -> None:
    text = serve.banner(config=config_for())
    assert "  DEBUG      on (development)" in text
    assert "  jobs       manage.py rqworker --verbosity 0 default fanout training" in text
    assert "supervision on" in text
    assert "--respawn-failed-workers" in text
    assert "DEBUG      off" in serve.banner(config=config_for(DEBUG="0"))
    assert "jobs       none (JOB_WORKERS=0)" in serve.banner(config=config_for(JOB_WORKERS="0"))
    assert "(x2)" in serve.banner(config=config_for(JOB_WORKERS="2"))


def test_it_allows_one_port_when_one_server_carries_both() -> None:
    assert config_for(SERVER="uvicorn", PORT="9000", WS_PORT="9000").port == 9000


def test_it_exits_2_with_a_message_on_an_unknown_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVER", "waitress")
    assert serve.main() == 2
    assert "choose one of split, granian-asgi, uvicorn, gunicorn" in capsys.readouterr().err


def test_it_exits_2_when_a_port_is_taken(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("PORT", str(port))
        monkeypatch.setenv("WS_PORT", str(free_port()))
        assert serve.main() == 2
    assert f"port {port} is in use" in capsys.readouterr().err


def test_it_wipes_stale_metric_files_but_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("keep")
    path = serve.fresh_metrics_dir(environ={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert path == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_it_gives_children_the_metrics_dir_and_the_socket_url(tmp_path: Path) -> None:
    env = serve.child_environment(
        config=config_for(PORT="9000", WS_PORT="9001"),
        environ={"PATH": "/bin"},
        metrics_dir=tmp_path,
    )
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
    assert env["LAB_WS_URL"] == "ws://127.0.0.1:9001/ws/"
    assert env["DJANGO_SETTINGS_MODULE"] == "app.settings"
    assert "http://127.0.0.1:9000" in env["CSRF_TRUSTED_ORIGINS"].split(",")
    assert env["PATH"] == "/bin"


def restarts_in(path: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    return restart_counts(generate_latest(registry).decode())


def restart_counts(text: str) -> dict[str, float]:
    found = re.findall(r'^instalab_process_restarts_total\{role="([^"]+)"\} (\S+)$', text, re.M)
    return {role: float(value) for role, value in found}


def test_it_restarts_a_child_that_exits_with_backoff_while_the_others_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    survivor = ServerProcess("http", (sys.executable, "-c", "import time; time.sleep(60)"), None)
    dying = ServerProcess("ws", (sys.executable, "-c", "import sys; sys.exit(3)"), None)
    monkeypatch.setattr(serve, "serve_commands", lambda **kwargs: [survivor, dying])
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    runner = serve.Runner(config=config_for(JOB_WORKERS="0"), env=dict(os.environ))
    runner.restarts = serve.RestartCounter(roles=serve.counted_roles(specs=runner.specs))
    assert restarts_in(tmp_path) == {"http": 0.0, "ws": 0.0}
    runner.start()
    try:
        steady = runner.children[0].process
        deadline = time.monotonic() + 10
        while restarts_in(tmp_path)["ws"] < 2:
            assert time.monotonic() < deadline, capsys.readouterr().err
            runner.tick(now=time.monotonic())
            time.sleep(0.05)
        assert runner.children[0].process is steady
        assert steady.poll() is None
    finally:
        runner.stop()
    assert restarts_in(tmp_path) == {"http": 0.0, "ws": 2.0}
    log = capsys.readouterr().err
    assert "ws exited on its own (code 3)" in log
    assert "restarting it in 0.5 s (1 quick exit(s) in a row)" in log
    assert "restarting it in 1 s (2 quick exit(s) in a row)" in log
    assert steady.poll() == -signal.SIGTERM


# --- A real run: both servers, one command ----------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_http_ok(url: str, *, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert response.status == 200
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# The runner's job worker works this Redis database alone: on the default one it would take
# jobs `make run` queued, and run them with this test run's key prefix.
SERVE_REDIS_DB = 14


def isolated_redis_url() -> str:
    parts = urlsplit(settings.REDIS_URL)
    if parts.scheme == "unix":
        # Not urlunsplit: it drops the empty host, and redis-py wants "unix://".
        query = {**dict(parse_qsl(parts.query)), "db": str(SERVE_REDIS_DB)}
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{SERVE_REDIS_DB}"))


def serve_env(metrics_dir: Path, **extra: str) -> dict[str, str]:
    """The test run's own environment (LAB_TESTING and its key prefix), as the servers' base."""
    return {
        **os.environ,
        "SERVER": "split",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "REDIS_URL": isolated_redis_url(),
        **extra,
    }


def test_it_points_the_servers_at_a_redis_database_of_their_own() -> None:
    url = isolated_redis_url()
    assert redis.Redis.from_url(url).connection_pool.connection_kwargs["db"] == SERVE_REDIS_DB
    assert url.split("://")[0] == urlsplit(settings.REDIS_URL).scheme


@pytest.mark.slow
def test_it_serves_http_and_ws_on_split_and_stops_both_on_ctrl_c(tmp_path: Path) -> None:
    port, ws_port = free_port(), free_port()
    env = serve_env(tmp_path, PORT=str(port), WS_PORT=str(ws_port))
    log = (tmp_path / "serve.log").open("wb")
    runner = subprocess.Popen(
        [sys.executable, "-m", "app.lab.serve"],
        cwd=serve.ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # The runner says "ready." once both ports accept connections.
        deadline = time.monotonic() + 60
        while b"ready." not in (tmp_path / "serve.log").read_bytes():
            assert runner.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the runner never became ready"
            time.sleep(0.1)
        body = wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert json.loads(body) == {"status": "ok"}
        # The socket is a different server on another port; the origin is the HTTP page's.
        with (
            connect(
                f"ws://127.0.0.1:{ws_port}/ws/",
                additional_headers={"Origin": f"http://127.0.0.1:{port}"},
                open_timeout=10,
            ) as websocket,
            pytest.raises(ConnectionClosed) as closed,
        ):
            websocket.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        servers = children_of(runner.pid)
        # granian, uvicorn and the job worker
        assert len(servers) == 3, (tmp_path / "serve.log").read_text()
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=15) == 0
        deadline = time.monotonic() + 5
        while any(group_alive(pid) for pid in servers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(group_alive(pid) for pid in servers)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert f"http://127.0.0.1:{port}" in output
    assert f"ws://127.0.0.1:{ws_port}/ws/" in output


# --- Supervision of a real run: kill each kind of child ---------------------------------


@dataclass
class Lab:
    runner: subprocess.Popen[bytes]
    base: str
    ws_port: int
    redis: redis.Redis
    log: Path

    def child(self, program: str) -> psutil.Process:
        """The runner's current child whose command line runs ``program``."""
        deadline = time.monotonic() + 30
        while True:
            for process in psutil.Process(self.runner.pid).children():
                try:
                    alive = process.status() != psutil.STATUS_ZOMBIE
                    if alive and any(program in part for part in process.cmdline()):
                        return process
                except psutil.Error:
                    continue  # gone between the listing and the look
            assert self.runner.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"no {program} child\n{self.log.read_text()}"
            time.sleep(0.1)

    def restarts(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.base}/metrics", timeout=5) as response:
            return restart_counts(response.read().decode())


def hello_ok(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/lab/hello", timeout=5) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


def eventually(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def ws_answers(lab: Lab) -> bool:
    """A socket opens and is closed with 4401 (anonymous): Channels is serving, not just TCP."""
    try:
        with connect(
            f"ws://127.0.0.1:{lab.ws_port}/ws/",
            additional_headers={"Origin": lab.base},
            open_timeout=5,
        ) as websocket:
            websocket.recv(timeout=5)
    except ConnectionClosed as closed:
        return closed.rcvd is not None and closed.rcvd.code == 4401
    except (OSError, TimeoutError):
        return False
    return False


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[Lab]:
    """One runner for the kill tests: 2 granian workers, 1 uvicorn, 1 job worker, on the test
    database (a clean checkout's dev database is not even migrated)."""
    tmp = tmp_path_factory.mktemp("supervised")
    port, ws_port = free_port(), free_port()
    env = serve_env(
        tmp,
        PORT=str(port),
        WS_PORT=str(ws_port),
        WORKERS="2",
        JOB_WORKERS="1",
        DATABASE_URL=database_url_for_tests(),
    )
    log_path = tmp / "serve.log"
    connection = redis.Redis.from_url(isolated_redis_url())
    with log_path.open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "app.lab.serve"],
            cwd=serve.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    lab = Lab(runner, f"http://127.0.0.1:{port}", ws_port, connection, log_path)
    try:
        eventually(lambda: b"ready." in log_path.read_bytes(), timeout=60, what="ready.")
        eventually(lambda: hello_ok(lab.base), timeout=10, what="HTTP")
        yield lab
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=20)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
        connection.close()


@pytest.mark.slow
def test_it_keeps_serving_http_when_a_granian_worker_is_killed(lab: Lab) -> None:
    granian = lab.child("granian")
    eventually(lambda: len(granian.children()) == 2, timeout=30, what="2 granian workers")
    before = lab.restarts()["http-worker"]
    outcomes = [hello_ok(lab.base) for _ in range(5)]
    assert all(outcomes)
    victim = granian.children()[0]
    victim.kill()
    victim.wait(timeout=5)

    def recovered() -> bool:
        outcomes.append(hello_ok(lab.base))
        workers = [p.pid for p in granian.children()]
        return len(workers) == 2 and victim.pid not in workers and all(outcomes[-20:])

    eventually(recovered, timeout=30, what="granian to replace its worker")
    # One request at a time: at most the one in flight on the victim can fail.
    assert outcomes.count(False) <= 1, outcomes
    assert granian.is_running()
    assert lab.child("granian").pid == granian.pid  # granian itself never exited
    eventually(lambda: lab.restarts()["http-worker"] == before + 1, timeout=10, what="the counter")


@pytest.mark.slow
def test_it_restarts_the_ws_server_while_http_keeps_serving(lab: Lab) -> None:
    granian = lab.child("granian")
    before = lab.restarts()["ws"]
    results: list[bool] = []
    stop = threading.Event()

    def requests() -> None:
        while not stop.is_set():
            results.append(hello_ok(lab.base))
            time.sleep(0.02)

    loop = threading.Thread(target=requests)
    loop.start()
    try:
        uvicorn = lab.child("uvicorn")
        uvicorn.kill()
        uvicorn.wait(timeout=5)
        assert not serve._port_open("127.0.0.1", lab.ws_port)
        eventually(lambda: ws_answers(lab), timeout=30, what="/ws/ to answer again")
    finally:
        stop.set()
        loop.join(timeout=10)
    assert lab.child("uvicorn").pid != uvicorn.pid
    assert len(results) > 10
    assert all(results), f"{results.count(False)} of {len(results)} HTTP requests failed"
    assert lab.child("granian").pid == granian.pid
    assert lab.restarts()["ws"] == before + 1
    assert "ws exited on its own (code -9)" in lab.log.read_text()


def rq_worker_pids(lab: Lab) -> set[int]:
    return {worker.pid for worker in Worker.all(connection=lab.redis) if worker.pid}


@pytest.mark.slow
def test_it_restarts_the_job_worker(lab: Lab) -> None:
    worker = lab.child("rqworker")
    eventually(lambda: worker.pid in rq_worker_pids(lab), timeout=30, what="the worker to register")
    worker.kill()
    worker.wait(timeout=5)
    eventually(lambda: lab.child("rqworker").pid != worker.pid, timeout=30, what="a new job worker")
    replacement = lab.child("rqworker")
    eventually(lambda: replacement.pid in rq_worker_pids(lab), timeout=30, what="it to register")


@pytest.mark.slow
def test_it_counts_each_restart_in_metrics_by_role(lab: Lab) -> None:
    before = lab.restarts()
    assert {"http", "ws", "jobs", "http-worker", "ws-worker"} <= set(before)
    granian = lab.child("granian")
    # The whole HTTP server this time: the runner restarts it, and its workers' files (and
    # the runner's) survive, so the scrape after the restart still sums every process.
    granian.kill()
    granian.wait(timeout=5)
    eventually(lambda: hello_ok(lab.base), timeout=30, what="HTTP to answer again")
    after = lab.restarts()
    assert after["http"] == before["http"] + 1
    assert after["ws"] == before["ws"]
    assert after["jobs"] == before["jobs"]
    assert lab.child("granian").pid != granian.pid


@pytest.mark.slow
def test_it_runs_a_fanout_job_on_the_supervised_worker(lab: Lab) -> None:
    worker = lab.child("rqworker")
    eventually(lambda: worker.pid in rq_worker_pids(lab), timeout=30, what="the worker to register")
    # The test process runs jobs eagerly (LAB_TESTING); this queue is a real, async one.
    queue = Queue("fanout", connection=lab.redis)
    job = queue.enqueue(jobs.fanout_post, kwargs={"post_id": 0}, result_ttl=60)
    try:
        eventually(
            lambda: job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED),
            timeout=30,
            what="the job to run",
        )
        assert job.get_status() == JobStatus.FINISHED, job.latest_result()
        assert job.return_value() == 0  # no post 0: "deleted before the job ran"
        job.refresh()
        names = {w.name for w in Worker.all(connection=lab.redis) if w.pid == worker.pid}
        assert job.worker_name in names
        assert queue.count == 0
    finally:
        job.delete()
