"""`make run NODES=2`: several app nodes on this machine behind one HAProxy.

Run as ``python -m ops.nodes``. Each node is a whole ``python -m ops.serve`` (HTTP, /ws/ and
its job worker) on ports of its own; they share the database and Redis the environment names
(the embedded servers under var/ by default), as separate machines would. HAProxy, from
Debian's package (``apt-get install haproxy``), listens where one node would (HOST:PORT,
127.0.0.1:8000) and routes /ws/ to the nodes' socket servers with the upgrade and a long
tunnel timeout, everything else to their HTTP servers; it checks each node's /readyz and
names the node that answered in an ``X-Lab-Node`` response header.

Environment: NODES (2 to 8), HOST, PORT, NODE_PORT (the first node's HTTP port, default
8100; node i serves HTTP on NODE_PORT + 2(i-1) and /ws/ on the port after), and everything
ops/serve.py reads, which each node gets unchanged. The config is written to
var/haproxy/haproxy.cfg (HAPROXY_CONFIG), each node's metrics go to a directory of its own
under var/prometheus-nodes/ (PROMETHEUS_MULTIPROC_DIR), and ops/runner.py supervises the
nodes and HAProxy like any child.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.embedded import VAR
from ops.runner import Runner, ServerProcess, port_open
from ops.serve import WILDCARD_HOSTS, ServeError, _int_env

MAX_NODES = 8
DEFAULT_NODE_PORT = 8100
HAPROXY_INSTALL = "sudo apt-get install -y haproxy"
# A socket lives for hours; HTTP requests do not.
TUNNEL_TIMEOUT = "1h"
HTTP_TIMEOUT = "60s"
# Each node's runner waits this long for its own servers; HAProxy must not give up sooner.
CHECK_INTERVAL = "1s"


@dataclass(frozen=True)
class Node:
    name: str
    port: int
    ws_port: int


@dataclass(frozen=True)
class NodesConfig:
    host: str
    port: int
    nodes: tuple[Node, ...]


def nodes_config(*, environ: Mapping[str, str]) -> NodesConfig:
    """Read NODES, HOST, PORT and NODE_PORT; reject ports that collide."""
    count = _int_env(environ, "NODES", 2, low=2, high=MAX_NODES)
    first = _int_env(environ, "NODE_PORT", DEFAULT_NODE_PORT, high=65535 - 2 * MAX_NODES)
    nodes = tuple(
        Node(f"node{index}", first + 2 * (index - 1), first + 2 * (index - 1) + 1)
        for index in range(1, count + 1)
    )
    port = _int_env(environ, "PORT", 8000)
    if any(port in (node.port, node.ws_port) for node in nodes):
        raise ServeError(f"PORT={port} is one of the nodes' ports; set NODE_PORT elsewhere")
    host = environ.get("HOST", "").strip() or "127.0.0.1"
    return NodesConfig(host=host, port=port, nodes=nodes)


def _servers(nodes: Sequence[Node], *, ws: bool) -> list[str]:
    # Health is the node's HTTP /readyz either way: a socket server is part of its node.
    return [
        f"    server {node.name} 127.0.0.1:{node.ws_port if ws else node.port} "
        f"check port {node.port} inter {CHECK_INTERVAL} fall 2 rise 1"
        for node in nodes
    ]


def haproxy_config(*, config: NodesConfig) -> str:
    """The load balancer's configuration (ops/haproxy/haproxy.cfg is the compose twin)."""
    health = (
        "    option httpchk\n"
        "    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1\n"
        "    http-check expect status 200\n"
        "    http-response set-header X-Lab-Node %[srv_name]\n"
    )
    lines = [
        "# Written by python -m ops.nodes; edits are overwritten on the next start.",
        "global",
        # Two descriptors a connection: within a default open-files limit.
        "    maxconn 4096",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        f"    timeout client {HTTP_TIMEOUT}",
        f"    timeout server {HTTP_TIMEOUT}",
        # After the 101, client and server timeouts give way to this one.
        f"    timeout tunnel {TUNNEL_TIMEOUT}",
        "    timeout client-fin 5s",
        "    timeout http-request 10s",
        # The nodes read the client's address from it (TRUSTED_PROXY_HOPS=1).
        "    option forwardfor",
        "",
        "frontend web",
        f"    bind {config.host}:{config.port}",
        "    acl socket path_beg /ws/",
        "    use_backend sockets if socket",
        "    default_backend pages",
        "",
        "backend pages",
        "    balance roundrobin",
        health.rstrip("\n"),
        *_servers(config.nodes, ws=False),
        "",
        "backend sockets",
        # Sockets are long: spread by how many each node holds, not by turn.
        "    balance leastconn",
        health.rstrip("\n"),
        *_servers(config.nodes, ws=True),
        "",
    ]
    return "\n".join(lines)


