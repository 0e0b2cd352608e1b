"""Standalone WebSocket load driver for /ws/: held sockets, delivery latency, loss, memory.

Drives a running server (``python -m ops.serve``) on 127.0.0.1 only, for a bounded time:

1. creates USERS lab users with sessions and one DM room per pair (ORM, same DATABASE_URL);
2. opens one socket per user and holds them for --hold seconds, counting sockets that die.
   Each socket sends the app's heartbeat (a ``ping`` frame, answered by ``pong``, which keeps
   the user's presence alive) every --heartbeat seconds, and the WebSocket library pings every
   --ping seconds. The server's RSS before and after gives the memory per idle socket;
3. sends --rate messages per second across the 1:1 rooms for --duration seconds, each frame
   carrying its send timestamp; every member must receive every client_id exactly once
   (sender echo + recipient), and latency is send -> recipient's receipt;
4. writes one JSON document with every number (and prints a summary).

Run: ``python -m benchmarks.chat_load --ws ws://127.0.0.1:8811/ws/ --users 2000 --hold 300
--rate 200 --duration 60 --out benchmarks/results/chat-load.json`` (see docs/experiments/chat.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

import django
import psutil
from tqdm import tqdm

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.sessions.backends.cached_db import SessionStore  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from app.accounts.models import User  # noqa: E402
from app.chat.models import Membership, Room  # noqa: E402
from app.chat.services import dm_key  # noqa: E402

PREFIX = "chatload"


def users_prepare(count: int) -> list[tuple[int, str]]:
    """(user id, session key) for ``count`` load users, created once and reused."""
    password = make_password("lab-password")
    existing = set(
        User.objects.filter(username__startswith=f"{PREFIX}_").values_list("username", flat=True)
    )
    missing = [
        User(username=f"{PREFIX}_{i:05d}", email=f"{PREFIX}{i}@example.com", password=password)
        for i in range(count)
        if f"{PREFIX}_{i:05d}" not in existing
    ]
    User.objects.bulk_create(missing, batch_size=1000)
    users = list(
        User.objects.filter(username__startswith=f"{PREFIX}_").order_by("username")[:count]
    )
    sessions = []
    for user in users:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append((user.pk, str(store.session_key)))
    return sessions


def rooms_prepare(user_ids: list[int]) -> list[tuple[int, int, int]]:
    """(room id, user a, user b) for consecutive pairs, created once and reused."""
    pairs = [(user_ids[i], user_ids[i + 1]) for i in range(0, len(user_ids) - 1, 2)]
    keys = {dm_key(a, b): (a, b) for a, b in pairs}
    have = dict(Room.objects.filter(dm_key__in=keys).values_list("dm_key", "id"))
    new = [Room(kind=Room.Kind.DM, dm_key=key) for key in keys if key not in have]
    for room in Room.objects.bulk_create(new, batch_size=1000):
        have[room.dm_key] = room.pk
    Membership.objects.bulk_create(
        [Membership(room_id=have[key], user_id=uid) for key, pair in keys.items() for uid in pair],
        ignore_conflicts=True,
        batch_size=2000,
    )
    return [(have[key], a, b) for key, (a, b) in keys.items()]


def server_process(ws_url: str) -> psutil.Process | None:
    """The process listening on the socket port (uvicorn with one worker: one process)."""
    port = urlparse(ws_url).port
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sockets: dict[int, ClientConnection] = {}
        self.sent_at: dict[str, float] = {}
        self.expected: dict[str, tuple[int, int]] = {}  # client_id -> (sender, recipient)
        self.receipts: Counter[tuple[str, int]] = Counter()
        self.acks: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.echo_latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.closed = 0
        self.connect_failures = 0
        self.pongs = 0
        self.heartbeats = 0
        self._heartbeat_stop = asyncio.Event()
        self._heartbeat_task: asyncio.Task[None] | None = None

    async def open(self, user_id: int, session: str) -> None:
        origin = f"http://{urlparse(self.args.ws).hostname}:8000"
        headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}", "Origin": origin}
        try:
            socket = await connect(
                self.args.ws,
                additional_headers=headers,
                compression="deflate" if self.args.deflate else None,
                ping_interval=self.args.ping,
                ping_timeout=self.args.ping,
                open_timeout=60,
                max_queue=None,
            )
        except Exception as exc:  # refused handshakes, timeouts, resets: all counted
            self.connect_failures += 1
            self.errors[f"connect:{type(exc).__name__}"] += 1
            return
        self.sockets[user_id] = socket
        asyncio.get_running_loop().create_task(self.read(user_id, socket))

    async def read(self, user_id: int, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message.new":
                    client_id = frame["client_id"]
                    self.receipts[(client_id, user_id)] += 1
                    sent = json.loads(frame["text"])["t"]
                    if frame["sender"]["id"] == user_id:
                        self.echo_latencies.append(now - sent)
                    else:
                        self.latencies.append(now - sent)
                elif kind == "message.ack":
                    self.acks[frame["client_id"]] += 1
                elif kind == "pong":
                    self.pongs += 1
                elif kind == "error":
                    self.errors[f"frame:{frame['code']}"] += 1
        except Exception as exc:
            self.errors[f"read:{type(exc).__name__}"] += 1
        finally:
            self.closed += 1

    async def heartbeat(self, stop: asyncio.Event) -> None:
        """Every socket sends ``{"type": "ping"}`` once per --heartbeat seconds, staggered so
        the frames arrive evenly rather than in one burst per period."""
        period = self.args.heartbeat
        frame = json.dumps({"type": "ping"})
        index = 0
        while not stop.is_set():
            sockets = list(self.sockets.values())
            if not sockets:
                return
            await asyncio.sleep(period / len(sockets))
            socket = sockets[index % len(sockets)]
            index += 1
            try:
                await socket.send(frame)
                self.heartbeats += 1
            except Exception as exc:
                self.errors[f"heartbeat:{type(exc).__name__}"] += 1

    def heartbeats_start(self) -> None:
        """Start the app heartbeats in the background, unless --heartbeat is 0."""
        if self.args.heartbeat > 0:
            beating = self.heartbeat(self._heartbeat_stop)
            self._heartbeat_task = asyncio.get_running_loop().create_task(beating)

    async def heartbeats_stop(self) -> None:
        """Stop the heartbeats and wait for the task to finish."""
        self._heartbeat_stop.set()
        if self._heartbeat_task is not None:
            await self._heartbeat_task

    async def send_load(self, rooms: list[tuple[int, int, int]], bar: tqdm) -> float:
        rate, duration = self.args.rate, self.args.duration
        live = [r for r in rooms if r[1] in self.sockets and r[2] in self.sockets]
        rng = random.Random(42)
        start = time.perf_counter()
        total = int(rate * duration)
        for index in range(total):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            room, a, b = live[index % len(live)]
            sender, recipient = (a, b) if rng.random() < 0.5 else (b, a)
            client_id = str(uuid.uuid4())
            self.expected[client_id] = (sender, recipient)
            now = time.perf_counter()
            self.sent_at[client_id] = now
            frame = {
                "type": "message.send",
                "room": room,
                "client_id": client_id,
                "text": json.dumps({"t": now, "pad": "x" * 40}),
            }
            try:
                await self.sockets[sender].send(json.dumps(frame))
            except Exception as exc:
                self.errors[f"send:{type(exc).__name__}"] += 1
            bar.update(1)
        return time.perf_counter() - start

    def accounting(self) -> dict[str, Any]:
        lost = duplicated = 0
        for client_id, (sender, recipient) in self.expected.items():
            for member in (sender, recipient):
                seen = self.receipts[(client_id, member)]
                lost += seen == 0
                duplicated += max(0, seen - 1)
        acks_missing = sum(1 for cid in self.expected if self.acks[cid] == 0)
        return {
            "sent": len(self.expected),
            "expected_receipts": 2 * len(self.expected),
            "received": sum(self.receipts.values()),
            "lost": lost,
            "duplicated": duplicated,
            "acks_missing": acks_missing,
        }


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 2)


class SendPhase(NamedTuple):
    """The send phase's wall time and the CPU both sides spent on it (drain included)."""

    seconds: float
    cpu_server: float
    cpu_driver: float


