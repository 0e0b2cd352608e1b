"""The API's error: raised anywhere below a view, rendered as the JSON error envelope
``{"error": {"code", "message"}}`` by app/api.py."""

from __future__ import annotations


class ApiError(Exception):
    """Raised anywhere below a view; rendered as ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(what: str = "object") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)
