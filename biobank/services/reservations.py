"""Positions kept free for tubes that are out on a retrieval.

A tube checked out from a pick list keeps its position (PositionReservation) until it
returns. Every placement — one tube or many, check-in, move, aliquoting, rack import,
evacuation — asks `reservations_refuse_others` before putting a tube anywhere, so a
kept position is never filled by another tube; a check-in, discard or use-up of the
tube itself calls `reservations_release`. One query each, whatever the number of tubes.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError

from biobank.models import PositionReservation, position_label

# (box id, row, column) -> the aliquot id the place is kept for
PlaceKey = tuple[int, int, int]


def reservations_at(places: Iterable[PlaceKey]) -> dict[PlaceKey, PositionReservation]:
    """The reservations on any of `places` (one query), with their tube and box."""
    places = set(places)
    if not places:
        return {}
    boxes = {box_id for box_id, _, _ in places}
    found = PositionReservation.objects.filter(box_id__in=boxes).select_related("aliquot", "box")
    return {
        key: reservation
        for reservation in found
        if (key := (reservation.box_id, reservation.row, reservation.column)) in places
    }


def reserved_refusals(placements: Iterable[tuple[int, PlaceKey]]) -> dict[int, str]:
    """For (aliquot id, place) pairs: the aliquot ids whose place is kept for another
    tube, each with the message that says for which. One query."""
    placements = list(placements)
    kept = reservations_at(place for _, place in placements)
    refusals = {}
    for aliquot_id, place in placements:
        reservation = kept.get(place)
        if reservation is not None and reservation.aliquot_id != aliquot_id:
            refusals[aliquot_id] = (
                f"{reservation.box.barcode} {position_label(place[1], place[2])} is kept for "
                f"aliquot {reservation.aliquot.barcode} ({reservation.reason}) until it returns"
            )
    return refusals


def reservations_refuse_others(*, aliquot_id: int | None, place: PlaceKey) -> None:
    """Raise on `position` when `place` is kept for a tube other than `aliquot_id`
    (None: a new tube, for which no place is kept)."""
    refusal = reserved_refusals([(aliquot_id or 0, place)]).get(aliquot_id or 0)
    if refusal:
        raise ValidationError({"position": refusal})


def reservations_release(*, aliquot_ids: Iterable[int]) -> int:
    """Free the places kept for these tubes (they are back, or gone for good)."""
    ids = sorted(set(aliquot_ids))
    if not ids:
        return 0
    deleted, _ = PositionReservation.objects.filter(aliquot_id__in=ids).delete()
    return deleted