@dataclass
class Phases:
    """What ``run`` measured besides the driver's own counters, in the order it measured it."""

    connect_seconds: float
    rss_before: int | None
    rss_connected: int | None
    samples: list[dict[str, Any]]
    closed_during_hold: int
    pongs_during_hold: int
    send: SendPhase


def rss(server: psutil.Process | None) -> int | None:
    """The server's resident memory in bytes, or None when no server process was found."""
    return server.memory_info().rss if server else None


def mib(value: int | None) -> float | None:
    return round(value / 2**20, 1) if value else None


def cpu_seconds(process: psutil.Process | None) -> float:
    """User plus system CPU seconds of ``process`` so far (0 without one)."""
    return sum(process.cpu_times()[:2]) if process else 0.0


async def connect_all(driver: Driver, sessions: list[tuple[int, str]], quiet: bool) -> float:
    """Open every user's socket, 100 handshakes at a time; the seconds it took."""
    started = time.perf_counter()
    batch = 100
    with tqdm(total=len(sessions), desc="connect", unit="socket", disable=quiet) as bar:
        for i in range(0, len(sessions), batch):
            chunk = sessions[i : i + batch]
            await asyncio.gather(*(driver.open(uid, key) for uid, key in chunk))
            bar.update(len(chunk))
    return time.perf_counter() - started


