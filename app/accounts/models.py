"""Users, the follow graph and follow requests for private accounts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

# Instagram's rules: 1-30 of a-z 0-9 . _, no leading/trailing dot, no two dots in a row.
USERNAME_RE = r"^(?!\.)(?!.*\.\.)(?!.*\.$)[a-z0-9._]{1,30}$"
username_validator = RegexValidator(
    USERNAME_RE,
    "Usernames are 1-30 lowercase letters, digits, '.' or '_', and cannot start or end with "
    "'.' or contain '..'.",
    code="invalid_username",
)


class User(AbstractUser):
    username = models.CharField(max_length=30, unique=True, validators=[username_validator])
    name = models.CharField(max_length=64, blank=True)
    bio = models.CharField(max_length=150, blank=True)
    avatar = models.ImageField(upload_to="avatars/%Y/%m/", blank=True)
    is_private = models.BooleanField(default=False)
    # Denormalised counters, kept exact by services with F() updates in the same transaction.
    follower_count = models.PositiveIntegerField(default=0)
    following_count = models.PositiveIntegerField(default=0)
    post_count = models.PositiveIntegerField(default=0)

    @classmethod
    def normalize_username(cls, username: str) -> str:
        """Usernames are case-insensitive: stored lowercase, NFKC-normalised."""
        return super().normalize_username(username).strip().lower()

    class Meta:
        indexes = [
            # Typeahead and exact-match username lookups by prefix (LIKE 'ab%').
            models.Index(
                fields=["username"],
                name="user_username_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            # Case-insensitive name prefix search in the search app.
            models.Index(Lower("name"), name="user_name_lower"),
        ]

    def __str__(self) -> str:
        return self.username


class Follow(models.Model):
    # Both directions are covered by the composite indexes below, so no plain FK indexes.
    follower = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="following_edges", db_index=False
    )
    followee = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="follower_edges", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also serves "does A follow B?" and the following list's filter on follower.
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followee")), name="follow_not_self"
            ),
        ]
        indexes = [
            # Followers of B, newest first, keyset on (created_at, id); fan-out reads it too.
            models.Index(fields=["followee", "-created_at", "-id"], name="follow_followee_recent"),
            # Following of A, newest first, keyset on (created_at, id).
            models.Index(fields=["follower", "-created_at", "-id"], name="follow_follower_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} -> {self.followee_id}"


class FollowRequest(models.Model):
    """A pending follow of a private account; accepting it turns it into a Follow."""

    requester = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="sent_requests", db_index=False
    )
    target = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="received_requests", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["requester", "target"], name="followrequest_unique"),
            models.CheckConstraint(
                condition=~models.Q(requester=models.F("target")), name="followrequest_not_self"
            ),
        ]
        indexes = [
            # The owner's pending-requests list, newest first.
            models.Index(fields=["target", "-created_at"], name="followrequest_target_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.requester_id} -> {self.target_id} (pending)"
