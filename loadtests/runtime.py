"""What every part of a load-test run shares: the repo root, the interpreter, the error that
means the run could not be made, the progress line and the verdict."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


class RunError(RuntimeError):
    """The run could not be made (services, seed, server or Locust failed)."""


STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[loadtest {time.monotonic() - STARTED:5.1f}s] {message}", file=sys.stderr, flush=True)


def python_run(*argv: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
    """``python argv...`` in the repo; its stdout when ``capture``. RunError when it fails."""
    result = subprocess.run(
        [PYTHON, *argv], cwd=ROOT, env=env, text=True, capture_output=capture, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:] if capture else ""
        raise RunError(f"`python {' '.join(argv)}` failed ({result.returncode}) {detail}")
    return result.stdout if capture else ""


class Verdict(Protocol):
    """A threshold or a chaos check: passed or not, and its one-line account."""

    @property
    def ok(self) -> bool: ...

    def line(self) -> str: ...


def verdict(
    checks: Sequence[Verdict], *, report_dir: Path, what: str, echo: Callable[[str], None] = say
) -> int:
    """Print every check and where the report is: the exit status, 1 when one failed, else 0."""
    for check in checks:
        print(check.line())
    echo(f"report: {report_dir / 'report.html'}")
    failed = [check for check in checks if not check.ok]
    if failed:
        echo(f"{len(failed)} {what} failed")
        return 1
    return 0
