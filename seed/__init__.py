"""Deterministic, Instagram-shaped seed data at four scales, bulk-loaded with COPY."""
