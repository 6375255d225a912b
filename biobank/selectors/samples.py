"""One aliquot as the bench looks it up: where it is, how much is left, what happened to it.

Identity is only read when the caller says the user may see it, so a technician's
page never even queries PatientIdentity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from biobank.models import Aliquot, PatientIdentity, PositionReservation, StorageEvent
from biobank.selectors.custody import custody_events
from biobank.selectors.scans import in_scan_order


@dataclass(frozen=True)
class SampleRecord:
    aliquot: Aliquot
    events: list[StorageEvent]
    isolations: list  # ExosomeIsolation rows, with their batch, RNA and RT products
    identity: PatientIdentity | None

    def _last_departure(self) -> StorageEvent | None:
        """The last event that took the tube out of a position, voided ones aside (a void
        says the event did not happen as logged). `last_positions` below reads the same
        for many tubes at once."""
        voided = {event.voids_id for event in self.events if event.voids_id}
        for event in reversed(self.events):
            if event.from_box_id and event.pk not in voided and not event.voids_id:
                return event
        return None

    @property
    def last_box(self):
        """The box the tube last left (or sits in): where a check-in usually puts it back."""
        if self.aliquot.box_id:
            return self.aliquot.box
        departure = self._last_departure()
        return departure.from_box if departure else None

    @property
    def last_position(self) -> tuple[int, int] | None:
        """(row, column) the tube last left in `last_box`: a check-in suggests it."""
        if self.aliquot.box_id:
            return self.aliquot.row, self.aliquot.column
        departure = self._last_departure()
        return (departure.from_row, departure.from_column) if departure else None


def aliquot_queryset():
    return Aliquot.objects.select_related("draw__patient", "draw__treatment", "box__rack__freezer")


def aliquot_by_id(aliquot_id: int) -> Aliquot | None:
    return aliquot_queryset().filter(pk=aliquot_id).first()


def aliquot_by_barcode(barcode: str) -> Aliquot | None:
    return aliquot_queryset().filter(barcode=barcode.strip()).first()


def sample_record(aliquot_id: int, *, include_identity: bool) -> SampleRecord | None:
    aliquot = aliquot_by_id(aliquot_id)
    if aliquot is None:
        return None
    events = list(custody_events(aliquot))
    isolations = list(
        aliquot.isolations.select_related("batch", "rna")
        .prefetch_related("rna__reverse_transcriptions")
        .order_by("batch__performed_on")
    )
    identity = (
        PatientIdentity.objects.filter(patient_id=aliquot.draw.patient_id).first()
        if include_identity
        else None
    )
    return SampleRecord(aliquot, events, isolations, identity)


def aliquots_by_barcodes(barcodes: Iterable[str]) -> tuple[list[Aliquot], list[str]]:
    """The aliquots in the order scanned, and the barcodes that match none."""
    return in_scan_order(aliquot_queryset(), "barcode", barcodes)


def checked_out_aliquots():
    """Tubes out of the freezer, oldest first, each with when and by whom it left."""
    last_out = StorageEvent.objects.filter(
        aliquot=OuterRef("pk"), kind=StorageEvent.Kind.CHECK_OUT
    ).order_by("-at", "-id")
    return (
        aliquot_queryset()
        .filter(status=Aliquot.Status.OUT)
        .annotate(
            out_since=Subquery(last_out.values("at")[:1]),
            out_by=Subquery(last_out.values("user__username")[:1]),
            out_reason=Subquery(last_out.values("reason")[:1]),
        )
        .order_by("out_since", "barcode")
    )


# (box id, row, column)
Place = tuple[int, int, int]


def last_positions(aliquot_ids: Iterable[int]) -> dict[int, Place]:
    """The place each tube last left, voided events aside (as SampleRecord.last_position
    reads it from one tube's loaded log), for many tubes in one query: a bulk check-in
    puts each tube back where it came from."""
    ids = sorted(set(aliquot_ids))
    if not ids:
        return {}
    voided = StorageEvent.objects.filter(aliquot_id__in=ids, voids__isnull=False)
    departures = (
        StorageEvent.objects.filter(aliquot_id__in=ids, from_box__isnull=False, voids__isnull=True)
        .exclude(pk__in=voided.values("voids_id"))
        .order_by("aliquot_id", "-at", "-id")
        .values_list("aliquot_id", "from_box_id", "from_row", "from_column")
    )
    places: dict[int, Place] = {}
    for aliquot_id, box_id, row, column in departures:
        places.setdefault(aliquot_id, (box_id, row, column))
    return places


def kept_positions(aliquot_ids: Iterable[int]) -> dict[int, Place]:
    """The place kept for each of these tubes while it is out (PositionReservation), one
    query: its check-in goes there before anywhere else."""
    ids = sorted(set(aliquot_ids))
    if not ids:
        return {}
    kept = PositionReservation.objects.filter(aliquot_id__in=ids)
    return {
        aliquot_id: (box_id, row, column)
        for aliquot_id, box_id, row, column in kept.values_list(
            "aliquot_id", "box_id", "row", "column"
        )
    }
