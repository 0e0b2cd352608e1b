"""Tests of the HTTP lab instruments: bench-endpoints and profile."""
