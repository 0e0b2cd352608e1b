"""API test clients: JSON in and out, signed in with a bearer token as a load test would be."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from app.accounts.models import User


class ApiClient(Client):
    """A test client that speaks JSON and logs in with a bearer token, like a load test."""

    def __init__(self, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token

    def _headers(self, extra: dict[str, Any]) -> dict[str, Any]:
        if self.token:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        return extra

    def get_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.get(path, data, **self._headers(extra))

    def post_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        body = json.dumps(data) if data is not None else ""
        return self.post(path, body, content_type="application/json", **self._headers(extra))

    def post_form(self, path: str, data: dict[str, Any], **extra: Any) -> Any:
        """A multipart POST, as a browser's form sends files."""
        return self.post(path, data, **self._headers(extra))

    def delete_json(self, path: str, **extra: Any) -> Any:
        return self.delete(path, **self._headers(extra))


def login_client(user: User) -> ApiClient:
    """An ApiClient holding ``user``'s session key as its bearer token."""
    client = ApiClient()
    client.force_login(user)
    session_key = client.session.session_key
    return ApiClient(token=session_key)


def post_create(client: ApiClient, files: list[Any], **fields: Any) -> Any:
    """POST /api/posts with ``files`` as its images, as the upload form sends it."""
    return client.post_form("/api/posts", {"images": files, **fields})


def error_code(response: Any) -> str:
    """The code of an API error response's body."""
    return str(response.json()["error"]["code"])


def assert_error(response: Any, status: int, code: str) -> None:
    """The response is the API error ``code`` with HTTP ``status``."""
    assert response.status_code == status, response.content
    assert error_code(response) == code
