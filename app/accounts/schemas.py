"""API shapes for users. Every other app embeds ``UserSummary`` for authors and members."""

from __future__ import annotations

from ninja import Schema

from app.accounts.models import User


class UserSummary(Schema):
    id: int
    username: str
    name: str
    avatar_url: str | None
    is_private: bool

    @staticmethod
    def of(user: User) -> UserSummary:
        return UserSummary(
            id=user.pk,
            username=user.username,
            name=user.name,
            avatar_url=user.avatar.url if user.avatar else None,
            is_private=user.is_private,
        )


# Columns a UserSummary reads: selectors pass these to only() when they embed authors.
USER_SUMMARY_FIELDS = ("id", "username", "name", "avatar", "is_private")
