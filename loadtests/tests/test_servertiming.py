"""Server-Timing parsing and the per-endpoint aggregation the Locust hook feeds."""

from __future__ import annotations

import json

import pytest

from loadtests.servertiming import EndpointTiming, TimingAggregator, header_parse, sample_of

HEADER = (
    'app;dur=12.4, db;dur=3.1;desc="4 queries", cache;desc="2 hit 1 miss", '
    'strategy;desc="feed=naive,search=indexed"'
)


def test_it_keeps_commas_inside_quoted_descriptions():
    metrics = header_parse(HEADER)
    assert metrics["strategy"]["desc"] == "feed=naive,search=indexed"
    assert metrics["db"] == {"dur": "3.1", "desc": "4 queries"}
    assert set(metrics) == {"app", "db", "cache", "strategy"}


def test_it_reads_a_sample_from_the_header():
    sample = sample_of(HEADER)
    assert sample is not None
    assert (sample.app_ms, sample.db_ms, sample.queries) == (12.4, 3.1, 4)
    assert (sample.cache_hits, sample.cache_misses) == (2, 1)
    assert sample.strategy == "feed=naive,search=indexed"


@pytest.mark.parametrize("value", [None, "", "total;dur=3", "garbage,,;"])
def test_it_ignores_responses_without_the_apps_timing(value):
    assert sample_of(value) is None


def test_it_reads_one_query_and_no_cache():
    sample = sample_of('app;dur=1.0, db;dur=0.2;desc="1 query", cache;desc="0 hit 0 miss"')
    assert sample is not None
    assert sample.queries == 1
    assert sample.strategy == ""


def test_it_aggregates_means_maxima_and_hit_ratio_per_endpoint():
    agg = TimingAggregator()
    agg.add(key="GET /api/feed", header=HEADER)
    agg.add(
        key="GET /api/feed",
        header='app;dur=7.6, db;dur=0.9;desc="2 queries", cache;desc="1 hit 0 miss", '
        'strategy;desc="feed=naive"',
    )
    agg.add(key="GET /api/feed", header=None)
    agg.add(
        key="GET /api/search",
        header='app;dur=5, db;dur=1;desc="1 queries", cache;desc="0 hit 0 miss"',
    )
    feed = agg.figures()["GET /api/feed"]
    assert feed["samples"] == 2
    assert feed["mean_app_ms"] == 10.0
    assert feed["mean_queries"] == 3.0
    assert (feed["min_queries"], feed["max_queries"]) == (2, 4)
    assert feed["cache_hit_ratio"] == 0.75
    assert feed["strategies"] == {"feed=naive": 1, "feed=naive,search=indexed": 1}
    search = agg.figures()["GET /api/search"]
    assert search["cache_hit_ratio"] is None
    assert agg.figures()["Aggregated"]["samples"] == 3
    assert agg.figures()["Aggregated"]["max_queries"] == 4


def test_it_merges_dumps_from_several_processes_like_one():
    one, two, together = TimingAggregator(), TimingAggregator(), TimingAggregator()
    headers = [HEADER, 'app;dur=1, db;dur=1;desc="9 queries", cache;desc="0 hit 3 miss"']
    one.add(key="GET /x", header=headers[0])
    two.add(key="GET /x", header=headers[1])
    for header in headers:
        together.add(key="GET /x", header=header)
    merged = TimingAggregator()
    merged.merge(one.dump())
    merged.merge(two.dump())
    assert merged.figures() == together.figures()


def test_it_keeps_min_queries_unset_until_a_sample_arrives():
    empty = EndpointTiming()
    empty.merge(EndpointTiming())
    assert empty.min_queries is None
    assert empty.figures()["min_queries"] == 0


def test_it_reads_the_serving_threads_cpu():
    sample = sample_of('app;dur=12.4, cpu;dur=3.25, db;dur=3.1;desc="4 queries"')
    assert sample is not None
    assert sample.cpu_ms == 3.25
    assert sample.app_ms == 12.4


def test_it_still_reads_a_header_without_cpu():
    sample = sample_of(HEADER)
    assert sample is not None
    assert sample.cpu_ms is None
    timing = EndpointTiming()
    timing.add(sample)
    figures = timing.figures()
    assert (figures["cpu_samples"], figures["mean_cpu_ms"], figures["median_cpu_ms"]) == (
        0,
        None,
        None,
    )


def test_it_aggregates_median_and_mean_cpu_per_endpoint():
    agg = TimingAggregator()
    for cpu in (1.0, 2.0, 3.0, 10.0):
        agg.add(key="GET /api/feed", header=f'app;dur=20, cpu;dur={cpu}, db;dur=1;desc="1 query"')
    agg.add(key="GET /api/feed", header='app;dur=20, db;dur=1;desc="1 query"')  # an old server
    agg.add(key="GET /api/me", header='app;dur=2, cpu;dur=0.8, db;dur=0;desc="0 queries"')
    feed = agg.figures()["GET /api/feed"]
    assert (feed["cpu_samples"], feed["mean_cpu_ms"], feed["median_cpu_ms"]) == (4, 4.0, 2.5)
    both = agg.figures()["Aggregated"]
    assert (both["cpu_samples"], both["median_cpu_ms"]) == (5, 2.0)
    assert both["mean_cpu_ms"] == pytest.approx(16.8 / 5)


def test_it_merges_cpu_histograms_from_several_processes_like_one():
    headers = [f"app;dur=5, cpu;dur={cpu}" for cpu in (0.41, 0.52, 7.3, 7.3, 12.25)]
    one, two, together = TimingAggregator(), TimingAggregator(), TimingAggregator()
    for index, header in enumerate(headers):
        (one if index % 2 else two).add(key="GET /x", header=header)
        together.add(key="GET /x", header=header)
    merged = TimingAggregator()
    merged.merge(json.loads(json.dumps(one.dump())))  # through JSON, as the raw files go
    merged.merge(json.loads(json.dumps(two.dump())))
    assert merged.figures() == together.figures()
    assert merged.figures()["GET /x"]["median_cpu_ms"] == 7.3


def test_it_merges_dumps_written_before_cpu_was_tallied():
    old = {"GET /x": {"count": 2, "app_ms": 4.0, "queries": 2, "max_queries": 1}}
    merged = TimingAggregator()
    merged.merge(old)
    assert merged.figures()["GET /x"]["median_cpu_ms"] is None
    assert merged.figures()["GET /x"]["samples"] == 2


def test_with_replicas_it_counts_the_reads_the_primary_answered():
    agg = TimingAggregator()
    base = 'app;dur=1, db;dur=1;desc="4 queries", cache;desc="0 hit 0 miss"'
    agg.add(key="GET /x", header=f'{base}, replica;desc="3 of 4 reads"')
    agg.add(key="GET /x", header=f'{base}, replica;desc="0 of 4 reads"')
    agg.add(key="POST /y", header=f'{base}, replica;desc="0 of 2 reads, 1 position"')
    agg.add(key="GET /z", header=base)  # a server without replicas says nothing
    figures = agg.figures()
    assert figures["GET /x"]["reads"] == 8
    assert figures["GET /x"]["primary_read_share"] == 0.625
    assert figures["POST /y"]["primary_read_share"] == 1.0
    assert figures["POST /y"]["replica_positions"] == 1
    assert figures["GET /z"]["primary_read_share"] is None
    assert figures["Aggregated"]["primary_read_share"] == 0.7
