"""The runner's supervision: backoff, restarts counted by role, and real runs of
``python -m ops.serve``: both servers on one command, each kind of child killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from rq import Queue, Worker
from rq.job import JobStatus
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.core.embedded import ROOT
from app.feed import jobs
from app.lab.testing import sample
from ops import runner as supervision
from ops.runner import ServerProcess
from ops.testing import (
    SERVE_REDIS_DB,
    Lab,
    eventually,
    free_port,
    hello_ok,
    isolated_redis_url,
    restart_counts,
    running_lab,
    serve_env,
)


def test_it_backs_off_from_half_a_second_doubling_to_30_seconds() -> None:
    failures, delays = 0, []
    for _ in range(9):
        failures, delay = supervision.restart_backoff(failures=failures, uptime=1.0)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert failures == 9
    # A child that stayed up a minute is healthy again: its next death costs 0.5 s.
    assert supervision.restart_backoff(failures=9, uptime=60.0) == (1, 0.5)
    assert supervision.restart_backoff(failures=9, uptime=59.9) == (10, 30.0)
    # A week of failures neither overflows nor passes the cap.
    assert supervision.restart_backoff(failures=100_000, uptime=0.0) == (100_001, 30.0)


def restarts_in(path: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    return restart_counts(generate_latest(registry).decode())


def test_it_restarts_a_child_that_exits_with_backoff_while_the_others_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    survivor = ServerProcess("http", (sys.executable, "-c", "import time; time.sleep(60)"), None)
    dying = ServerProcess("ws", (sys.executable, "-c", "import sys; sys.exit(3)"), None)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    specs = [survivor, dying]
    restarts = supervision.RestartCounter(roles=supervision.counted_roles(specs=specs))
    runner = supervision.Runner(
        specs=specs, host="127.0.0.1", url="-", env=dict(os.environ), restarts=restarts
    )
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
        [sys.executable, "-m", "ops.serve"],
        cwd=ROOT,
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
    with running_lab(tmp_path_factory.mktemp("supervised")) as lab:
        yield lab


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
        assert not supervision.port_open("127.0.0.1", lab.ws_port)
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


@pytest.mark.slow
def test_the_http_server_reports_the_socket_servers_sockets(lab: Lab) -> None:
    """Across processes, as served: uvicorn counts the socket, granian's /metrics shows it."""
    before = sample(lab.metrics(), "instalab_ws_connections_total")
    with (
        connect(
            f"ws://127.0.0.1:{lab.ws_port}/ws/",
            additional_headers={"Origin": lab.base},
            open_timeout=10,
        ) as websocket,
        pytest.raises(ConnectionClosed),
    ):
        websocket.recv(timeout=10)  # accepted, then closed 4401: nobody signed in

    def counted() -> bool:
        text = lab.metrics()
        accepted = sample(text, "instalab_ws_connections_total") - before
        return accepted == 1 and sample(text, "instalab_ws_sockets_open") == 0

    eventually(counted, timeout=10, what="the socket in /metrics")
