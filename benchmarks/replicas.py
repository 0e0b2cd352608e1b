"""Read replicas under load: read-your-writes with replay paused, and a standby stopped and
started while clients read. ``make bench-replicas`` (docs/scaling.md).

1. Makes a PostgreSQL primary and a streaming standby of their own (ops/replica.py), migrates
   the app into the primary, and starts the production-mode server (``DEBUG=0``, granian, two
   workers) with ``DATABASE_REPLICA_URLS`` naming the standby.
2. Signs up CLIENTS writers, each with a DM to a partner of its own.
3. **Replay paused** (``pg_wal_replay_pause()``): the writers make PAIRS write-then-read pairs
   between them (send a message, read the room's newest message). A pair is stale when the
   read does not return the message just sent. Every 50th pair the partner, who never
   wrote, reads the room too: it should be served by the frozen replica, and miss the message.
4. **Replica stopped mid-load**: CLIENTS threads read (writers keep writing) for STOP_RUN
   seconds; the standby is stopped (``pg_ctl stop -m fast``) after a third of it and started
   again after two thirds. Every failed response is counted.

Writes ``benchmarks/results/replicas.json`` and ``reports/replicas/report.md``, and appends a
record to the lab's history. Exit status: 0 when every figure meets the issue's targets (no
stale read, no error), 1 when one does not, 2 when the run could not be made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

from benchmarks.drive import ROOT, DriveError, commit, machine, say
from benchmarks.prodserver import Server, server_start
from loadtests import history
from ops import replica
from ops.services import ServiceError

RESULTS = ROOT / "benchmarks" / "results" / "replicas.json"
REPORT = ROOT / "reports" / "replicas" / "report.md"
PASSWORD = "replica-bench-1234"
REPLICA_ENTRY = re.compile(r'replica;desc="(\d+) of (\d+) reads')


class Client:
    """One client with its own cookies (its last write position among them)."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.username = username
        self.http = requests.Session()
        body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
        answer = self.http.post(f"{base}/api/auth/signup", json=body, timeout=30)
        if answer.status_code != 201:
            raise DriveError(f"signup of {username}: HTTP {answer.status_code} {answer.text[:200]}")
        self.http.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def send(self, room: int) -> int:
        body = {"client_id": str(uuid.uuid4()), "text": "bench"}
        answer = self.http.post(
            f"{self.base}/api/chat/rooms/{room}/messages", json=body, timeout=30
        )
        answer.raise_for_status()
        return int(answer.json()["id"])

    def newest(self, room: int) -> tuple[int, bool]:
        """The room's newest message id, and whether a replica answered the read."""
        answer = self.http.get(f"{self.base}/api/chat/rooms/{room}/messages?limit=1", timeout=30)
        answer.raise_for_status()
        items = answer.json()["items"]
        found = REPLICA_ENTRY.search(answer.headers.get("Server-Timing", ""))
        if found is None:
            raise DriveError("no replica entry in Server-Timing: is DATABASE_REPLICA_URLS set?")
        return (int(items[0]["id"]) if items else 0), int(found.group(1)) > 0


@dataclass
class Duo:
    writer: Client
    partner: Client
    room: int


@dataclass
class Tally:
    """Counts shared by the load threads (each += is one bytecode-level race at worst; the
    lock keeps them exact)."""

    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    progress: Callable[[int], object] | None = None

    def add(self, **counts: int) -> None:
        with self.lock:
            self.counts.update(counts)
            if self.progress is not None and "pairs" in counts:
                self.progress(counts["pairs"])

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def duos_make(base: str, count: int) -> list[Duo]:
    suffix = uuid.uuid4().hex[:6]
    made = []
    for number in range(count):
        writer = Client(base, f"bw{number}{suffix}")
        partner = Client(base, f"bp{number}{suffix}")
        opened = writer.http.post(
            f"{base}/api/chat/rooms", json={"users": [partner.username]}, timeout=30
        )
        opened.raise_for_status()
        made.append(Duo(writer, partner, int(opened.json()["id"])))
    return made


