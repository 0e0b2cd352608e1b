"""Which baseline a machine is judged against: perf-check's baselines by kind of machine.

A kind of machine is its processor model and core count (benchmarks.drive.machine). The
default baseline, ``benchmarks/baseline.json``, belongs to the kind that took it; another
kind keeps its own beside it, ``benchmarks/baselines/<cpu>-<n>cpu.json`` (docs/regressions.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks import drive

# Where the baselines of other kinds of machine live, one file per kind (machine_slug).
MACHINE_BASELINES = "baselines"


def same_machine(document: Mapping[str, Any], machine: Mapping[str, Any] | None = None) -> bool:
    """Whether this machine's processor and core count are the baseline's."""
    then, now = document.get("machine", {}), machine or drive.machine()
    return bool(then) and all(then.get(key) == now.get(key) for key in ("cpu", "nproc"))


def machine_slug(machine: Mapping[str, Any]) -> str:
    """A kind of machine as a file name: its processor model and core count."""
    cpu = re.sub(r"[^a-z0-9]+", "-", str(machine.get("cpu", "unknown")).lower()).strip("-")
    return f"{cpu or 'unknown'}-{machine.get('nproc', 0)}cpu"


def machine_baseline(default: Path, machine: Mapping[str, Any]) -> Path:
    """Where a baseline of this kind of machine lives, beside the default one."""
    return default.parent / MACHINE_BASELINES / f"{machine_slug(machine)}.json"


def baseline_to_read(default: Path, machine: Mapping[str, Any]) -> Path:
    """This machine's own baseline when there is one, else the default."""
    own = machine_baseline(default, machine)
    return own if own.exists() else default


def baseline_to_write(default: Path, machine: Mapping[str, Any]) -> Path:
    """Where ``baseline`` writes: this machine's own file when it has one or when the default
    belongs to another kind of machine (so neither overwrites the other), else the default."""
    own = machine_baseline(default, machine)
    if own.exists():
        return own
    if not default.exists() or same_machine(json.loads(default.read_text()), machine):
        return default
    return own
