"""Text that PostgreSQL can store: the one check every string input of the API passes.

PostgreSQL's ``text`` refuses NUL, and UTF-8 has no encoding for an unpaired surrogate (JSON's
``"\\ud800"`` decodes to one): either would be a database error, a 500, halfway through a
request. Other C0 control characters (and DEL) are stored happily but are never meant in a
username, a title or a query, where they hide text or break logs. So every ``str`` an endpoint
takes is declared with one of these types, and a bad value is a 400 naming its field:

- ``CleanStr``: one line, no control character at all;
- ``CleanText``: multi-line text (bio, caption, comment, chat text), which may also hold
  ``\\t``, ``\\n`` and ``\\r``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# C0 controls and DEL. C1 controls (U+0080-U+009F) are valid text to PostgreSQL and to JSON,
# and search normalisation turns every control character into a space anyway.
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _checked(value: str, controls: re.Pattern[str]) -> str:
    if controls.search(value):
        raise ValueError("must not contain control characters")
    if _SURROGATES.search(value):
        raise ValueError("must be valid Unicode (no unpaired surrogates)")
    return value


def line_check(value: str) -> str:
    """``value`` if it is storable one-line text, else ``ValueError``."""
    return _checked(value, _LINE_CONTROLS)


def text_check(value: str) -> str:
    """``value`` if it is storable multi-line text (tabs and line breaks allowed)."""
    return _checked(value, _TEXT_CONTROLS)


class _Documented:
    """Puts the rule in the OpenAPI schema as a ``pattern``, so clients (and the API fuzzer,
    which generates valid values from it) know it; the check itself is the validator's."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


CleanStr = Annotated[str, AfterValidator(line_check), _Documented(r"^[^\x00-\x1F\x7F]*$")]
CleanText = Annotated[
    str, AfterValidator(text_check), _Documented(r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$")
]
