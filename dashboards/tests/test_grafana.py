"""The provisioned Grafana dashboard, its Prometheus scrape config and the compose services that
run them (Docker cannot run here): every metric a panel plots is one the app exports, read from
the app's own /metrics, and every file a service mounts exists."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from loadtests.run import arguments
from ops import runner, serve

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "instalab-live.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "instalab.yml"
PROMETHEUS = GRAFANA / "prometheus.yml"
COMPOSE = ROOT / "docker-compose.yml"

# What the dashboard may call; anything else is a typo or PromQL this check cannot vouch for.
FUNCTIONS = {"sum", "max", "min", "avg", "count", "rate", "increase", "histogram_quantile"}
KEYWORDS = {"by", "without", "on", "ignoring", "and", "or", "unless", "bool"}
# Every topic the live view must show, by the metric that carries it.
REQUIRED = {
    "instalab_http_requests_total": "request rate and errors by route",
    "instalab_http_request_seconds_bucket": "latency percentiles",
    "instalab_http_db_queries_sum": "SQL queries per request",
    "instalab_cache_reads_total": "cache hit ratio",
    "instalab_ws_sockets_open": "WebSocket sockets",
    "instalab_ws_messages_total": "WebSocket messages",
    "instalab_queue_jobs": "background queue depth",
    "instalab_queue_lag_seconds": "fan-out lag",
}

_STRING = r'"(?:[^"\\]|\\.)*"'
_MATCHER = rf"\s*(\w+)\s*(?:=~|!~|!=|=)\s*{_STRING}\s*"
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}")
_RANGE = re.compile(r"\[(?:\$\w+|\d+[smhd])\]")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^()]*)\)")
_TOKEN = re.compile(r"[A-Za-z_:][\w:]*(?=\s*(\()?)")
_RATED = re.compile(r"\b(?:rate|increase)\(\s*([A-Za-z_:][\w:]*)")


@dataclass
class Expression:
    """What a PromQL expression reads: metric names with their matcher labels, and the labels
    it groups by."""

    metrics: dict[str, set[str]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)
    # Metrics read through rate() or increase(), which only counters and histograms suit.
    rated: set[str] = field(default_factory=set)


def parse(expr: str) -> Expression:
    """A small PromQL reader, enough for this dashboard: balanced brackets, well-formed
    matchers and ranges, known functions; anything it cannot place fails the test."""
    assert _balanced(re.sub(_STRING, '""', expr)), f"unbalanced brackets: {expr}"
    found = Expression()
    for name, body in _SELECTOR.findall(expr):
        assert re.fullmatch(rf"{_MATCHER}(?:,{_MATCHER})*", body), f"bad matchers {body!r}"
        labels = {label for label, _ in re.findall(rf"(\w+)\s*(=~|!~|!=|=)\s*{_STRING}", body)}
        found.metrics.setdefault(name, set()).update(labels)
    rest = _RANGE.sub("", _SELECTOR.sub(r"\1", expr))
    assert "[" not in rest, f"a range that is neither a duration nor a variable: {expr}"
    for labels in _GROUPING.findall(rest):
        found.grouping.update(label.strip() for label in labels.split(",") if label.strip())
    rest = _GROUPING.sub("", rest)
    for match in _TOKEN.finditer(rest):
        token, call = match.group(0), match.group(1)
        if call:
            assert token in FUNCTIONS, f"unknown function {token} in {expr}"
        elif token not in KEYWORDS:
            found.metrics.setdefault(token, set())
    assert found.metrics, f"no metric in {expr}"
    found.rated = set(_RATED.findall(expr))
    return found


def _balanced(text: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in text:
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


@cache
def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@cache
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> Iterator[dict[str, Any]]:
    """The panels that plot (rows only group them)."""
    for panel in dashboard()["panels"]:
        if panel["type"] != "row":
            yield panel


def expressions() -> Iterator[str]:
    for panel in panels():
        for target in panel["targets"]:
            yield target["expr"]


def service(name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = load_yaml(COMPOSE)["services"]
    return services[name]


def mounts(name: str) -> dict[str, tuple[Path, bool]]:
    """A service's bind mounts: container path -> (the file or folder here, read-only)."""
    found = {}
    for volume in service(name)["volumes"]:
        source, target, *mode = volume.split(":")
        if source.startswith("."):
            found[target] = ((ROOT / source).resolve(), mode == ["ro"])
    return found


