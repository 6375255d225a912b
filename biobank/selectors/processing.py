"""Extraction batches for the bench: the batch and the tubes it took serum from."""

from __future__ import annotations

from biobank.models import ExosomeIsolationBatch


def isolation_batch_with_aliquots(batch_id: int) -> ExosomeIsolationBatch | None:
    return (
        ExosomeIsolationBatch.objects.select_related("operator")
        .prefetch_related("isolations__aliquot__draw__patient")
        .filter(pk=batch_id)
        .first()
    )


def recent_isolation_batches(limit: int = 10):
    return ExosomeIsolationBatch.objects.select_related("operator").order_by(
        "-performed_on", "-pk"
    )[:limit]
