"""Per-user search history: queries typed and results clicked."""

from __future__ import annotations

from django.conf import settings
from django.db import models

QUERY_MAX = 100


class SearchQuery(models.Model):
    class Kind(models.TextChoices):
        QUERY = "query"
        CLICK = "click"

    class Target(models.TextChoices):
        USER = "user"
        POST = "post"
        HASHTAG = "hashtag"
        PLACE = "place"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="searches",
        db_index=False,
    )
    # Normalised query text (case, width and whitespace folded).
    query = models.CharField(max_length=QUERY_MAX)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.QUERY)
    target_type = models.CharField(max_length=8, choices=Target.choices, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The user's recent history, newest first.
            models.Index(fields=["user", "-created_at"], name="searchquery_user_recent"),
            # Trending: queries of the last 24 hours across all users.
            models.Index(fields=["-created_at"], name="searchquery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.query}"