async def hold(
    driver: Driver, server: psutil.Process | None, seconds: float, quiet: bool
) -> list[dict[str, Any]]:
    """Hold the sockets idle for ``seconds``, sampling open sockets and server RSS every 10 s."""
    hold_start = time.perf_counter()
    samples: list[dict[str, Any]] = []
    with tqdm(total=round(seconds), desc="hold", unit="s", disable=quiet) as bar:
        while (elapsed := time.perf_counter() - hold_start) < seconds:
            await asyncio.sleep(min(10, seconds - elapsed))
            t = round(time.perf_counter() - hold_start, 1)
            sample = {
                "t": t,
                "open": len(driver.sockets) - driver.closed,
                "server_rss_mib": mib(rss(server)),
            }
            samples.append(sample)
            bar.set_postfix(open=sample["open"], rss_mib=sample["server_rss_mib"])
            bar.update(min(round(seconds), round(t)) - bar.n)
    return samples


async def send_and_drain(
    driver: Driver, server: psutil.Process | None, rooms: list[tuple[int, int, int]]
) -> SendPhase:
    """Send --rate messages a second for --duration, wait --drain, then stop the heartbeats.

    The CPU figures cover sending and draining, on the server and in this driver.
    """
    args = driver.args
    me = psutil.Process()
    cpu_driver0, cpu_server0 = cpu_seconds(me), cpu_seconds(server)
    total = int(args.rate * args.duration)
    quiet = args.no_progress
    send_bar = tqdm(total=total, desc="send", unit="msg", disable=quiet or not total, mininterval=1)
    with send_bar as bar:
        send_seconds = await driver.send_load(rooms, bar) if total else 0.0
    await asyncio.sleep(args.drain)
    await driver.heartbeats_stop()
    cpu_server = cpu_seconds(server) - cpu_server0 if server else 0.0
    return SendPhase(send_seconds, cpu_server, cpu_seconds(me) - cpu_driver0)


async def run(
    args: argparse.Namespace, sessions: list[tuple[int, str]], rooms: list[tuple[int, int, int]]
) -> dict[str, Any]:
    """Steps 2 and 3 of the module docstring: connect, hold, send, drain; then the report."""
    driver = Driver(args)
    server = server_process(args.ws)
    rss_before = rss(server)
    connect_seconds = await connect_all(driver, sessions, quiet=args.no_progress)
    await asyncio.sleep(5)
    rss_connected = rss(server)
    driver.heartbeats_start()
    samples = await hold(driver, server, args.hold, quiet=args.no_progress)
    closed_during_hold, pongs_during_hold = driver.closed, driver.pongs
    send = await send_and_drain(driver, server, rooms)
    for socket in driver.sockets.values():
        with contextlib.suppress(Exception):
            await socket.close()
    phases = Phases(
        connect_seconds=connect_seconds,
        rss_before=rss_before,
        rss_connected=rss_connected,
        samples=samples,
        closed_during_hold=closed_during_hold,
        pongs_during_hold=pongs_during_hold,
        send=send,
    )
    return report(args, len(sessions), driver, phases)