def _threads(duos: list[Duo], work: Callable[[Duo], None]) -> None:
    threads = [threading.Thread(target=work, args=(duo,)) for duo in duos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def paused_pairs(pair: replica.Pair, duos: list[Duo], pairs: int) -> dict[str, Any]:
    """Write-then-read pairs with the standby's replay paused."""
    tally = Tally()
    share = pairs // len(duos)

    def work(duo: Duo) -> None:
        for number in range(share):
            try:
                sent = duo.writer.send(duo.room)
                seen, on_replica = duo.writer.newest(duo.room)
                tally.add(pairs=1, stale=int(seen != sent), writer_on_replica=int(on_replica))
                if number % 50 == 0:
                    seen, on_replica = duo.partner.newest(duo.room)
                    tally.add(
                        partner_reads=1,
                        partner_on_replica=int(on_replica),
                        partner_behind=int(on_replica and seen < sent),
                    )
            except (requests.RequestException, DriveError) as exc:
                tally.error(repr(exc))

    # The partners read the frozen replica: it must hold their rooms before it freezes, or
    # their reads of a room it never saw answer 404 (stale for them, as replicas are).
    replica.caught_up(pair.primary, pair.standby)
    replica.replay_pause(pair.standby, paused=True)
    started = time.monotonic()
    try:
        with tqdm(total=share * len(duos), desc="pairs", unit="pair", file=sys.stderr) as bar:
            tally.progress = bar.update
            _threads(duos, work)
    finally:
        replica.replay_pause(pair.standby, paused=False)
    seconds = time.monotonic() - started
    back = _writer_back_seconds(duos[0])
    say(f"paused: {dict(tally.counts)} errors {len(tally.errors)} in {seconds:.0f} s")
    return {
        **dict(tally.counts),
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "seconds": round(seconds, 1),
        "writer_back_on_replica_seconds": back,
    }


def _writer_back_seconds(duo: Duo, timeout: float = 30.0) -> float | None:
    """After replay resumes, how long until the writer's reads are a replica's again."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if duo.writer.newest(duo.room)[1]:
            return round(time.monotonic() - started, 2)
        time.sleep(0.02)
    return None


def stopped_mid_load(pair: replica.Pair, duos: list[Duo], seconds: float) -> dict[str, Any]:
    """Readers and writers run while the standby is stopped, then started again."""
    tally = Tally()
    phase = ["before"]
    end = time.monotonic() + seconds

    def work(duo: Duo) -> None:
        while time.monotonic() < end:
            try:
                if uuid.uuid4().int % 4 == 0:
                    duo.writer.send(duo.room)
                    tally.add(writes=1)
                _, on_replica = duo.partner.newest(duo.room)
                where = "replica" if on_replica else "primary"
                tally.add(**{f"reads_{phase[0]}_{where}": 1})
            except (requests.RequestException, DriveError) as exc:
                tally.error(f"{phase[0]}: {exc!r}")

    def operator() -> None:
        time.sleep(seconds / 3)
        replica.stop(pair.standby, mode="fast")
        phase[0] = "stopped"
        say("standby stopped")
        time.sleep(seconds / 3)
        replica.start(pair.standby)
        phase[0] = "restarted"
        say("standby started")

    control = threading.Thread(target=operator)
    control.start()
    _threads(duos, work)
    control.join()
    say(f"stopped mid-load: {dict(tally.counts)} errors {len(tally.errors)}")
    return {**dict(tally.counts), "errors": len(tally.errors), "error_samples": tally.errors[:5]}


def report_of(result: dict[str, Any]) -> str:
    paused, stop = result["paused"], result["stopped"]
    back = paused["writer_back_on_replica_seconds"]
    ok = "met" if result["passed"] else "**NOT met**"
    return "\n".join(
        [
            "# Read replicas under load",
            "",
            f"{result['date']}, commit {result['commit']}, {_machine(result['machine'])}; "
            f"`{result['command']}`.",
            "",
            f"Targets (0 stale reads with replay paused, 0 errors with the standby stopped): {ok}.",
            "",
            "| replay paused | |",
            "|---|---:|",
            f"| write-then-read pairs | {paused.get('pairs', 0):,} |",
            f"| stale reads | {paused.get('stale', 0)} |",
            f"| writer reads a replica answered | {paused.get('writer_on_replica', 0)} |",
            f"| partner reads | {paused.get('partner_reads', 0)} |",
            f"| of them on the (frozen) replica | {paused.get('partner_on_replica', 0)} |",
            f"| of them missing the writer's message | {paused.get('partner_behind', 0)} |",
            f"| errors | {paused['errors']} |",
            f"| writer back on a replica after resume | {back} s |",
            "",
            "A response counts in the phase current when it came back.",
            "",
            "| standby stopped mid-load | before | stopped | restarted |",
            "|---|---:|---:|---:|",
            *(
                f"| reads on the {where} | "
                + " | ".join(str(stop.get(f"reads_{phase}_{where}", 0)) for phase in PHASES)
                + " |"
                for where in ("replica", "primary")
            ),
            f"| errors | {stop['errors']} | | |",
            "",
        ]
    )


PHASES = ("before", "stopped", "restarted")


def _machine(info: dict[str, Any]) -> str:
    return f"{info.get('nproc')} cores ({info.get('cpu')}), {info.get('memory_gib')} GiB"


def run(args: argparse.Namespace) -> dict[str, Any]:
    say("making a primary and a streaming standby, migrating the app")
    pair = replica.pair_start()
    server: Server | None = None
    try:
        environ = {
            **_environ(),
            "DATABASE_URL": pair.primary_url(),
            "DATABASE_REPLICA_URLS": pair.standby_url(),
            "REDIS_KEY_PREFIX": "replicabench",
            "JOB_WORKERS": "0",
            "RATE_LIMIT_SIGNUP_ADDRESS": "100000/h",
            "CHAT_RATE_PER_SECOND": "100000",
            "CHAT_RATE_BURST": "100000",
        }
        server = server_start(port=None, ws_port=None, workers=2, environ=environ)
        duos = duos_make(server.base_url, args.clients)
        paused = paused_pairs(pair, duos, args.pairs)
        stopped = stopped_mid_load(pair, duos, args.stop_run)
    finally:
        if server is not None:
            server.stop()
        replica.pair_stop(pair)
    passed = paused.get("stale", 1) == 0 and paused["errors"] == 0 and stopped["errors"] == 0
    return {"paused": paused, "stopped": stopped, "passed": passed}


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("LAB_TESTING", "DEBUG", "SILK")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__)
    parser.add_argument("--pairs", type=int, default=10_000, help="write-then-read pairs")
    parser.add_argument("--clients", type=int, default=8, help="writer threads (and partners)")
    parser.add_argument("--stop-run", type=float, default=15.0, help="seconds of the stop phase")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    if args.pairs < args.clients or args.clients < 1 or args.stop_run < 3:
        parser.error("--pairs must be at least --clients (>= 1), --stop-run at least 3")
    try:
        result = run(args)
    except (DriveError, ServiceError, requests.RequestException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = " ".join(["python -m benchmarks.replicas", *(argv or sys.argv[1:])])
    result.update(
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        commit=commit(),
        machine=machine(),
        command=command,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report_of(result))
    figures = {
        "stale_reads": result["paused"].get("stale", 0),
        "pairs": result["paused"].get("pairs", 0),
        "errors_paused": result["paused"]["errors"],
        "errors_stopped": result["stopped"]["errors"],
    }
    history.append(
        {
            "kind": "replicas",
            "date": result["date"],
            "commit": result["commit"],
            "machine": result["machine"],
            "figures": figures,
            "failed": [] if result["passed"] else ["replicas"],
        },
        history.HISTORY_DIR,
    )
    say(f"wrote {args.out} and {args.report}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
