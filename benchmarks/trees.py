"""Two revisions side by side: a git worktree each, with a database, data and a server of its own.

benchmarks/commits.py compares a revision before a change with one after it. Each revision
gets a detached ``git worktree`` under a temporary folder, sharing this checkout's virtualenv
(a symlink: the same packages serve both), and a database of its own on the same PostgreSQL
(``instalab_commit_<sha>``), migrated and seeded by *that tree's own code*
(``manage.py migrate``, ``python -m seed --scale tiny --seed 42 --reset``, run in the worktree),
with Redis keys under a prefix of its own. Its production-mode server is whichever runner the
tree has (``ops.serve`` now, ``app.lab.serve`` before the refactor). The persona and the ids
the probes' paths need are read from that database with plain SQL, so no Django of this process
is involved. The CI load-test gate (`python -m loadtests.run`, mixed at tiny) can be run in a
tree too, on a further database of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import drive
from benchmarks.drive import DriveError, say

SCALE = "tiny"
SEED = 42
# Runners by era: the first a tree has is started.
RUNNERS = (("ops/serve.py", "ops.serve"), ("app/lab/serve.py", "app.lab.serve"))
SEED_TIMEOUT = 900.0
# The CI gate's command (.ci/run), less the thresholds file, which the caller chooses.
GATE_ARGS = (
    "--scenario",
    "mixed",
    "--users",
    "40",
    "--spawn",
    "20",
    "--duration",
    "45s",
    "--scale",
    SCALE,
    "--seed",
    str(SEED),
    "--shape",
    "steady",
    "--workers",
    "0",
    "--warmup",
    "10s",
    "--think",
    "1",
    "--personas-per-tier",
    "5",
)
GATE_TIMEOUT = 1200.0


class RevisionError(DriveError):
    """A revision git does not know: the command exits 2 before anything starts."""


@dataclass(frozen=True)
class Revision:
    spec: str
    sha: str

    @property
    def short(self) -> str:
        return self.sha[:7]


def revision_resolve(spec: str, *, repo: Path = drive.ROOT) -> Revision:
    """The commit ``spec`` names, or RevisionError."""
    if not spec or spec.startswith("-"):
        raise RevisionError(f"not a revision: {spec!r}")
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    sha = found.stdout.strip()
    if found.returncode != 0 or not sha:
        raise RevisionError(f"unknown revision {spec!r} (git rev-parse found no commit)")
    return Revision(spec=spec, sha=sha)


def database_url_named(base_url: str, name: str) -> str:
    """``base_url`` with its database replaced by ``name`` (the query string kept)."""
    parts = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def files_differ(first: Path, second: Path) -> bool:
    try:
        return first.read_bytes() != second.read_bytes()
    except OSError:
        return True


@dataclass
class Tree:
    """One revision's worktree, database and (once started) server."""

    label: str  # "before" or "after"
    revision: Revision
    path: Path
    database_url: str
    redis_url: str
    redis_prefix: str
    server: drive.Server | None = None
    token: str = ""
    targets: drive.LabTargets | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def database(self) -> str:
        return urllib.parse.urlsplit(self.database_url).path.lstrip("/")

    def runner(self) -> str:
        for path, module in RUNNERS:
            if (self.path / path).exists():
                return module
        raise DriveError(f"{self.revision.short} has no server runner ({RUNNERS})")

    def environ(
        self, *, database_url: str | None = None, prefix: str | None = None
    ) -> dict[str, str]:
        """This process's environment pointed at the tree's database and Redis keys. Both URLs
        are set, so the tree's code never starts servers of its own under its worktree."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV")
        }
        env.update(
            DATABASE_URL=database_url or self.database_url,
            REDIS_URL=self.redis_url,
            REDIS_KEY_PREFIX=prefix or self.redis_prefix,
            LAB_VAR_DIR=str(self.path / "var"),
        )
        return env

    def python(self, *args: str, env: dict[str, str], timeout: float) -> None:
        """``python args`` in the worktree; its output goes to the tree's log on failure."""
        done = subprocess.run(
            [drive.PYTHON, *args],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-3000:]
            raise DriveError(
                f"{self.label} ({self.revision.short}): {' '.join(args)} failed:\n{tail}"
            )


# --- worktrees ---------------------------------------------------------------------------------


