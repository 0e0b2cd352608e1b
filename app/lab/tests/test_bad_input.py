"""Bad input on every route of the API: control characters, type confusion, size and nesting
are a 400 JSON error naming the field, never a 500 (issue 13, finding 5).

The routes and their inputs are read from the OpenAPI schema of ``app.api.api``, so a new
endpoint is walked as soon as it exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.test import override_settings

from app.api import api
from app.testing.client import ApiClient, login_client

SCHEMA = api.get_openapi_schema()
COMPONENTS = SCHEMA["components"]["schemas"]
ID_DEFAULT = 1
NAME_DEFAULT = "alice"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return COMPONENTS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a field schema (``x | None`` is an anyOf)."""
    schema = _resolve(schema)
    options = schema.get("anyOf", [schema])
    return [_resolve(option) for option in options if option.get("type") != "null"]


def _kind(schema: dict[str, Any]) -> str:
    """``string``, ``integer``, ``string[]`` (a list of strings), ``binary`` or ``other``."""
    for option in _variants(schema):
        if option.get("type") == "array":
            item = _resolve(option.get("items", {}))
            if item.get("format") == "binary":
                return "binary"
            return f"{item.get('type')}[]"
        if option.get("format") == "binary":
            return "binary"
        if option.get("type") in ("string", "integer"):
            return str(option["type"])
    return "other"


def _max_length(schema: dict[str, Any]) -> int | None:
    for option in _variants(schema):
        if option.get("type") == "array":
            option = _resolve(option.get("items", {}))
        if "maxLength" in option:
            return int(option["maxLength"])
    return None


@dataclass(frozen=True)
class Input:
    """One input of one operation: where it goes and what the schema says it is."""

    method: str
    path: str
    where: str  # path, query, json or form
    name: str
    kind: str
    max_length: int | None
    authenticated: bool
    path_params: tuple[tuple[str, str], ...]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {self.where}.{self.name}"


def _inputs() -> Iterator[Input]:
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            path_params = tuple(
                (p["name"], _kind(p["schema"])) for p in params if p["in"] == "path"
            )
            common = {
                "method": method.upper(),
                "path": path,
                "authenticated": bool(operation.get("security")),
                "path_params": path_params,
            }
            for param in params:
                yield Input(
                    where=param["in"],
                    name=param["name"],
                    kind=_kind(param["schema"]),
                    max_length=_max_length(param["schema"]),
                    **common,
                )
            for content_type, body in operation.get("requestBody", {}).get("content", {}).items():
                where = "json" if content_type == "application/json" else "form"
                for name, field in _resolve(body["schema"]).get("properties", {}).items():
                    yield Input(
                        where=where,
                        name=name,
                        kind=_kind(field),
                        max_length=_max_length(field),
                        **common,
                    )


INPUTS = list(_inputs())
STRINGS = [i for i in INPUTS if i.kind in ("string", "string[]")]
JSON_STRINGS = [i for i in STRINGS if i.where == "json"]
INTEGERS = [i for i in INPUTS if i.kind in ("integer", "integer[]") and i.where != "form"]
LIMITED = [i for i in STRINGS if i.max_length is not None]


def send(client: ApiClient, item: Input, value: Any) -> Any:
    """``item`` set to ``value`` (raw: a list field gets ``[value]`` unless it is a list),
    every other path parameter a plausible value, every other input left out."""
    if item.kind.endswith("[]") and not isinstance(value, list) and item.where == "json":
        value = [value]
    path = item.path
    for name, kind in item.path_params:
        given = value if (item.where, item.name) == ("path", name) else None
        filler = NAME_DEFAULT if kind == "string" else ID_DEFAULT
        path = path.replace(
            "{" + name + "}", quote(str(filler if given is None else given), safe="")
        )
    headers = {}
    if client.token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {client.token}"
    if item.where == "json":
        body = json.dumps({item.name: value})
        return client.generic(item.method, path, body, "application/json", **headers)
    if item.where == "form":
        return client.generic(item.method, path, **_multipart({item.name: value}), **headers)
    if item.where == "query":
        path = f"{path}?{quote(item.name)}={quote(str(value), safe='')}"
    return client.generic(item.method, path, **headers)


def _multipart(fields: dict[str, Any]) -> dict[str, Any]:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    data = encode_multipart(BOUNDARY, {k: str(v) for k, v in fields.items()})
    return {"data": data, "content_type": MULTIPART_CONTENT}


