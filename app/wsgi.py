"""WSGI entry point: HTTP under granian or gunicorn, with a login flood from an address already
refused answered before Django runs (app/core/ratelimit.py)."""

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
django_application = get_wsgi_application()

# Imported after Django is set up: they read settings.
from app.accounts.models import User  # noqa: E402
from app.core.ratelimit import LOGIN_PATH, early_refusal  # noqa: E402
from app.lab.metrics import request_count  # noqa: E402


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    started = time.perf_counter()
    refusal = early_refusal(environ, normalize_username=User.normalize_username)
    if refusal is None:
        return django_application(environ, start_response)
    wait, body = refusal
    start_response(
        "429 Too Many Requests",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(max(1, int(wait + 0.999)))),
        ],
    )
    route = LOGIN_PATH.lstrip("/")
    request_count(method="POST", route=route, status=429, seconds=time.perf_counter() - started)
    return [body]
