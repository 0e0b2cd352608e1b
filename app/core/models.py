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
