"""WSGI entry point: HTTP under granian or gunicorn, with logins that would be refused anyway
(a refused address or account, no password slot free) answered before Django runs
(app/core/ratelimit.early_refusal)."""

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
    status, wait, body = refusal
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(max(1, int(wait + 0.999)))),
            # A client that keeps guessing must at least connect again for each guess.
            ("Connection", "close"),
        ],
    )
    route = LOGIN_PATH.lstrip("/")
    code = int(status.split()[0])
    request_count(method="POST", route=route, status=code, seconds=time.perf_counter() - started)
    return [body]
