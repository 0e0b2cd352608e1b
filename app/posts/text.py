"""Caption entities: #hashtags and @mentions, parsed with their offsets in the caption."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from app.accounts.models import USERNAME_RE

HASHTAG_MAX = 100

# \w is Unicode-aware on str patterns: letters and digits of any script plus '_', so `#맛집`
# is a hashtag. A '#' glued to a word or to '&' (an HTML entity like &#39;) starts nothing.
_HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
# A mention may not follow a word, another '@' or a '.', so an e-mail address is not one.
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9._]+)")
_USERNAME = re.compile(USERNAME_RE)

EntityType = Literal["hashtag", "mention"]


@dataclass(frozen=True)
class Entity:
    """``text`` is the normalised name (no sigil); ``start:end`` spans the sigil and name."""

    type: EntityType
    text: str
    start: int
    end: int


def text_storable(value: str) -> bool:
    """PostgreSQL text takes neither NUL nor lone surrogates (valid in JSON "\\ud800")."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def hashtag_normalize(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).lower()


def caption_entities(caption: str) -> list[Entity]:
    """Every hashtag and mention in ``caption``, in order; offsets are code-point indexes."""
    found: list[Entity] = []
    for match in _HASHTAG.finditer(caption):
        name = hashtag_normalize(match.group(1))
        if len(name) <= HASHTAG_MAX:
            found.append(Entity("hashtag", name, match.start(), match.end()))
    for match in _MENTION.finditer(caption):
        # A sentence may end right after the name: "thanks @bob." mentions bob.
        raw = match.group(1).rstrip(".")
        username = raw.lower()
        if _USERNAME.match(username):
            found.append(Entity("mention", username, match.start(), match.start() + 1 + len(raw)))
    found.sort(key=lambda entity: entity.start)
    return found


def caption_hashtags(caption: str) -> list[str]:
    """The distinct normalised hashtag names of ``caption``, in first-seen order."""
    names = (e.text for e in caption_entities(caption) if e.type == "hashtag")
    return list(dict.fromkeys(names))


def caption_mentions(caption: str) -> list[str]:
    """The distinct usernames mentioned in ``caption``, in first-seen order."""
    names = (e.text for e in caption_entities(caption) if e.type == "mention")
    return list(dict.fromkeys(names))
