"""``manage.py lab_demo_user``: make sure the demo login exists and print how to use it; in
production mode (DEBUG off) it creates nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from app.accounts.models import User
from app.accounts.services import follow_create
from app.accounts.usercache import user_changed

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "instalab-demo"
# Public sample accounts the demo user follows, so its profile and lists are not empty.
SAMPLE_USERS = (
    ("demo.mina", "Mina (demo)", "Film cameras and 서울 alleys."),
    ("demo.jules", "Jules (demo)", "Coffee, climbing, and too many plants."),
)


def _ensure_user(*, username: str, name: str, bio: str) -> tuple[User, bool]:
    """Create the account if missing; an existing one keeps every edit made to it."""
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"name": name, "bio": bio, "email": f"{username}@example.com"},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user, created


class Command(BaseCommand):
    help = "Idempotently ensure the demo account (and a few sample users) exists; print a login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            # Its password is printed here and in the README: on a real server it would be
            # a known login. `make run` goes on without it.
            self.stdout.write(
                "No demo account: DEBUG is off (production mode), and a demo login's password "
                "is public. Sign up at /signup, or run with DEBUG=1 for the demo."
            )
            return
        with transaction.atomic():
            demo, created = _ensure_user(
                username=DEMO_USERNAME, name="Demo User", bio="The instalab demo account."
            )
            # The printed password must work, even if someone changed it since the last run.
            if not created and not demo.check_password(DEMO_PASSWORD):
                demo.set_password(DEMO_PASSWORD)
                demo.save(update_fields=["password"])
                user_changed(demo.pk)
            for username, name, bio in SAMPLE_USERS:
                sample, _ = _ensure_user(username=username, name=name, bio=bio)
                # Idempotent and counter-exact, like any follow through the API.
                follow_create(follower=demo, followee=sample)
        base = options["base_url"].rstrip("/")
        body = f'{{"username": "{DEMO_USERNAME}", "password": "{DEMO_PASSWORD}"}}'
        self.stdout.write(
            "\n".join(
                [
                    f"Demo login ({'created' if created else 'already there'}):",
                    f"  open      {base}",
                    f"  username  {DEMO_USERNAME}",
                    f"  password  {DEMO_PASSWORD}",
                    "  token     curl -s -X POST "
                    f"{base}/api/auth/login -H 'Content-Type: application/json' -d '{body}'",
                    "            then send: Authorization: Bearer <token>",
                    *_seeded_accounts(),
                ]
            )
        )


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
