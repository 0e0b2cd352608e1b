"""Query normalisation: case, width, whitespace, sigils, length caps and tsquery safety."""

from __future__ import annotations

import pytest

from app.lab.api import ApiError
from app.search.normalize import like_escape, query_normalize, search_text_parse


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello   World ", "hello world"),
        ("\uff21\uff22\uff23\uff11\uff12\uff13", "abc123"),  # full-width ABC123 (NFKC)
        ("#맛집", "맛집"),
        ("@John", "john"),
        ("##tag", "tag"),
        ("서울\t에서\n", "서울 에서"),
        ("a\x00b", "a b"),  # NUL cannot reach PostgreSQL
    ],
)
def test_it_normalises_case_width_whitespace_and_sigils(raw, expected):
    assert query_normalize(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "#", "@", "\x00"])
def test_it_rejects_an_empty_query(raw):
    with pytest.raises(ApiError) as caught:
        search_text_parse(raw)
    assert (caught.value.status, caught.value.code) == (400, "empty_query")


@pytest.mark.parametrize("raw", ["a" * 101, "가" * 101, "x" * 100_000])
def test_it_rejects_a_query_over_the_cap(raw):
    with pytest.raises(ApiError) as caught:
        search_text_parse(raw)
    assert (caught.value.status, caught.value.code) == (400, "query_too_long")


def test_it_accepts_a_query_at_the_cap():
    assert search_text_parse("a" * 100).text == "a" * 100


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("서울", "서울"),
        ("Ramen  SEOUL", "ramen seoul"),
        ("it's (a) b&c|d!e:*\\f\"", "it s a b c d e f"),
        ("'&|!():*\\\"", None),
        ("foo_bar", "foo bar"),
    ],
)
def test_it_keeps_only_words_for_the_tsquery(raw, words):
    assert search_text_parse(raw).ts_words == words


def test_it_escapes_like_wildcards():
    assert like_escape("50%_off\\") == "50\\%\\_off\\\\"
    assert search_text_parse("a_b").like_prefix == "a\\_b%"


def test_it_keeps_at_most_eight_distinct_terms():
    parsed = search_text_parse("a b a c d e f g h i j")
    assert parsed.terms == ("a", "b", "c", "d", "e", "f", "g", "h")
