"""Serum draws and the treatments a new draw can belong to."""

from __future__ import annotations

from django.db.models import Count

from biobank.models import Aliquot, SerumDraw, Treatment
from biobank.selectors.subqueries import count_of


def treatments_open_for_draws():
    """TACE sessions of consenting patients, the choices of the draw form."""
    return (
        Treatment.objects.filter(patient__withdrawn_on__isnull=True)
        .select_related("patient")
        .order_by("patient__study_id", "performed_on")
    )


def draws_listed():
    """Serum draws with their patient (the API's list, /draws/)."""
    return SerumDraw.objects.select_related("patient")


def draws_with_tube_counts():
    """The draw list of /draws/: each draw with `n_aliquots` cut from it and `n_stored`
    of them in a freezer, counted for the page's rows only."""
    return draws_listed().annotate(
        n_aliquots=count_of(Aliquot, "draw"),
        n_stored=count_of(Aliquot, "draw", status=Aliquot.Status.STORED),
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
