"""Counts for the landing page."""

from __future__ import annotations

from biobank.models import Aliquot, Patient, QpcrPlate, SerumDraw


def cohort_counts() -> dict[str, int]:
    return {
        "patients": Patient.objects.count(),
        "draws": SerumDraw.objects.count(),
        "aliquots_stored": Aliquot.objects.filter(status=Aliquot.Status.STORED).count(),
        "plates": QpcrPlate.objects.count(),
    }
