"""``Idempotency-Key`` on create requests: a retry gets the first response, not a second write.

Every signed-in ``POST`` under ``/api/`` (sign-up and login aside) may carry the header. The
key is stored, per user, in the same transaction as the write the request makes, with the
response; so a key exists exactly when its write committed:

- first use: the request runs inside a transaction that also inserts the key. A 2xx commits
  both; any other answer rolls the key back (an error writes nothing), so a retry runs anew;
- the same key again with the same request: the stored response, with
  ``Idempotent-Replayed: true``, and nothing runs. A retry racing the first attempt waits on
  the key's row and then gets the replay;
- the same key with a different request (method, path or body): 422 ``idempotency_key_reused``.

Keys are kept for ``TTL``; an older one counts as unused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils import timezone

from app.core.models import IdempotencyKey

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_LENGTH = 100
TTL = timedelta(hours=24)
EXEMPT_PREFIXES = ("/api/auth/",)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def fingerprint(request: HttpRequest) -> str:
    """What makes two requests "the same": method, path, and the body (a multipart body by
    its fields and its files' bytes, since Django has parsed it by now)."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.content_type == "multipart/form-data":
        for name, values in sorted(request.POST.lists()):
            digest.update(repr((name, values)).encode())
        for name, files in sorted(request.FILES.lists()):
            for upload in files:
                digest.update(repr((name, upload.name, upload.size)).encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _valid(key: str) -> bool:
    return 0 < len(key) <= MAX_LENGTH and key.isascii() and key.isprintable()


def _replay(stored: IdempotencyKey, seen: str) -> HttpResponse:
    if stored.fingerprint != seen:
        return _error(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        )
    response = HttpResponse(
        bytes(stored.body), status=stored.status, content_type=stored.content_type
    )
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    """Below authentication: the key belongs to the signed-in user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        key = request.META.get(HEADER)
        if (
            key is None
            or request.method != "POST"
            or not request.path.startswith("/api/")
            or request.path.startswith(EXEMPT_PREFIXES)
        ):
            return self.get_response(request)
        if not _valid(key):
            return _error(
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key must be 1 to {MAX_LENGTH} printable ASCII characters",
            )
        if not request.user.is_authenticated:
            return self.get_response(request)  # the view answers 401
        return self._once(request, user_id=request.user.pk, key=key)

    def _once(self, request: HttpRequest, *, user_id: int, key: str) -> HttpResponseBase:
        seen = fingerprint(request)
        IdempotencyKey.objects.filter(
            user_id=user_id, key=key, created_at__lt=timezone.now() - TTL
        ).delete()
        with transaction.atomic():
            try:
                with transaction.atomic():
                    # Waits here while another request holding this key is still running.
                    row = IdempotencyKey.objects.create(
                        user_id=user_id, key=key, fingerprint=seen, status=0, body=b""
                    )
            except IntegrityError:
                return _replay(IdempotencyKey.objects.get(user_id=user_id, key=key), seen)
            response = self.get_response(request)
            if not 200 <= response.status_code < 300 or getattr(response, "streaming", False):
                transaction.set_rollback(True)
                return response
            assert isinstance(response, HttpResponse)
            row.status = response.status_code
            row.content_type = response.get("Content-Type", "application/json")
            row.body = response.content
            row.save(update_fields=["status", "content_type", "body"])
        return response
