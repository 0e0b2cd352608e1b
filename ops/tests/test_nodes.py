"""`make run NODES=2` for real: two ``python -m ops.serve`` nodes behind Debian's HAProxy on
the test database. HTTP through the balancer reaches both nodes, and a DM sent on one node's
socket arrives on the other node's socket and on one opened through the balancer."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from websockets.sync.client import ClientConnection, connect

from app.core.embedded import ROOT
from app.lab.testing import database_url_for_tests
from ops import nodes
from ops.runner import port_open
from ops.testing import eventually, free_port, serve_env

needs_haproxy = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="needs Debian's haproxy (apt-get install haproxy)"
)
# The nodes write to the test database, which pytest-django makes only for a test that asks
# for one.
live = pytest.mark.django_db(transaction=True)


@dataclass
class Cluster:
    base: str
    ws: str
    node_ports: dict[str, tuple[int, int]]
    log: Path


def free_node_port() -> int:
    """A first node port with the three after it free too (two nodes' HTTP and /ws/)."""
    for _ in range(50):
        first = free_port()
        if first < 65000 and not any(port_open("127.0.0.1", first + i) for i in range(1, 4)):
            return first
    raise AssertionError("no four free ports in a row")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("nodes")
    port, first = free_port(), free_node_port()
    env = serve_env(
        tmp,
        NODES="2",
        PORT=str(port),
        NODE_PORT=str(first),
        WORKERS="1",
        JOB_WORKERS="0",
        DATABASE_URL=database_url_for_tests(),
        HAPROXY_CONFIG=str(tmp / "haproxy.cfg"),
    )
    log_path = tmp / "nodes.log"
    with log_path.open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "ops.nodes"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = f"ready. Open {base} ".encode()
        eventually(lambda: ready in log_path.read_bytes(), timeout=90, what="ready.")
        # HAProxy marks a node up after its first good /readyz.
        eventually(lambda: len(nodes_answering(base, 10)) == 2, timeout=20, what="both nodes")
        # Each node's /ws/ server (uvicorn) starts on its own; HTTP answering says nothing of it.
        for ws_port in (first + 1, first + 3):
            eventually(
                lambda p=ws_port: port_open("127.0.0.1", p), timeout=30, what=f"/ws/ on {ws_port}"
            )
        yield Cluster(
            base=base,
            ws=f"ws://127.0.0.1:{port}/ws/",
            node_ports={"node1": (first, first + 1), "node2": (first + 2, first + 3)},
            log=log_path,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log_path.read_text(errors='replace')[-4000:]}") from None
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()


def nodes_answering(base: str, count: int) -> set[str]:
    seen = set()
    for _ in range(count):
        try:
            with urllib.request.urlopen(f"{base}/lab/hello", timeout=5) as response:
                seen.add(response.headers.get("X-Lab-Node", ""))
        except OSError:
            pass
    return seen - {""}


def api(base: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base}{path}", data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{path}: {exc.code} {exc.read()!r}") from None


def signup(base: str, name: str) -> str:
    body = {"username": name, "email": f"{name}@example.com", "password": uuid.uuid4().hex}
    token: str = api(base, "/api/auth/signup", body)["token"]
    return token


def socket(url: str, token: str, origin: str) -> ClientConnection:
    cookie = f"{settings.SESSION_COOKIE_NAME}={token}"
    return connect(url, additional_headers={"Origin": origin, "Cookie": cookie}, open_timeout=10)


def frame_of_type(websocket: ClientConnection, kind: str, *, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(websocket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame.get("type") == kind:
            return dict(frame)


@pytest.mark.slow
@needs_haproxy
@live
def test_http_through_the_balancer_reaches_both_nodes(cluster: Cluster) -> None:
    assert nodes_answering(cluster.base, 10) == {"node1", "node2"}
    with urllib.request.urlopen(f"{cluster.base}/readyz", timeout=5) as response:
        assert response.status == 200


@pytest.mark.slow
@needs_haproxy
@live
def test_a_dm_sent_on_one_node_arrives_on_the_other(cluster: Cluster) -> None:
    suffix = uuid.uuid4().hex[:8]
    alice, bob = f"alice{suffix}", f"bob{suffix}"
    alice_token, bob_token = signup(cluster.base, alice), signup(cluster.base, bob)
    room = api(cluster.base, "/api/chat/rooms", {"users": [bob]}, alice_token)["id"]
    ws1, ws2 = cluster.node_ports["node1"][1], cluster.node_ports["node2"][1]
    with (
        socket(f"ws://127.0.0.1:{ws1}/ws/", alice_token, cluster.base) as alice_socket,
        socket(f"ws://127.0.0.1:{ws2}/ws/", bob_token, cluster.base) as bob_socket,
        # Through HAProxy: the upgrade is forwarded to one node's socket server.
        socket(cluster.ws, bob_token, cluster.base) as bob_balanced,
    ):
        # Each socket answers a ping once it has joined its user's group.
        for each in (alice_socket, bob_socket, bob_balanced):
            each.send(json.dumps({"type": "ping"}))
            frame_of_type(each, "pong", timeout=10)
        alice_socket.send(
            json.dumps(
                {"type": "message.send", "room": room, "client_id": str(uuid.uuid4()), "text": "hi"}
            )
        )
        for each in (bob_socket, bob_balanced):
            received = frame_of_type(each, "message.new", timeout=10)
            assert received["text"] == "hi", received
            assert received["room"] == room, received


def test_the_config_routes_sockets_and_pages_to_every_node_with_health_checks() -> None:
    config = nodes.nodes_config(environ={"NODES": "3", "PORT": "8000", "NODE_PORT": "9100"})
    text = nodes.haproxy_config(config=config)
    assert "bind 127.0.0.1:8000" in text
    assert "use_backend sockets if socket" in text and "acl socket path_beg /ws/" in text
    assert "timeout tunnel 1h" in text
    for http, ws in ((9100, 9101), (9102, 9103), (9104, 9105)):
        assert f"127.0.0.1:{http} check port {http}" in text
        assert f"127.0.0.1:{ws} check port {http}" in text
    assert text.count("uri /readyz") == 2


def test_it_refuses_a_balancer_port_a_node_uses() -> None:
    with pytest.raises(nodes.ServeError, match="NODE_PORT"):
        nodes.nodes_config(environ={"PORT": "8101", "NODE_PORT": "8100"})


def test_without_haproxy_it_says_how_to_install_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.nodes"],
        cwd=ROOT,
        env={**os.environ, "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "apt-get install -y haproxy" in done.stderr
