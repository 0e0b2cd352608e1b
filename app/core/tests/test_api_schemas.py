"""The OpenAPI document names each response and request shape once: django-ninja keys its
components by class name, so two schemas of the same name would silently share one entry and
one endpoint would be documented (and fuzzed) with the other's shape."""

from __future__ import annotations

from collections import Counter

from ninja import Schema

from app.api import api


def _schemas() -> list[type[Schema]]:
    found, todo = [], list(Schema.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("app."):
            found.append(cls)
    return found


def test_no_two_api_schemas_share_a_name():
    api.get_openapi_schema()  # imports every router, so every schema class exists
    names = Counter(cls.__name__ for cls in _schemas())
    assert [name for name, count in names.items() if count > 1] == []


def test_each_unread_endpoint_documents_its_own_shape():
    components = api.get_openapi_schema()["components"]["schemas"]
    assert set(components["UnreadRoomsOut"]["properties"]) == {"rooms"}
    assert set(components["UnreadNotificationsOut"]["properties"]) == {"count"}