def worktree_add(*, label: str, revision: Revision, under: Path) -> Path:
    path = under / f"{label}-{revision.short}"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(path), revision.sha],
        cwd=drive.ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    venv = drive.ROOT / ".venv"
    if venv.exists() and not (path / ".venv").exists():
        (path / ".venv").symlink_to(venv, target_is_directory=True)
    return path


def worktree_remove(path: Path) -> None:
    subprocess.run(
        ["git", "worktree", "remove", "--force", str(path)],
        cwd=drive.ROOT,
        capture_output=True,
        check=False,
        timeout=120,
    )
    shutil.rmtree(path, ignore_errors=True)


def worktrees_prune() -> None:
    subprocess.run(["git", "worktree", "prune"], cwd=drive.ROOT, capture_output=True, check=False)


def pair_write(
    document: Mapping[str, Any], text: str, *, kind: str, results: Path, reports: Path
) -> tuple[Path, Path]:
    """A two-revision run's files: ``results/<kind>-<before>-<after>.json`` (the document)
    and ``reports/<before>-<after>.md`` (``text``)."""
    revs = document["revisions"]
    stem = f"{revs['before']['sha'][:7]}-{revs['after']['sha'][:7]}"
    results.mkdir(parents=True, exist_ok=True)
    reports.mkdir(parents=True, exist_ok=True)
    json_path, md_path = results / f"{kind}-{stem}.json", reports / f"{stem}.md"
    json_path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    md_path.write_text(text)
    return json_path, md_path


def temp_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="instalab-commits-"))


def requirements_differ(before: Path, after: Path) -> list[str]:
    """The lock files that differ between two trees (one virtualenv serves both)."""
    names = ("requirements.lock", "requirements-dev.lock")
    return [name for name in names if files_differ(before / name, after / name)]


# --- databases ---------------------------------------------------------------------------------


