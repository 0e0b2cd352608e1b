"""The `make run` server runner: command lines per SERVER setup, supervision, and a real run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.lab import serve
from app.lab.serve import ServeConfig, ServeError, ServerProcess


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
        ({"PORT": "9000", "WS_PORT": "9000"}, "must differ"),
    ],
)
def test_it_rejects_a_bad_environment(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ServeError, match=message):
        config_for(**environ)


def test_it_allows_one_port_when_one_server_carries_both() -> None:
    assert config_for(SERVER="uvicorn", PORT="9000", WS_PORT="9000").port == 9000


def test_it_exits_2_with_a_message_on_an_unknown_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVER", "waitress")
    assert serve.main() == 2
    assert "choose one of split, granian-asgi, uvicorn, gunicorn" in capsys.readouterr().err


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


def test_it_stops_the_others_and_fails_when_a_child_dies_on_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    survivor = ServerProcess("http", (sys.executable, "-c", "import time; time.sleep(60)"), 1)
    dying = ServerProcess("ws", (sys.executable, "-c", "import sys; sys.exit(3)"), 2)
    monkeypatch.setattr(serve, "serve_commands", lambda **kwargs: [survivor, dying])
    monkeypatch.setattr(serve, "READY_TIMEOUT", 1.0)
    runner = serve.Runner(config=config_for(), env=dict(os.environ))
    started = time.monotonic()
    assert runner.run() == 3
    assert time.monotonic() - started < 10
    assert [process.poll() for _, process in runner.children] == [-signal.SIGTERM, 3]


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


@pytest.mark.slow
def test_it_serves_http_and_ws_on_split_and_stops_both_on_ctrl_c(tmp_path: Path) -> None:
    port, ws_port = free_port(), free_port()
    env = {
        **os.environ,
        "SERVER": "split",
        "PORT": str(port),
        "WS_PORT": str(ws_port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
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
        assert len(servers) == 2, servers
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
