"""Serum draws and the treatments a new draw can belong to."""

from __future__ import annotations

from django.db.models import Count

from biobank.models import SerumDraw, Treatment


def treatments_open_for_draws():
    """TACE sessions of consenting patients, the choices of the draw form."""
    return (
        Treatment.objects.filter(patient__withdrawn_on__isnull=True)
        .select_related("patient")
        .order_by("patient__study_id", "performed_on")
    )


def draw_with_patient(draw_id: int) -> SerumDraw | None:
    return (
        SerumDraw.objects.select_related("patient", "treatment")
        .annotate(n_aliquots=Count("aliquots"))
        .filter(pk=draw_id)
        .first()
    )


def draws_awaiting_aliquots():
    """Draws registered but not yet cut into aliquots, oldest first."""
    return (
        SerumDraw.objects.filter(aliquots__isnull=True)
        .select_related("patient")
        .order_by("drawn_at", "pk")
    )


def draw_aliquots(draw: SerumDraw):
    return draw.aliquots.select_related("box__rack__freezer").order_by("barcode")
