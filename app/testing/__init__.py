"""What the tests of every app share: API clients, factory_boy factories, test data with exact
counters, test images, WebSocket communicators, a private Redis.

Only tests and conftests import this package (an import rule in pyproject.toml); a test
imports no other test module, no conftest and no private name (tools/tests/test_test_imports.py).
"""
