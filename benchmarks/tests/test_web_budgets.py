"""The web budgets benchmark without a browser: the JavaScript budget over the files
themselves, and the pieces of benchmarks/web/ that need no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.web import browser, common, data, report


def test_the_browser_apps_javascript_fits_the_budget() -> None:
    # Every file, not only what one page imports: no page can load more than all of them.
    sizes = common.static_js_bytes()
    assert "app.js" in sizes and "js/core.js" in sizes
    total = sum(sizes.values())
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:5]
    assert total <= common.JS_BUDGET_BYTES, (
        f"app/web/static/web holds {total:,} bytes of JavaScript, over the "
        f"{common.JS_BUDGET_BYTES:,}-byte budget; the largest files: {largest}"
    )


def test_it_says_how_to_get_chromium_when_it_is_missing(tmp_path: Path) -> None:
    with pytest.raises(common.BudgetError, match="apt-get install -y chromium"):
        browser.chromium_check(tmp_path / "no-chromium")


def test_it_takes_the_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 51)]
    assert common.percentile(values, 0.95) == 48.0
    assert common.percentile(values, 0.5) == 25.0
    assert common.percentile([7.0], 0.95) == 7.0


def test_it_uses_another_database_of_the_same_redis() -> None:
    socket = "unix:///work/var/redis/redis.sock?db=0"
    assert data.redis_db_url(socket, 12) == "unix:///work/var/redis/redis.sock?db=12"
    assert data.redis_db_url("redis://localhost:6379/0", 12) == "redis://localhost:6379/12"


def test_it_names_what_moved_and_its_share_of_the_score() -> None:
    shifts = [
        {"value": 0.004, "nodes": ["button.more"]},
        {"value": 0.0002, "nodes": ["ul.nav-links"]},
        {"value": 0.0003, "nodes": ["ul.nav-links", "button.more"]},
        {"value": 0.0001, "nodes": []},
    ]
    assert report.shift_sources(shifts) == (
        "`button.more` 0.0043, `ul.nav-links` 0.0005, `(unattributed)` 0.0001"
    )
    assert report.shift_sources([]) == ""
