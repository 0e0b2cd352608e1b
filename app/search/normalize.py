"""Query normalisation: one canonical form for search, typeahead, history and cache keys."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.lab.api import bad_request
from app.search.models import QUERY_MAX

# Raw input beyond this is refused before any Unicode work, so a megabyte `q` costs nothing.
RAW_MAX = QUERY_MAX * 4
# Terms of a full-text query; more than this adds cost and no precision.
TERMS_MAX = 8
# Below this many characters trigram operators have no trigrams to work with: only prefixes.
TRIGRAM_MIN = 3

_SPACE = re.compile(r"\s+")
# Runs of letters and digits as pg_trgm reads them (the `short` test). The tsquery's words are
# `_words`; a word can still hold a letter that unaccent turns into tsquery syntax (U+02BC, the
# modifier letter apostrophe, becomes `'`), so the tsquery is quoted in SQL, after unaccent
# (app/search/strategies.py, TSQUERY).
_TERM = re.compile(r"[^\W_]+")


# A leading sigil names the one kind a typeahead query looks for: `#sea` hashtags, `@al` users.
SIGILS = {"#": "hashtag", "@": "user"}


@dataclass(frozen=True)
class SearchText:
    """A normalised query: ``text`` for LIKE and trigram matching, ``terms`` for full text,
    ``scope`` the one kind its sigil asked for (None: every kind)."""

    text: str
    terms: tuple[str, ...]
    scope: str | None = None

    @property
    def short(self) -> bool:
        """No trigram to look up (pg_trgm reads runs of letters and digits only, and needs
        three): infix and fuzzy matching would scan, so prefixes only."""
        return max((len(run) for run in _TERM.findall(self.text)), default=0) < TRIGRAM_MIN

    @property
    def fuzzy_threshold(self) -> float:
        """The trigram similarity a fuzzy username match needs, by query length.

        One edit (a swap is the worst: it changes four trigrams) leaves a word of n characters
        a similarity of about (n - 3) / (n + 5): 0.25 for `jonh` against `john`, 0.33 at 7
        characters, 0.6 at 14. A fixed 0.2 let the trigram index propose every username that
        merely starts with the same letter as `love`, or shares a `lim` or a `601` with a long
        query, each then rechecked on the heap (10k rows, 25 ms at `medium`). So the bar rises
        with length, 0.05 under the one-edit similarity, between 0.25 (`jonh` still finds
        `john`) and 0.45 (docs/experiments/search.md).
        """
        n = len(self.text)
        return round(min(0.45, max(0.25, (n - 3) / (n + 5) - 0.05)), 2)

    @property
    def like_prefix(self) -> str:
        return like_escape(self.text) + "%"

    @property
    def like_infix(self) -> str:
        return "%" + like_escape(self.text) + "%"

    @property
    def ts_words(self) -> str | None:
        """The terms, space-separated, for the SQL that makes them a tsquery; None if none."""
        if not self.terms:
            return None
        return " ".join(self.terms)


def like_escape(value: str) -> str:
    """Escape LIKE's wildcards with its default escape character, the backslash."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _printable(value: str) -> str:
    # Control characters (NUL included, which PostgreSQL text refuses) become spaces.
    return "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in value)


def _words(text: str) -> list[str]:
    """Runs of letters, digits and combining marks: a vowel sign or a virama (हिन्दी, ภาษาไทย)
    or an accent with no precomposed form stays in its word instead of splitting it."""
    words: list[str] = []
    run: list[str] = []
    for ch in text:
        if unicodedata.category(ch)[0] in "LNM":
            run.append(ch)
        elif run:
            words.append("".join(run))
            run = []
    if run:
        words.append("".join(run))
    return words


def query_normalize(raw: str) -> str:
    """NFKC (full-width to ASCII), lowercase, one space between words, no leading # or @."""
    text = unicodedata.normalize("NFKC", _printable(raw)).lower()
    text = _SPACE.sub(" ", text).strip()
    text = text.lstrip("#@").strip()
    return text


def search_text_parse(raw: str | None) -> SearchText:
    """Validate and normalise ``q``: 400 when missing, empty after normalising, or too long."""
    if raw is None or raw == "":
        raise bad_request("empty_query", "q is required")
    if len(raw) > RAW_MAX:
        raise bad_request("query_too_long", f"q is longer than {QUERY_MAX} characters")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request("invalid_query", "q contains unpaired surrogates") from None
    text = query_normalize(raw)
    if not text:
        raise bad_request("empty_query", "q is empty once normalised")
    if len(text) > QUERY_MAX:
        raise bad_request("query_too_long", f"q is longer than {QUERY_MAX} characters")
    terms = tuple(dict.fromkeys(_words(text)))[:TERMS_MAX]
    return SearchText(text=text, terms=terms, scope=SIGILS.get(raw.lstrip()[:1]))


def suggest_text_parse(raw: str | None) -> SearchText | None:
    """``q`` of the typeahead: as :func:`search_text_parse`, except that a sigil alone (the
    first key of `#sea`) is None, nothing to suggest yet, rather than a 400."""
    if raw and len(raw) <= RAW_MAX and raw.strip() and not raw.strip().strip("#@").strip():
        return None
    return search_text_parse(raw)
