"""Determinism, refusal on a non-empty database, reset, and recovery from an interrupted seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from app.accounts.models import User
from seed.__main__ import main
from seed.plan import anchor_parse
from seed.runner import LOADED, SeedError
from seed.tests.conftest import Seeder, sql


def _checksums() -> dict[str, str]:
    return {
        table: sql(f"SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t")[0][0]
        for table in LOADED
    }


def test_it_produces_identical_tables_for_the_same_seed_and_anchor(seeder: Seeder) -> None:
    anchor = anchor_parse("2026-11-30T06:30:00Z")
    seeder(seed=42, anchor_us=anchor)
    first = _checksums()
    seeder(seed=42, reset=True, anchor_us=anchor)
    assert _checksums() == first
    assert all(first.values())
    seeder(seed=43, reset=True, anchor_us=anchor)
    other = _checksums()
    assert all(
        other[table] != first[table] for table in ("accounts_user", "posts_like", "posts_post")
    )


def test_it_refuses_a_non_empty_database_without_reset(seeder: Seeder) -> None:
    User.objects.create_user(username="keepme", password="x")
    with pytest.raises(SeedError, match="not empty"):
        seeder()
    assert list(User.objects.values_list("username", flat=True)) == ["keepme"]


def test_it_reset_replaces_rows_and_clears_only_this_apps_redis_keys(seeder: Seeder) -> None:
    User.objects.create_user(username="stale", password="x")
    redis = get_redis_connection("default")
    redis.set(f"{settings.REDIS_KEY_PREFIX}:timeline:1", "stale")
    redis.set("otherapp-h5:key", "kept")
    try:
        result = seeder(reset=True)
        assert not User.objects.filter(username="stale").exists()
        assert User.objects.count() == 200
        assert redis.get(f"{settings.REDIS_KEY_PREFIX}:timeline:1") is None
        assert redis.get("otherapp-h5:key") == b"kept"
        assert result.tables["accounts_user"] == 200
    finally:
        redis.delete("otherapp-h5:key")
    # Sequences continue after the seeded ids, so the app's next insert does not collide.
    assert User.objects.create_user(username="newcomer", password="x").pk == 201


def test_it_cleans_up_after_an_interrupted_seed(seeder: Seeder, tmp_path: Path) -> None:
    manifest = tmp_path / "seed-manifest.json"
    manifest.write_text(json.dumps({"status": "in_progress", "scale": "tiny", "seed": 42}))
    User.objects.create_user(username="halfseeded", password="x")
    result = seeder(manifest_path=manifest)
    assert result.cleaned_interrupted
    assert not User.objects.filter(username="halfseeded").exists()
    data = json.loads(manifest.read_text())
    assert data["status"] == "complete"
    assert data["counts"]["posts_like"] == 20_000


def test_it_writes_a_manifest_with_tiers_and_communities(seeder: Seeder) -> None:
    result = seeder()
    data = json.loads(result.manifest.read_text())
    assert (data["scale"], data["seed"], data["password"]) == ("tiny", 42, "instalab-lab")
    assert len(data["communities"]["user_community"]) == 200
    tiers = data["tiers"]
    for tier in ("celebrities", "celebrity_followers", "heavy_posters", "lurkers", "private"):
        assert tiers[tier], tier
    celebs = User.objects.filter(username__in=tiers["celebrities"])
    assert min(celebs.values_list("follower_count", flat=True)) > 100
    assert all(
        User.objects.filter(username__in=tiers["private"]).values_list("is_private", flat=True)
    )
    assert User.objects.get(username=tiers["heavy_posters"][0]).post_count > 30
    # Every seeded user logs in with the one lab password.
    assert User.objects.get(username=tiers["lurkers"][0]).check_password("instalab-lab")


@pytest.mark.parametrize(
    "argv",
    [["--scale", "huge"], ["--seed", "-1"], ["--seed", "abc"], ["--anchor", "yesterday"]],
    ids=str,
)
def test_it_rejects_a_bad_scale_or_seed(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "scale" in err or "SEED must be an integer >= 0" in err or "ANCHOR must be" in err


def test_it_says_who_holds_the_tables_instead_of_waiting_forever(
    seeder: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from django.db import connection

    from seed import runner

    monkeypatch.setattr(runner, "LOCK_WAIT_SECONDS", 1)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    # Another session holding a table, as an interrupted seed's unfinished statement does.
    with psycopg.connect(**params) as other:
        other.execute("LOCK TABLE accounts_user IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(SeedError, match="stayed locked"):
            seeder(reset=True)
    # Once the other session is gone, the same seed goes through.
    assert seeder(reset=True).tables["accounts_user"] == 200
