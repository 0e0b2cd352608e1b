"""Versioned recommender artefacts: which model file is live, trained on what, scoring how."""

from __future__ import annotations

from django.db import models


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        TRAINING = "training"
        READY = "ready"
        FAILED = "failed"

    algorithm = models.CharField(max_length=32, default="als")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    artefact_path = models.CharField(max_length=255, blank=True)
    params = models.JSONField(default=dict)
    data_stats = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # "The latest ready model": the server loads it at start and after training.
            models.Index(fields=["status", "-created_at"], name="modelversion_status_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} v{self.pk} ({self.status})"
