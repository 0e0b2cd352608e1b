"""The total request size cap: a 413 with the JSON envelope, by Content-Length before the body
is read (WSGI and ASGI), and for a body streamed without one (ASGI) once it passes the cap."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from app.asgi import application
from app.testing import imagedata
from app.testing.client import ApiClient

CAP = 4096


@pytest.fixture(autouse=True)
def _small_cap(settings: Any) -> None:
    settings.MAX_REQUEST_BYTES = CAP


def assert_too_large(response: Any) -> None:
    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "request_too_large"
    assert str(CAP) in response.json()["error"]["message"]


@pytest.mark.django_db
def test_a_multipart_upload_over_the_cap_is_refused(alice_client: ApiClient) -> None:
    data = imagedata.jpeg(400, 300)
    assert len(data) > CAP
    response = alice_client.post(
        "/api/posts",
        {"images": [imagedata.upload(data)]},
        HTTP_AUTHORIZATION=f"Bearer {alice_client.token}",
    )
    assert_too_large(response)


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read() -> None:
    # Two bytes sent, a gigabyte announced: reading would wait for bytes that never come.
    response = Client().generic(
        "POST",
        "/api/auth/login",
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH=str(1024**3),
    )
    assert_too_large(response)
    assert response["Connection"] == "close"


def test_a_malformed_length_is_refused() -> None:
    response = Client().generic(
        "POST", "/api/auth/login", b"{}", content_type="application/json", CONTENT_LENGTH="-5"
    )
    assert_too_large(response)


@pytest.mark.django_db
def test_a_body_under_the_cap_goes_through(anon_client: ApiClient) -> None:
    response = anon_client.post_json("/api/auth/login", {"username": "nobody", "password": "wrong"})
    assert response.status_code == 401


# --- ASGI: Django's handler would spool any body whole before a middleware runs --------------


def http_scope(*, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def exchange(scope: dict[str, Any], chunks: list[bytes]) -> tuple[dict[str, Any], bytes, int]:
    """Stream ``chunks`` (more_body on all but the last); the response, and how many chunks
    the app had asked for when it answered."""
    communicator = ApplicationCommunicator(application, scope)
    for index, chunk in enumerate(chunks):
        await communicator.send_input(
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        )
    start = await communicator.receive_output(timeout=10)
    body = await communicator.receive_output(timeout=10)
    pending = communicator.input_queue.qsize()
    await communicator.wait(timeout=10)
    return start, body["body"], len(chunks) - pending


def test_asgi_refuses_a_chunked_body_once_it_passes_the_cap() -> None:
    chunks = [b"x" * 1024] * 64  # 64 KiB without a Content-Length

    start, body, read = async_to_sync(exchange)(http_scope(headers=[]), chunks)

    assert start["status"] == 413
    assert (b"content-type", b"application/json") in start["headers"]
    assert json.loads(body)["error"]["code"] == "request_too_large"
    # Cut off just past the cap, not after the whole body was spooled.
    assert read == CAP // 1024 + 1


def test_asgi_refuses_a_declared_length_over_the_cap_at_once() -> None:
    scope = http_scope(headers=[(b"content-length", str(1024**3).encode())])

    start, body, read = async_to_sync(exchange)(scope, [b"x" * 10])

    assert start["status"] == 413
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert read == 0


def test_asgi_serves_a_streamed_body_under_the_cap() -> None:
    start, body, _ = async_to_sync(exchange)(http_scope(headers=[]), [b"x" * 1000] * 3)

    assert start["status"] == 200
    assert json.loads(body) == {"status": "ok"}
