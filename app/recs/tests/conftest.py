"""Recs test data: two planted communities whose members like each other's posts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from app.accounts.models import User
from app.posts.models import Post
from app.recs import serving
from app.testing.data import posts_make
from app.testing.factories import UserFactory
from app.testing.recs import likes_add


@dataclass
class World:
    """``members[c]`` like posts of ``authors[c]``; ``posts[c]`` are those posts."""

    members: list[list[User]]
    authors: list[list[User]]
    posts: list[list[Post]]

    def community_of(self, post_id: int) -> int:
        return next(c for c, posts in enumerate(self.posts) if post_id in {p.pk for p in posts})


@pytest.fixture(autouse=True)
def recs_state(settings, tmp_path):
    """Artefacts under a per-test var/, and no model left loaded from another test."""
    settings.VAR_DIR = tmp_path
    serving.model_forget()
    yield
    serving.model_forget()


@pytest.fixture
def world(db) -> World:
    """2 communities x (3 authors with 4 posts each, 10 members liking 6 of those 12)."""
    rng = np.random.default_rng(7)
    members, authors, posts = [], [], []
    for community in range(2):
        their_authors = [UserFactory(username=f"c{community}a{i}") for i in range(3)]
        their_posts = [
            post
            for index, author in enumerate(their_authors)
            for post in posts_make(author, 4, hours_ago=index * 5, comments=0)
        ]
        their_members = [UserFactory(username=f"c{community}m{i}") for i in range(10)]
        for member in their_members:
            chosen = rng.choice(len(their_posts), size=6, replace=False)
            likes_add(member, [their_posts[i] for i in chosen])
        members.append(their_members)
        authors.append(their_authors)
        posts.append(their_posts)
    return World(members=members, authors=authors, posts=posts)
