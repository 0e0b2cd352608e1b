"""The shared text check: what one-line and multi-line inputs accept and refuse."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ValidationError

from app.core.text import CleanStr, CleanText, line_check, text_check


class Form(BaseModel):
    title: CleanStr
    body: CleanText


CONTROLS = [chr(c) for c in [*range(0x00, 0x20), 0x7F]]


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_one_line_text_refuses_every_c0_control_and_del(control):
    with pytest.raises(ValueError, match="control characters"):
        line_check(f"a{control}b")


@pytest.mark.parametrize("control", [c for c in CONTROLS if c not in "\t\n\r"])
def test_multi_line_text_refuses_controls_other_than_tab_and_line_breaks(control):
    with pytest.raises(ValueError, match="control characters"):
        text_check(f"a{control}b")


def test_multi_line_text_keeps_tab_cr_and_lf():
    assert text_check("one\r\n\ttwo\n") == "one\r\n\ttwo\n"


@pytest.mark.parametrize("check", [line_check, text_check])
@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff", "x\udc00y"])
def test_both_refuse_unpaired_surrogates(check, surrogate):
    with pytest.raises(ValueError, match="surrogates"):
        check(surrogate)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "\u00e9\u0301",  # combining marks
        "\u05e9\u05dc\u05d5\u05dd \u200f",  # right to left, with a mark
        "hawai\u02bci",  # modifier letter apostrophe
        "\U0001f600",  # a paired surrogate in UTF-16 is one code point here
        "\u0085\u009f",  # C1 controls: valid text to PostgreSQL
    ],
)
def test_both_accept_ordinary_and_unusual_text(value):
    assert line_check(value) == value
    assert text_check(value) == value


def test_a_schema_names_the_field_that_failed():
    with pytest.raises(ValidationError) as caught:
        Form(title="a\x00", body="fine\n")
    assert [error["loc"] for error in caught.value.errors()] == [("title",)]
    with pytest.raises(ValidationError) as caught:
        Form(title="fine", body="a\x00")
    assert [error["loc"] for error in caught.value.errors()] == [("body",)]
    assert Form(title="fine", body="two\nlines").body == "two\nlines"


def test_the_schema_documents_the_rule_as_a_pattern():
    properties = Form.model_json_schema()["properties"]
    assert properties["title"]["pattern"] == r"^[^\x00-\x1F\x7F]*$"
    assert properties["body"]["pattern"] == r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$"
    assert re.fullmatch(properties["title"]["pattern"], "tab\tno") is None
    assert re.fullmatch(properties["body"]["pattern"], "tab\tyes")
