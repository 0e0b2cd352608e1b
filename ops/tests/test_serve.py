"""The runner's configuration: command lines per SERVER setup, the environment it reads and
rejects, the job workers, the banner and the children's environment."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from django.conf import settings

from ops import serve
from ops.runner import ServerProcess
from ops.serve import ServeConfig, ServeError
from ops.testing import free_port


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
