"""Capacity model: measured per-request costs and a traffic model turned into hardware.

See benchmarks/capacity/__main__.py for the commands and docs/scaling.md for the formula.
"""
