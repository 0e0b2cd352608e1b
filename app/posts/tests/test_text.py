"""Caption parsing: Unicode hashtags, username-shaped mentions, offsets into the caption."""

from __future__ import annotations

import pytest

from app.posts.text import Entity, caption_entities, caption_hashtags, caption_mentions


def test_it_finds_hashtags_and_mentions_with_offsets():
    caption = "서울 #맛집 with @Bob_1."
    entities = caption_entities(caption)
    assert entities == [Entity("hashtag", "맛집", 3, 6), Entity("mention", "bob_1", 12, 18)]
    assert caption[3:6] == "#맛집"
    assert caption[12:18] == "@Bob_1"


def test_it_normalises_hashtags_with_nfkc_and_lowercase():
    assert caption_hashtags("#Café #\uff23\uff21\uff26\uff25 #cafe #CAFE") == ["café", "cafe"]


@pytest.mark.parametrize(
    ("caption", "tags"),
    [
        ("#a_b1 #한국어_여행", ["a_b1", "한국어_여행"]),
        ("no#tag here", []),
        ("&#39; entity", []),
        ("#one#two", ["one"]),
        ("# alone", []),
        ("#" + "x" * 100, ["x" * 100]),
        ("#" + "x" * 101, []),
        ("(#paren) #end.", ["paren", "end"]),
    ],
)
def test_it_applies_hashtag_boundaries(caption, tags):
    assert caption_hashtags(caption) == tags


@pytest.mark.parametrize(
    ("caption", "names"),
    [
        ("hi @alice and @alice", ["alice"]),
        ("mail me at bob@example.com", []),
        ("@.dot @a..b @ok.name", ["ok.name"]),
        ("@" + "a" * 30, ["a" * 30]),
        ("@" + "a" * 31, []),
        ("@@double", []),
    ],
)
def test_it_only_accepts_username_shaped_mentions(caption, names):
    assert caption_mentions(caption) == names
