"""``python -m seed.demo_user``: make sure the demo login exists and print how to use it
(``make run`` calls it after seeding); in production mode (DEBUG off) it creates nothing.

A new demo account gets a world made of the seeded data (seed/demo.py): it follows accounts
that posted lately, a few follow it back, and it has DM conversations, some unread. An
existing one keeps every edit made to it; `make seed RESET=1` gives it a fresh world.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from seed.demo import DemoWorld

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "instalab-demo"


def _default_base_url() -> str:
    """Where `make run` serves: HOST and PORT as the server runner reads them."""
    from ops.serve import ServeError, browse_url, serve_config

    try:
        return browse_url(config=serve_config(environ=os.environ))
    except ServeError:
        return "http://127.0.0.1:8000"  # the runner refuses this environment and says why


def ensure(*, base_url: str | None, out: TextIO) -> None:
    """Create the demo account (with its world) if it is missing, reset its password if it
    was changed, and print how to log in. Django must be set up."""
    from django.conf import settings
    from django.db import transaction

    from app.accounts.models import User
    from app.accounts.usercache import user_changed
    from seed.demo import demo_world_build

    if not settings.DEBUG:
        # Its password is printed here and in the README: on a real server it would be a
        # known login. `make run` goes on without it.
        out.write(
            "No demo account: DEBUG is off (production mode), and a demo login's password "
            "is public. Sign up at /signup, or run with DEBUG=1 for the demo.\n"
        )
        return
    with transaction.atomic():
        demo, created = User.objects.get_or_create(
            username=DEMO_USERNAME,
            defaults={
                "name": "Demo User",
                "bio": "The instalab demo account.",
                "email": f"{DEMO_USERNAME}@example.com",
            },
        )
        # The printed password must work, even if someone changed it since the last run.
        if created or not demo.check_password(DEMO_PASSWORD):
            demo.set_password(DEMO_PASSWORD)
            demo.save(update_fields=["password"])
            user_changed(demo.pk)
    # Outside the account's transaction: the world's writes publish and fan out on their
    # own commits, as the API's do.
    world = demo_world_build(demo=demo) if created else None
    base = (base_url or _default_base_url()).rstrip("/")
    body = f'{{"username": "{DEMO_USERNAME}", "password": "{DEMO_PASSWORD}"}}'
    lines = [
        f"Demo login ({'created' if created else 'already there'}):",
        f"  open      {base}",
        f"  username  {DEMO_USERNAME}",
        f"  password  {DEMO_PASSWORD}",
        "  token     curl -s -X POST "
        f"{base}/api/auth/login -H 'Content-Type: application/json' -d '{body}'",
        "            then send: Authorization: Bearer <token>",
        *_world_lines(world),
        *_seeded_accounts(),
    ]
    out.write("\n".join(lines) + "\n")


def _world_lines(world: DemoWorld | None) -> list[str]:
    if world is None:
        return []
    if not world.following:
        return ["  world     none: no seeded account has posted lately (run `make seed` first)"]
    return [
        f"  world     follows {len(world.following)} accounts that posted lately, "
        f"{len(world.followers)} follow it back, {world.notifications} notifications, "
        f"DMs with {', '.join(world.conversations)}",
    ]


def _seeded_accounts() -> list[str]:
    """A few seeded lab accounts from the manifest, once the seeder has run."""
    from seed.manifest import manifest_default_path, manifest_read

    manifest = manifest_read(manifest_default_path())
    if not manifest or manifest.get("status") != "complete":
        return []
    tiers: dict[str, list[str]] = manifest.get("tiers", {})
    lines = [
        f"Seeded lab accounts ({manifest.get('scale')} scale), all with password "
        f"{manifest.get('password')}:"
    ]
    lines.extend(
        f"  {tier:<14}{', '.join(tiers[tier][:3])}"
        for tier in ("celebrities", "heavy_posters", "active", "private")
        if tiers.get(tier)
    )
    lines.append(f"  (every tier: {manifest_default_path()})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seed.demo_user", description=__doc__)
    parser.add_argument(
        "--base-url", default=None, help="the URL to print (default: from HOST and PORT)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    import django

    django.setup()
    ensure(base_url=args.base_url, out=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