def scrape_job() -> dict[str, Any]:
    (job,) = load_yaml(PROMETHEUS)["scrape_configs"]
    assert isinstance(job, dict)
    return job


def target_labels() -> set[str]:
    """Labels Prometheus adds to every sample of the app's."""
    added = {"job", "instance"}
    for group in scrape_job()["static_configs"]:
        added |= set(group.get("labels", {}))
    return added


@dataclass
class Series:
    kind: str  # the family's type: counter, gauge, histogram...
    labels: set[str]


def exposed(text: str, into: dict[str, Series]) -> None:
    """Each sample name in an exposition, with its family's type and the labels it carries."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series = into.setdefault(sample.name, Series(family.type, set()))
            series.labels.update(sample.labels)


@pytest.fixture
def exported(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Series]:
    """What a served /metrics holds: this process's registry after real requests, and the
    multiprocess view the runner's children share, where the runner's own restart counter is."""
    client.get(reverse("lab-hello"))
    client.get("/api/users/nobody-at-all")  # a 404
    client.get("/api/search/trending")  # a cache read
    single = client.get(reverse("metrics"))
    assert single.status_code == 200
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = serve.serve_config(environ={})
    runner.RestartCounter(roles=runner.counted_roles(specs=serve.serve_commands(config=config)))
    multi = client.get(reverse("metrics"))
    assert multi.status_code == 200
    found: dict[str, Series] = {}
    for response in (single, multi):
        exposed(response.content.decode(), into=found)
    return found


@pytest.mark.django_db
def test_every_plotted_metric_is_one_the_app_exports_with_those_labels(
    exported: dict[str, Series],
) -> None:
    added = target_labels()
    plotted: set[str] = set()
    for expr in expressions():
        parsed = parse(expr)
        grouped_by_any: set[str] = set()
        for name, matched in parsed.metrics.items():
            assert name in exported, f"{name} is plotted but /metrics has no such series"
            series = exported[name]
            unknown = matched - series.labels - added
            assert not unknown, f"{name} has no label {unknown}: {expr}"
            grouped_by_any |= series.labels
            # A counter plotted raw only climbs; a gauge's rate means nothing.
            cumulative = series.kind in {"counter", "histogram"}
            assert cumulative == (name in parsed.rated), f"{series.kind} {name}: {expr}"
        assert parsed.grouping <= grouped_by_any | added, f"groups by a missing label: {expr}"
        plotted |= set(parsed.metrics)
    missing = {topic for name, topic in REQUIRED.items() if name not in plotted}
    assert not missing, f"the dashboard does not show {sorted(missing)}"


@pytest.mark.django_db
def test_the_server_variable_reads_a_label_prometheus_adds(
    exported: dict[str, Series],
) -> None:
    (variable,) = dashboard()["templating"]["list"]
    match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"])
    assert match, variable["query"]
    assert match.group(1) in exported
    assert match.group(2) in target_labels()
    for expr in expressions():
        assert f'{match.group(2)}=~"${variable["name"]}"' in expr, f"not filtered: {expr}"


def test_it_parses_promql_and_rejects_what_it_cannot_read() -> None:
    parsed = parse(
        'sum by (route, le) (rate(instalab_x_bucket{server=~"$server", a="b"}[$__rate_interval]))'
        " / sum(rate(instalab_y_total[5m]))"
    )
    assert parsed.metrics == {"instalab_x_bucket": {"server", "a"}, "instalab_y_total": set()}
    assert parsed.grouping == {"route", "le"}
    assert parsed.rated == {"instalab_x_bucket", "instalab_y_total"}
    for broken in ("sum(rate(x[1m])", "rate(x{a=1}[1m])", "rat(x[1m])", "rate(x[1 m])"):
        with pytest.raises(AssertionError):
            parse(broken)


def test_its_panels_have_unique_ids_and_titles_and_fit_the_grid() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = [panel["title"] for panel in board["panels"]]
    assert len(titles) == len(set(titles))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        covered = {
            (grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])
        }
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered


def test_every_panel_queries_the_provisioned_datasource() -> None:
    (datasource,) = load_yaml(DATASOURCES)["datasources"]
    assert datasource["type"] == "prometheus"
    wanted = {"type": "prometheus", "uid": datasource["uid"]}
    assert dashboard()["templating"]["list"][0]["datasource"] == wanted
    for panel in panels():
        assert panel["type"] in {"timeseries", "stat"}, panel["title"]
        assert panel["description"], f"{panel['title']} says nothing of what it shows"
        assert panel["datasource"] == wanted, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(target["datasource"] == wanted for target in panel["targets"])


def test_grafana_reaches_prometheus_where_compose_starts_it() -> None:
    (datasource,) = load_yaml(DATASOURCES)["datasources"]
    listen = [arg for arg in service("prometheus")["command"] if arg.startswith("--web.listen")]
    assert listen == [f"--web.listen-address={datasource['url'].removeprefix('http://')}"]
    assert datasource["url"].startswith("http://127.0.0.1:")
    assert (
        datasource["jsonData"]["timeInterval"] == load_yaml(PROMETHEUS)["global"]["scrape_interval"]
    )


def test_compose_runs_both_under_the_monitoring_profile_with_pinned_images() -> None:
    for name in ("prometheus", "grafana"):
        assert service(name)["profiles"] == ["monitoring"], name
        tag = service(name)["image"].partition(":")[2]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name} image is not pinned: {tag!r}"
        # Host networking so a `make run` on the host's loopback is reachable; bound to it.
        assert service(name)["network_mode"] == "host"
    environment = service("grafana")["environment"]
    assert (environment["GF_SERVER_HTTP_ADDR"], environment["GF_SERVER_HTTP_PORT"]) == (
        "127.0.0.1",
        "3000",
    )


def test_compose_mounts_the_provisioning_read_only_from_files_that_exist() -> None:
    grafana, prometheus = mounts("grafana"), mounts("prometheus")
    for source, read_only in (*grafana.values(), *prometheus.values()):
        assert source.exists(), source
        assert read_only, source
    assert grafana["/etc/grafana/provisioning"][0] == GRAFANA / "provisioning"
    config_flag = "--config.file=/etc/prometheus/prometheus.yml"
    assert config_flag in service("prometheus")["command"]
    assert prometheus["/etc/prometheus/prometheus.yml"][0] == PROMETHEUS
    # The provider's folder is the mounted dashboards folder, and the home page is in it.
    (provider,) = load_yaml(PROVIDERS)["providers"]
    folder = provider["options"]["path"]
    assert grafana[folder][0] == DASHBOARD.parent
    home = service("grafana")["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{folder}/{DASHBOARD.name}"
    assert load_yaml(COMPOSE)["volumes"].keys() >= {"prometheus-data", "grafana-data"}


def test_prometheus_scrapes_the_metrics_view_of_make_run_and_make_loadtest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("PORT", "LOADTEST_PORT"):
        monkeypatch.delenv(name, raising=False)
    job = scrape_job()
    assert job["metrics_path"] == reverse("metrics")
    targets = {group["labels"]["server"]: group["targets"] for group in job["static_configs"]}
    run_port = serve.serve_config(environ={}).port
    assert targets == {
        "run": [f"127.0.0.1:{run_port}"],
        "loadtest": [f"127.0.0.1:{arguments([]).port}"],
    }
    assert str(run_port) in service("app")["environment"]["PORT"]
    # The compose app answers only this token: its scraper is not a loopback client.
    assert job["authorization"]["credentials"] == service("app")["environment"]["METRICS_TOKEN"]
