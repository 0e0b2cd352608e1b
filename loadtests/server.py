"""The load test's data and server: services up and seeded, and `python -m ops.serve` on the
load-test ports, with the personas signed in before the run."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from loadtests.cpu import CpuMeter
from loadtests.runtime import PYTHON, ROOT, RunError, python_run, say

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
# Unique enough, and never the app's own secret: the server only needs one to start with DEBUG=0.
LOADTEST_SECRET = "loadtest-" + "k" * 48
# Sign-in tries per persona before the run gives up on it.
LOGIN_ATTEMPTS = 30


def data_ensure(*, scale: str, seed: int, reseed: bool) -> Path:
    """Services up, migrated, seeded at ``scale`` (reused when the manifest says so)."""
    say("services and migrations")
    python_run("-m", "ops.services", "start")
    python_run("manage.py", "migrate", "--no-input", "-v", "0")
    out = python_run(
        "-c",
        "import django; django.setup(); from seed.manifest import manifest_default_path; "
        "print(manifest_default_path())",
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "app.settings"},
        capture=True,
    )
    manifest = Path(out.strip().splitlines()[-1])
    current = None
    with contextlib.suppress(OSError, ValueError):
        current = json.loads(manifest.read_text())
    if current and current.get("status") == "complete" and current.get("scale") == scale:
        say(f"reusing the {scale} data ({manifest.name})")
        return manifest
    if not reseed:
        raise RunError(f"{manifest} is not a complete {scale} seed and --no-seed was given")
    say(f"seeding {scale} (seed {seed}) with reset: the manifest is missing or another scale")
    python_run("-m", "seed", "--scale", scale, "--seed", str(seed), "--reset", "--no-progress")
    return manifest


def database_name() -> str:
    """The database the run uses, for the report."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return "instalab (embedded)"
    return urllib.parse.urlsplit(url).path.lstrip("/") or "?"


class Server:
    """`python -m ops.serve` on the load-test ports, in its own process group."""

    def __init__(self, args: argparse.Namespace, *, log: Path, silk: bool = False) -> None:
        self.args = args
        # 127.0.0.1 unless Locust workers on other machines must reach the app (--app-host).
        self.host = args.app_host
        self.base = f"http://{self.host}:{args.port}"
        # Only `split` and `gunicorn` serve /ws/ from a second process on its own port.
        self.ws_port = args.ws_port if args.server in ("split", "gunicorn") else args.port
        self.ws = f"ws://{self.host}:{self.ws_port}/ws/"
        self.metrics_dir = ROOT / "var" / f"prometheus-loadtest-{args.port}"
        self.env = {
            **os.environ,
            "SERVER": args.server,
            "HOST": self.host,
            "PORT": str(args.port),
            "WS_PORT": str(args.ws_port),
            # The runner's WORKERS means Locust workers; the server's count is its own.
            "WORKERS": str(args.server_workers),
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or LOADTEST_SECRET,
            "LAB_EXPERIMENTS": "1",
            "SILK": "1" if silk else "0",
            "ALLOWED_HOSTS": ",".join(dict.fromkeys((self.host, "127.0.0.1", "localhost"))),
            # Not var/prometheus: that belongs to `make run`, which the runner must not disturb.
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        self.process: subprocess.Popen[bytes] | None = None
        # The app's own log (warnings, tracebacks) goes to the report, not the runner's output.
        self.log_path = log

    def start(self) -> None:
        for port in (self.args.port, self.args.ws_port):
            if _port_busy(self.host, port):
                raise RunError(f"port {port} is in use; pass LOADTEST_PORT/LOADTEST_WS_PORT")
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        say(f"starting the app ({self.args.server}) on {self.base} and {self.ws}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "ops.serve"],
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RunError(f"the app exited during start-up ({self.process.returncode})")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as response,
            ):
                if response.status == 200 and _port_busy(self.host, self.ws_port):
                    return
            time.sleep(0.3)
        raise RunError(f"{self.base}/readyz did not answer 200 within {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        say("app stopped")

    def cpu_meter(self) -> CpuMeter:
        """The app's process tree, and the PostgreSQL and Redis servers its URLs name."""
        from ops import services

        return CpuMeter.for_servers(
            app_pid=self.process.pid if self.process else None,
            database_url=self.env.get("DATABASE_URL") or services.database_url(),
            redis_url=self.env.get("REDIS_URL") or services.redis_url(),
        )

    def api_paths(self) -> list[str]:
        with urllib.request.urlopen(f"{self.base}/api/openapi.json", timeout=10) as response:
            return sorted(json.load(response).get("paths", {}))

    def login_all(
        self, usernames: list[str], password: str, *, cache: Path | None = None
    ) -> dict[str, str]:
        """One session per persona, issued before the run: the password hash is slow by design
        (about 0.5 s of server CPU each), so sessions still valid from an earlier run are reused.
        """
        cached: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            cached = json.loads(cache.read_text()) if cache else {}

        def valid(item: tuple[str, str]) -> tuple[str, str | None]:
            request = urllib.request.Request(
                f"{self.base}/api/me", headers={"Authorization": f"Bearer {item[1]}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    ok = response.status == 200 and json.load(response).get("username") == item[0]
            except (OSError, urllib.error.URLError, ValueError):
                ok = False
            return item[0], item[1] if ok else None

        def login(username: str) -> tuple[str, str | None]:
            body = json.dumps({"username": username, "password": password}).encode()
            request = urllib.request.Request(
                f"{self.base}/api/auth/login",
                data=body,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            for _ in range(LOGIN_ATTEMPTS):
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        return username, json.load(response)["token"]
                except urllib.error.HTTPError as exc:
                    # 503 busy: the server hashes one password at a time per process
                    # (docs/reliability.md); come back when it says.
                    if exc.code != 503:
                        return username, None
                    time.sleep(float(exc.headers.get("Retry-After") or 1))
                except (OSError, ValueError, KeyError):
                    return username, None
            return username, None

        wanted = [(name, cached[name]) for name in usernames if name in cached]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(pool.map(valid, wanted))
            missing = [name for name in usernames if not results.get(name)]
            results.update(pool.map(login, missing))
        tokens = {name: token for name, token in results.items() if token}
        if not tokens:
            raise RunError("no persona could log in; is the seeded lab password right?")
        if cache is not None:
            cache.write_text(json.dumps(tokens))
            cache.chmod(0o600)
        say(f"{len(tokens)} personas signed in ({len(missing)} fresh logins)")
        return tokens


def _port_busy(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.3):
        return True
    return False
