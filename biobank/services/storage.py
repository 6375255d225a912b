"""Freezers, racks, boxes and temperature excursions."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from biobank.models import Aliquot, Box, Freezer, Rack, StorageEvent, TemperatureExcursion

from .aliquots import current_position, log_event
from .common import save_validated


@transaction.atomic
def box_create(*, rack: Rack, name: str, barcode: str, rows: int = 9, columns: int = 9) -> Box:
    return save_validated(Box(rack=rack, name=name, barcode=barcode, rows=rows, columns=columns))


@transaction.atomic
def temperature_excursion_record(
    *,
    freezer: Freezer,
    started_at: dt.datetime,
    peak_temperature_c: float,
    user,
    ended_at: dt.datetime | None = None,
    note: str = "",
) -> TemperatureExcursion:
    """Record an excursion against the freezer and every aliquot inside it now: each
    gets a custody-log line, so its history shows what it went through."""
    excursion = save_validated(
        TemperatureExcursion(
            freezer=freezer,
            started_at=started_at,
            ended_at=ended_at,
            peak_temperature_c=peak_temperature_c,
            note=note,
            recorded_by=user if getattr(user, "is_authenticated", False) else None,
        )
    )
    inside = list(
        Aliquot.objects.filter(box__rack__freezer=freezer, status=Aliquot.Status.STORED)
        .select_related("box")
        .order_by("pk")
    )
    excursion.affected_aliquots.set(inside)
    reason = f"freezer {freezer.name} reached {peak_temperature_c:g} °C"
    StorageEvent.objects.bulk_create(
        log_event(
            aliquot,
            StorageEvent.Kind.EXCURSION,
            user=user,
            reason=reason,
            source=current_position(aliquot),
            at=timezone.now(),
        )
        for aliquot in inside
    )
    return excursion
