"""Locust load tests: scenarios, shapes, Server-Timing aggregation, reports and gates (issue 8)."""
