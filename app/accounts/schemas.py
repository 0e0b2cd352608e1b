"""API shapes for users. Every other app embeds ``UserSummary`` for authors and members."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from app.accounts.models import User
from app.core.text import CleanStr, CleanText

# Generous bounds so an absurd body is a 400 before it reaches a validator or the hasher.
PASSWORD_MAX = 256
EMAIL_MAX = 254
USERNAME_INPUT_MAX = 30
# What a profile may hold (the model's columns); GET /api/me/limits tells the browser.
NAME_MAX = 64
BIO_MAX = 150


class UserSummary(Schema):
    id: int
    username: str
    name: str
    avatar_url: str | None
    is_private: bool

    @staticmethod
    def of(user: User) -> UserSummary:
        # Values straight from typed model fields: no second validation (app/posts/schemas.py).
        return UserSummary.model_construct(
            id=user.pk,
            username=user.username,
            name=user.name,
            avatar_url=user.avatar.url if user.avatar else None,
            is_private=user.is_private,
        )


# Columns a UserSummary reads: selectors pass these to only() when they embed authors.
USER_SUMMARY_FIELDS = ("id", "username", "name", "avatar", "is_private")


class SignupIn(Schema):
    username: CleanStr = Field(min_length=1, max_length=USERNAME_INPUT_MAX)
    email: CleanStr = Field(min_length=3, max_length=EMAIL_MAX)
    password: CleanStr = Field(min_length=1, max_length=PASSWORD_MAX)


class LoginIn(Schema):
    username: CleanStr = Field(min_length=1, max_length=USERNAME_INPUT_MAX)
    password: CleanStr = Field(min_length=1, max_length=PASSWORD_MAX)


class ProfilePatchIn(Schema):
    """Only the fields sent are changed; ``null`` means "leave as is"."""

    name: CleanStr | None = Field(default=None, max_length=NAME_MAX)
    bio: CleanText | None = Field(default=None, max_length=BIO_MAX)
    is_private: bool | None = None


class _ProfileBase(UserSummary):
    """The profile fields shared by the own-profile and the public-profile shapes."""

    bio: str
    follower_count: int
    following_count: int
    post_count: int

    @staticmethod
    def fields_of(user: User) -> dict[str, Any]:
        return {
            **UserSummary.of(user).model_dump(),
            "bio": user.bio,
            "follower_count": user.follower_count,
            "following_count": user.following_count,
            "post_count": user.post_count,
        }


class MeOut(_ProfileBase):
    """The signed-in user's own profile, including private fields such as the email."""

    email: str

    @staticmethod
    def of(user: User) -> MeOut:
        # Values straight from typed model fields: no second validation (app/posts/schemas.py).
        return MeOut.model_construct(**_ProfileBase.fields_of(user), email=user.email)


class ProfileLimitsOut(Schema):
    """What the edit-profile form may send: text lengths in characters, and the avatar's
    accepted types and size in bytes (the post image pipeline's limits)."""

    name_max: int
    bio_max: int
    avatar_types: list[str]
    avatar_max_bytes: int


class AuthOut(Schema):
    token: str
    user: MeOut


class CsrfOut(Schema):
    csrf_token: str


class ProfileOut(_ProfileBase):
    """A public profile header, with the viewer's relation to it."""

    viewer_follows: bool
    viewer_requested: bool
    follows_viewer: bool

    @staticmethod
    def of(user: User) -> ProfileOut:
        """``user`` must come from ``selectors.user_for_viewer`` (it carries the viewer flags)."""
        # Values straight from typed model fields: no second validation (app/posts/schemas.py).
        return ProfileOut.model_construct(
            **_ProfileBase.fields_of(user),
            viewer_follows=user.viewer_follows,  # type: ignore[attr-defined]
            viewer_requested=user.viewer_requested,  # type: ignore[attr-defined]
            follows_viewer=user.follows_viewer,  # type: ignore[attr-defined]
        )


class FollowUserOut(UserSummary):
    """A row of a followers or following list."""

    viewer_follows: bool


class FollowUserPage(Schema):
    items: list[FollowUserOut]
    next_cursor: str | None


class FollowRequestOut(Schema):
    id: int
    user: UserSummary
    created_at: datetime


class FollowRequestPage(Schema):
    items: list[FollowRequestOut]
    next_cursor: str | None


class FollowStateOut(Schema):
    """The viewer's relation to an account after a follow, unfollow, approve or decline."""

    status: Literal["following", "requested", "not_following"]


class FollowRequestDecisionOut(Schema):
    status: Literal["approved", "declined"]


class OkOut(Schema):
    ok: bool