def assert_invalid(response: Any, name: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request", error
    assert name in error["message"], error


@pytest.fixture
def client(alice: Any) -> ApiClient:
    return login_client(alice)


def test_the_walk_covers_every_string_input_of_the_api():
    # The walk reads the schema: a route that stopped declaring its inputs would shrink it.
    walked = {(i.method, i.path, i.name) for i in STRINGS}
    for expected in [
        ("POST", "/api/auth/login", "username"),
        ("POST", "/api/auth/signup", "email"),
        ("PATCH", "/api/me", "bio"),
        ("GET", "/api/users/{username}", "username"),
        ("POST", "/api/posts", "caption"),
        ("POST", "/api/posts/{post_id}/comments", "text"),
        ("POST", "/api/chat/rooms", "users"),
        ("POST", "/api/chat/rooms", "title"),
        ("POST", "/api/chat/rooms/{room_id}/messages", "text"),
        ("GET", "/api/chat/presence", "users"),
        ("GET", "/api/hashtags/{name}", "name"),
        ("GET", "/api/search", "q"),
        ("GET", "/api/search/suggest", "q"),
        ("GET", "/api/feed", "cursor"),
    ]:
        assert expected in walked, expected
    operations = {(method, path) for path, ops in SCHEMA["paths"].items() for method in ops}
    assert len(operations) >= 40
    assert len(STRINGS) >= 45


@pytest.mark.parametrize("item", STRINGS, ids=[i.id for i in STRINGS])
@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f"], ids=["nul", "esc", "del"])
def test_every_string_input_refuses_control_characters(client, item, control):
    assert_invalid(send(client, item, f"a{control}b"), item.name)


@pytest.mark.parametrize("item", JSON_STRINGS, ids=[i.id for i in JSON_STRINGS])
def test_every_json_string_refuses_an_unpaired_surrogate(client, item):
    # JSON's "\ud800" decodes to a lone surrogate, which UTF-8 (and so PostgreSQL) cannot hold.
    assert_invalid(send(client, item, "a\ud800b"), item.name)


MULTILINE = {"bio", "caption", "text"}
SINGLE_LINE = [i for i in JSON_STRINGS if i.name not in MULTILINE]


@pytest.mark.parametrize("item", SINGLE_LINE, ids=[i.id for i in SINGLE_LINE])
def test_one_line_fields_refuse_line_breaks(client, item):
    assert_invalid(send(client, item, "a\nb"), item.name)


def test_multi_line_text_keeps_tabs_and_line_breaks(client, alice):
    response = client.generic(
        "PATCH",
        "/api/me",
        json.dumps({"bio": "line one\r\n\tline two", "name": "Alice"}),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {client.token}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["bio"] == "line one\r\n\tline two"


@pytest.mark.parametrize("item", JSON_STRINGS, ids=[i.id for i in JSON_STRINGS])
@pytest.mark.parametrize("value", [12, 1.5, True, {"a": "b"}, [["a"]]], ids=repr)
def test_every_json_string_refuses_other_types(client, item, value):
    assert_invalid(send(client, item, value), item.name)


@pytest.mark.parametrize("item", LIMITED, ids=[i.id for i in LIMITED])
def test_every_bounded_string_refuses_one_character_more(client, item):
    assert item.max_length is not None
    assert_invalid(send(client, item, "a" * (item.max_length + 1)), item.name)


@pytest.mark.parametrize("item", INTEGERS, ids=[i.id for i in INTEGERS])
@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 10**30, "1e3", "abc", 1.5])
def test_every_integer_input_refuses_overflow_and_other_types(client, item, value):
    response = send(client, item, value)
    if item.where == "query":
        # A query parameter may be checked after the path's object is found (a 404 here):
        # what matters is that it is refused with the envelope, never a database error.
        assert 400 <= response.status_code < 500, response.content
        assert "error" in response.json()
        return
    assert_invalid(response, item.name)


@pytest.mark.parametrize("before", [2**63, 0, -1])
def test_a_message_history_before_beyond_bigint_is_a_400(alice, bob, before):
    from app.chat import services as chat_services

    room, _ = chat_services.room_open(user=alice, usernames=["bob"], title="")
    response = login_client(alice).get_json(
        f"/api/chat/rooms/{room.pk}/messages", {"before": before}
    )
    assert_invalid(response, "before")


@pytest.mark.parametrize("item", STRINGS, ids=[i.id for i in STRINGS])
def test_an_absurdly_long_string_is_never_a_server_error(client, item):
    response = send(client, item, "a" * 20_000)
    assert response.status_code < 500, response.content
    assert "error" in response.json() or response.status_code < 300


@pytest.mark.parametrize("depth", [50, 900, 100_000])
def test_deeply_nested_json_is_a_400(client, depth):
    nested = "[" * depth + "]" * depth
    for path, name in [("/api/chat/rooms", "users"), ("/api/search/history", "query")]:
        body = '{"' + name + '": ' + nested + "}"
        response = client.generic(
            "POST", path, body, "application/json", HTTP_AUTHORIZATION=f"Bearer {client.token}"
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] in ("invalid_request", "bad_request")


def test_a_json_body_that_is_not_an_object_is_a_400(client):
    for body in ["[]", "1", '"x"', "null", "{", "\x00"]:
        response = client.generic(
            "POST",
            "/api/chat/rooms",
            body,
            "application/json",
            HTTP_AUTHORIZATION=f"Bearer {client.token}",
        )
        assert response.status_code == 400, (body, response.content)
        assert "error" in response.json()


@override_settings(DEBUG=True)
def test_an_unexpected_error_is_the_json_envelope_without_a_traceback(anon_client, monkeypatch):
    from app.search import api as search_api

    def explode() -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(search_api.selectors, "trending_list", explode)
    response = anon_client.get("/api/search/trending")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "error": {"code": "server_error", "message": "internal server error"}
    }
    assert b"Traceback" not in response.content
    assert b"secret internals" not in response.content


# --- regressions the API fuzzer found (benchmarks/fuzz.py) ------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data", b"caption=x"),
        ("multipart/form-data; boundary=", b"--\r\n"),
    ],
)
def test_a_multipart_body_without_a_usable_boundary_is_a_400(client, content_type, body):
    response = client.generic(
        "POST", "/api/posts", body, content_type, HTTP_AUTHORIZATION=f"Bearer {client.token}"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "bad_request"