def report(
    args: argparse.Namespace, requested: int, driver: Driver, phases: Phases
) -> dict[str, Any]:
    """The JSON document: configuration, machine, sockets, memory, delivery, CPU, errors."""
    return {
        "config": vars(args),
        "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "sockets": sockets_report(args, requested, driver, phases),
        "memory": memory_report(driver, phases),
        "delivery": delivery_report(driver, phases.send.seconds),
        "cpu_seconds_during_send": {
            "server": round(phases.send.cpu_server, 2),
            "driver": round(phases.send.cpu_driver, 2),
        },
        "errors": dict(driver.errors),
    }


def sockets_report(
    args: argparse.Namespace, requested: int, driver: Driver, phases: Phases
) -> dict[str, Any]:
    """How many sockets opened, how fast, and how many survived the hold."""
    return {
        "requested": requested,
        "open": len(driver.sockets),
        "connect_failures": driver.connect_failures,
        "connect_seconds": round(phases.connect_seconds, 2),
        "closed_during_hold": phases.closed_during_hold,
        "hold_seconds": args.hold,
        "heartbeats_sent": driver.heartbeats,
        "pongs_during_hold": phases.pongs_during_hold,
        "pongs": driver.pongs,
        "hold_samples": phases.samples,
    }


def memory_report(driver: Driver, phases: Phases) -> dict[str, float | None]:
    """The server's RSS before and after connecting, and the difference per open socket."""
    before, connected = phases.rss_before, phases.rss_connected
    per_socket = (
        (connected - before) / max(1, len(driver.sockets)) if before and connected else None
    )
    return {
        "server_rss_before_mib": mib(before),
        "server_rss_connected_mib": mib(connected),
        "per_idle_socket_kib": round(per_socket / 1024, 1) if per_socket else None,
    }


def delivery_report(driver: Driver, send_seconds: float) -> dict[str, Any]:
    """Loss and duplicate accounting, the achieved rate, and the latency percentiles."""
    latencies = driver.latencies
    return {
        **driver.accounting(),
        "send_seconds": round(send_seconds, 2),
        "achieved_rate": round(len(driver.expected) / send_seconds, 1) if send_seconds else 0,
        "latency_ms": {
            "p50": ms(latencies, 50),
            "p90": ms(latencies, 90),
            "p99": ms(latencies, 99),
            "max": ms(latencies, 100),
            "mean": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
        },
        "echo_latency_ms": {
            "p50": ms(driver.echo_latencies, 50),
            "p99": ms(driver.echo_latencies, 99),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ws", default="ws://127.0.0.1:8001/ws/")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds to hold idle sockets")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait after sending")
    parser.add_argument("--ping", type=float, default=20.0, help="WebSocket ping interval")
    parser.add_argument(
        "--heartbeat", type=float, default=25.0, help="app ping frame interval per socket (0: off)"
    )
    parser.add_argument("--deflate", action="store_true", help="permessage-deflate on")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    host = urlparse(args.ws).hostname
    if host not in ("127.0.0.1", "localhost"):
        parser.error("the driver only targets 127.0.0.1")
    if not 2 <= args.users <= 20_000:
        parser.error("--users must be between 2 and 20000")
    if args.rate < 0 or args.rate > 5_000:
        parser.error("--rate must be between 0 and 5000 messages per second")
    for name in ("hold", "duration", "drain", "heartbeat"):
        if not 0 <= getattr(args, name) <= 3_600:
            parser.error(f"--{name} must be between 0 and 3600 seconds")
    if args.ping <= 0:
        parser.error("--ping must be positive")
    sessions = users_prepare(args.users)
    rooms = rooms_prepare([uid for uid, _ in sessions])
    result = asyncio.run(run(args, sessions, rooms))
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    summary = {k: result[k] for k in ("layer", "sockets", "memory", "delivery", "errors")}
    summary["sockets"] = {k: v for k, v in summary["sockets"].items() if k != "hold_samples"}
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
