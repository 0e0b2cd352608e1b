"""The outbox: effects of committed writes that could not reach Redis, kept until replayed."""

from __future__ import annotations

from django.db import models


class DeferredEffect(models.Model):
    """One named effect (app/core/outbox.py registry) with its JSON keyword arguments."""

    effect = models.CharField(max_length=64)
    kwargs = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.effect}({self.kwargs})"


class IdempotencyKey(models.Model):
    """A create request's ``Idempotency-Key``, committed with the write it made and holding
    the response, so that a client retrying after a timeout gets that response again instead
    of a second write (app/core/idempotency.py)."""

    user_id = models.BigIntegerField()
    key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=100)
    body = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("user_id", "key"), name="core_idempotency_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
