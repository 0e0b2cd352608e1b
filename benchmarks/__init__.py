"""Benchmarks: pytest-benchmark suites and the serving comparison (benchmarks/serving.py)."""
