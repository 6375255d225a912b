"""Stored answers to writes made with an Idempotency-Key (biobank/api/idempotency.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """One key of one user: the request it was first sent with (fingerprint) and the
    answer given. Written in the transaction of the write itself, so a committed write
    always has its answer here, and a write that rolled back never does.

    `status_code` is empty only inside that transaction (the row is inserted first, as
    a lock on the key); no committed row has it empty."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the method, the path and the request's data"
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The answer, as JSON")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_one_key_per_user")
        ]

    def __str__(self):
        return f"{self.key} ({self.method} {self.path} → {self.status_code})"
