"""The web benchmark's own data: its database, Redis database and media, seeded with the
demo account's world, and the accounts and room the browser steps use."""

from __future__ import annotations

import os
import subprocess
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from benchmarks import drive
from benchmarks.web.common import PYTHON, ROOT, BudgetError, say

WEB_DATABASE = "instalab_web"
WEB_PREFIX = "webbench"
# Its own Redis database: the fan-out jobs the demo world queues must not reach the dev
# server's worker, which would run them against the dev database.
WEB_REDIS_DB = 12
WEB_MEDIA = ROOT / "var" / "web-bench-media"
SEED = 42


def redis_db_url(url: str, db: int) -> str:
    """The same Redis server, another numbered database (unix socket or TCP URL)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        # urlunsplit would drop the empty authority (unix:///path becomes unix:/path).
        query = {**dict(parse_qsl(parts.query)), "db": str(db)}
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def data_environment() -> dict[str, str]:
    """The database, Redis and media of this benchmark, for its commands and its server."""
    parts = urlsplit(drive.database_url())
    return {
        "DATABASE_URL": urlunsplit(parts._replace(path=f"/{WEB_DATABASE}")),
        "REDIS_URL": redis_db_url(drive.redis_url(), WEB_REDIS_DB),
        "REDIS_KEY_PREFIX": WEB_PREFIX,
        "MEDIA_ROOT": str(WEB_MEDIA),
    }


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BudgetError(f"{what} failed:\n{(result.stdout + result.stderr).strip()[-3000:]}")
    return result.stdout


def data_make(*, scale: str, reuse: bool) -> dict[str, str]:
    """Create and migrate the benchmark database, seed it, and give the demo account its
    world (`make run`'s steps); returns the environment the server runs in."""
    import psycopg

    env = {**os.environ, **data_environment()}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    params = psycopg.conninfo.conninfo_to_dict(env["DATABASE_URL"])
    params["dbname"] = "postgres"
    try:
        with psycopg.connect(psycopg.conninfo.make_conninfo("", **params), autocommit=True) as db:
            exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [WEB_DATABASE])
            if not exists.fetchone():
                db.execute(f'CREATE DATABASE "{WEB_DATABASE}"')
    except psycopg.OperationalError as exc:
        raise BudgetError(
            f"PostgreSQL is not reachable ({exc}); start it with `make services`"
        ) from None
    say(f"migrating {WEB_DATABASE}")
    _run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], env, "migrate")
    if reuse and _demo_ready(env):
        say("reusing the seeded data and the demo account already there (--reuse-data)")
        return env
    say(f"seeding {WEB_DATABASE} at {scale} (seed {SEED}), anchored now")
    seeded = _run(
        [PYTHON, "-m", "seed", "--scale", scale, "--seed", str(SEED), "--reset", "--no-progress"],
        env,
        "seeding",
    )
    say(seeded.splitlines()[0] if seeded else "seeded")
    say("building the demo account's world (python -m seed.demo_user, DEBUG=1 as `make run`)")
    world = _run([PYTHON, "-m", "seed.demo_user"], {**env, "DEBUG": "1"}, "seed.demo_user")
    for line in world.splitlines():
        if line.strip().startswith("world"):
            say(line.strip())
    return env


def _demo_ready(env: dict[str, str]) -> bool:
    check = (
        "from app.accounts.models import User; "
        "print(User.objects.filter(username='demo', following_count__gt=0).exists())"
    )
    out = _run([PYTHON, "manage.py", "shell", "-c", check], env, "the data check")
    return out.strip() == "True"


def demo_targets(env: dict[str, str]) -> dict[str, Any]:
    """The demo account's first DM room and the other member, read with this process's ORM."""
    os.environ.update(data_environment())
    drive.django_setup()
    from app.chat.models import Membership
    from seed.demo_user import DEMO_PASSWORD, DEMO_USERNAME
    from seed.presets import LAB_PASSWORD

    mine = Membership.objects.filter(user__username=DEMO_USERNAME, room__kind="dm")
    room_id = mine.order_by("room_id").values_list("room_id", flat=True).first()
    if room_id is None:
        raise BudgetError("the demo account has no DM room: its world was not built")
    other = (
        Membership.objects.filter(room_id=room_id)
        .exclude(user__username=DEMO_USERNAME)
        .values_list("user__username", flat=True)
        .get()
    )
    return {
        "demo": (DEMO_USERNAME, DEMO_PASSWORD),
        "other": (other, LAB_PASSWORD),
        "room_id": int(room_id),
    }