def _admin_conninfo(database_url: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(database_url)
    params["dbname"] = "postgres"
    return psycopg.conninfo.make_conninfo("", **params)


def database_recreate(database_url: str) -> None:
    """Drop and create the URL's database (a fresh one for every comparison)."""
    name = urllib.parse.urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(_admin_conninfo(database_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")


def database_drop(database_url: str) -> None:
    name = urllib.parse.urlsplit(database_url).path.lstrip("/")
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(_admin_conninfo(database_url), autocommit=True, connect_timeout=5) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tree_prepare(tree: Tree) -> None:
    """A fresh database for the tree, migrated and seeded by the tree's own code."""
    say(f"{tree.label} {tree.revision.short}: database {tree.database}, migrate, seed {SCALE}")
    database_recreate(tree.database_url)
    env = tree.environ()
    tree.python("manage.py", "migrate", "--no-input", "-v", "0", env=env, timeout=SEED_TIMEOUT)
    tree.python(
        "-m",
        "seed",
        "--scale",
        SCALE,
        "--seed",
        str(SEED),
        "--reset",
        "--no-progress",
        env=env,
        timeout=SEED_TIMEOUT,
    )


# Plain SQL, the same choices as benchmarks/drive.lab_targets: the fullest feed's reader, the
# newest commented public post, the most followed public author, the top hashtag and place.
TARGET_SQL = {
    "username": "SELECT username FROM accounts_user WHERE following_count > 0 AND is_active"
    " ORDER BY following_count DESC, id LIMIT 1",
    "post_id": "SELECT p.id FROM posts_post p JOIN accounts_user u ON u.id = p.author_id"
    " WHERE NOT u.is_private AND p.comment_count > 0 ORDER BY p.id DESC LIMIT 1",
    "profile": "SELECT username FROM accounts_user WHERE NOT is_private AND post_count > 0"
    " ORDER BY follower_count DESC, id LIMIT 1",
    "hashtag": "SELECT name FROM posts_hashtag ORDER BY post_count DESC, id LIMIT 1",
    "place_id": "SELECT id FROM posts_place ORDER BY post_count DESC, id LIMIT 1",
}


def targets_read(database_url: str, *, password: str) -> drive.LabTargets:
    found: dict[str, Any] = {}
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        for name, sql in TARGET_SQL.items():
            row = conn.execute(sql).fetchone()
            if row is None:
                raise DriveError(f"the seeded database has no row for {name} ({sql})")
            found[name] = row[0]
    hashtag = str(found["hashtag"])
    return drive.LabTargets(
        scale=SCALE,
        username=str(found["username"]),
        password=password,
        post_id=int(found["post_id"]),
        profile=str(found["profile"]),
        hashtag=hashtag,
        place_id=int(found["place_id"]),
        prefix=hashtag[:2],
        word=hashtag,
    )


def lab_password(tree: Tree) -> str:
    """seed/presets.py's LAB_PASSWORD as the tree has it (read, not imported)."""
    text = (tree.path / "seed" / "presets.py").read_text()
    for line in text.splitlines():
        if line.startswith("LAB_PASSWORD"):
            return str(json.loads(line.split("=", 1)[1].strip().replace("'", '"')))
    raise DriveError(f"{tree.revision.short}: seed/presets.py has no LAB_PASSWORD")


# --- servers -----------------------------------------------------------------------------------


def tree_serve(tree: Tree, *, workers: int) -> None:
    """The tree's production-mode server on free ports, and a persona signed in on it."""
    env = tree.environ()
    tree.server = drive.server_start(
        port=drive.free_port(),
        ws_port=drive.free_port(),
        workers=workers,
        environ=env,
        root=tree.path,
        module=tree.runner(),
    )
    tree.targets = targets_read(tree.database_url, password=lab_password(tree))
    tree.token = drive.login(
        base_url=tree.server.base_url,
        username=tree.targets.username,
        password=tree.targets.password,
    )
    say(f"{tree.label}: signed in as {tree.targets.username} on {tree.server.base_url}")


def tree_stop(tree: Tree) -> None:
    if tree.server is not None:
        tree.server.stop()
        tree.server = None


# --- the load-test gate ------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    label: str
    revision: str
    exit_code: int
    thresholds: str
    summary: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def figures(self) -> dict[str, Any]:
        """What the report shows: the verdict, the aggregate and each endpoint's p95."""
        aggregate = self.summary.get("aggregate", {})
        failed = [c for c in self.summary.get("thresholds", []) if not c.get("ok")]
        return {
            "revision": self.revision,
            "exit_code": self.exit_code,
            "passed": self.passed,
            "thresholds": self.thresholds,
            "requests": aggregate.get("requests"),
            "failures": aggregate.get("failures"),
            "rps": aggregate.get("rps"),
            "p95_ms": aggregate.get("p95_ms"),
            "endpoints_p95_ms": {
                row["name"]: row.get("p95_ms") for row in self.summary.get("endpoints", [])
            },
            # The most queries one request of the endpoint ran (a cold cache's path too).
            "endpoints_max_queries": {
                row["name"]: (row.get("server") or {}).get("max_queries")
                for row in self.summary.get("endpoints", [])
            },
            "failed_checks": failed,
            "cpu_ms_per_request": self.summary.get("server_cpu_ms_per_request", {}),
        }


def gate_run(tree: Tree, *, thresholds: Path) -> GateResult:
    """The CI gate's run in the tree, on a database and Redis prefix of its own."""
    name = f"commits-gate-{tree.revision.short}"
    url = database_url_named(tree.database_url, f"{tree.database}_gate")
    say(f"{tree.label} {tree.revision.short}: load-test gate (mixed at {SCALE}, 45 s) on {url}")
    database_recreate(url)
    env = tree.environ(database_url=url, prefix=f"{tree.redis_prefix}_gate")
    argv = [
        drive.PYTHON,
        "-m",
        "loadtests.run",
        *GATE_ARGS,
        "--thresholds",
        str(thresholds),
        "--port",
        str(drive.free_port()),
        "--ws-port",
        str(drive.free_port()),
        "--name",
        name,
    ]
    log = tree.path.parent / f"{name}.log"
    try:
        with log.open("w") as out:
            done = subprocess.run(
                argv,
                cwd=tree.path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=GATE_TIMEOUT,
                check=False,
            )
        summary_path = tree.path / "reports" / name / "summary.json"
        summary: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            summary = json.loads(summary_path.read_text())
        if not summary:
            tail = log.read_text()[-3000:]
            raise DriveError(
                f"{tree.label}: the gate wrote no summary (exit {done.returncode}):\n{tail}"
            )
    finally:
        database_drop(url)
    p95 = summary.get("aggregate", {}).get("p95_ms")
    say(f"{tree.label}: gate exit {done.returncode}, aggregate p95 {p95} ms")
    return GateResult(
        label=tree.label,
        revision=tree.revision.short,
        exit_code=done.returncode,
        thresholds=str(thresholds),
        summary=summary,
    )