def public_host(*, config: NodesConfig) -> str:
    """Where a browser on this machine reaches the load balancer."""
    return "127.0.0.1" if config.host in WILDCARD_HOSTS else config.host


def node_argv(*, node: Node, config: NodesConfig, metrics: Path, python: str) -> tuple[str, ...]:
    """``env`` sets the node's own variables, then becomes ``python -m ops.serve``."""
    public = f"{public_host(config=config)}:{config.port}"
    variables = {
        "PORT": str(node.port),
        "WS_PORT": str(node.ws_port),
        "HOST": "127.0.0.1",
        # Pages open /ws/ on the load balancer, which forwards it to a node's socket server.
        "LAB_WS_URL": f"ws://{public}/ws/",
        "CSRF_TRUSTED_ORIGINS": f"http://{public},http://localhost:{config.port}",
        "TRUSTED_PROXY_HOPS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics / node.name),
    }
    return ("env", *(f"{k}={v}" for k, v in variables.items()), python, "-m", "ops.serve")


def node_commands(
    *, config: NodesConfig, cfg: Path, haproxy: str, metrics: Path
) -> list[ServerProcess]:
    python = sys.executable
    specs = [
        ServerProcess(
            node.name,
            node_argv(node=node, config=config, metrics=metrics, python=python),
            node.port,
        )
        for node in config.nodes
    ]
    # -db: in the foreground, so the runner supervises it; -f: the written config.
    specs.append(ServerProcess("haproxy", (haproxy, "-db", "-f", str(cfg)), config.port))
    return specs


def banner(*, config: NodesConfig, cfg: Path) -> str:
    public = f"{public_host(config=config)}:{config.port}"
    lines = [
        f"instalab on {len(config.nodes)} app nodes behind HAProxy ({cfg})",
        f"  HTTP       http://{public}  (X-Lab-Node names the node that answered)",
        f"  WebSocket  ws://{public}/ws/",
    ]
    lines += [
        f"  {node.name:<10} HTTP 127.0.0.1:{node.port}, /ws/ 127.0.0.1:{node.ws_port}"
        for node in config.nodes
    ]
    return "\n".join(lines)


def main() -> int:
    try:
        config = nodes_config(environ=os.environ)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        print(
            "error: NODES needs HAProxy as the load balancer in front of the nodes, and "
            f"`haproxy` is not on PATH. Install Debian's package: {HAPROXY_INSTALL}",
            file=sys.stderr,
        )
        return 2
    ports = [config.port] + [p for node in config.nodes for p in (node.port, node.ws_port)]
    busy = [str(port) for port in ports if port_open("127.0.0.1", port)]
    if busy:
        print(f"error: port {', '.join(busy)} is in use (set PORT / NODE_PORT)", file=sys.stderr)
        return 2
    cfg = Path(os.environ.get("HAPROXY_CONFIG") or VAR / "haproxy" / "haproxy.cfg")
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(haproxy_config(config=config))
    # Each node's processes sum their own metrics: sharing one directory, a node's start
    # would delete the other's files.
    metrics = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or VAR / "prometheus-nodes")
    specs = node_commands(config=config, cfg=cfg, haproxy=haproxy, metrics=metrics)
    # Ready once every node's HTTP port and HAProxy's answer. A node's own runner restarts
    # its servers; this one restarts a node or HAProxy that exits.
    url = f"http://{public_host(config=config)}:{config.port}"
    runner = Runner(specs=specs, host="127.0.0.1", url=url, env=dict(os.environ))
    print(banner(config=config, cfg=cfg), flush=True)
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
