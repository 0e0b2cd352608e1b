"""Search fixtures: ``make_post``, a post with hashtags and places attached the way post_create
does it (app/testing/data.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.accounts.models import User
from app.posts.models import Post
from app.testing.data import post_make

MakePost = Callable[..., Post]


@pytest.fixture
def make_post(db: None) -> MakePost:
    def make(author: User, caption: str, **kwargs: Any) -> Post:
        return post_make(author=author, caption=caption, **kwargs)

    return make
