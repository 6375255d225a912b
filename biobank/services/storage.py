"""Freezers, racks, boxes and temperature excursions."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from biobank.models import Aliquot, Box, Freezer, Rack, StorageEvent, TemperatureExcursion

from .aliquots import current_position, log_event
from .common import save_validated
from .custody import custody_events_record


@transaction.atomic
def freezer_create(
    *, name: str, location: str = "", set_point_c: float = -80.0, is_active: bool = True
) -> Freezer:
    return save_validated(
        Freezer(name=name, location=location, set_point_c=set_point_c, is_active=is_active)
    )


FREEZER_FIELDS = {"name", "location", "set_point_c", "is_active"}
RACK_FIELDS = {"freezer", "name"}
BOX_FIELDS = {"rack", "name", "barcode", "rows", "columns"}


def _set_fields(instance, values: dict, allowed: set[str]) -> None:
    """Only the named fields, so that a caller cannot set a derived or foreign one."""
    for name, value in values.items():
        if name not in allowed:
            raise ValidationError({name: "This field cannot be changed here"})
        setattr(instance, name, value)


@transaction.atomic
def freezer_update(*, freezer: Freezer, **values) -> Freezer:
    """Rename, move or retire a freezer (the storage structure is the curators')."""
    freezer = Freezer.objects.select_for_update().get(pk=freezer.pk)
    _set_fields(freezer, values, FREEZER_FIELDS)
    return save_validated(freezer)


@transaction.atomic
def freezer_delete(*, freezer: Freezer) -> None:
    """Only an empty freezer with no excursion on record: its history is evidence."""
    freezer = Freezer.objects.select_for_update().get(pk=freezer.pk)
    if freezer.racks.exists() or freezer.excursions.exists():
        raise ValidationError(
            {"freezer": f"Freezer {freezer.name} has racks or recorded excursions; it stays"}
        )
    freezer.delete()


@transaction.atomic
def rack_create(*, freezer: Freezer, name: str) -> Rack:
    return save_validated(Rack(freezer=freezer, name=name))


@transaction.atomic
def rack_update(*, rack: Rack, **values) -> Rack:
    rack = Rack.objects.select_for_update().get(pk=rack.pk)
    _set_fields(rack, values, RACK_FIELDS)
    return save_validated(rack)


@transaction.atomic
def rack_delete(*, rack: Rack) -> None:
    rack = Rack.objects.select_for_update().get(pk=rack.pk)
    if rack.boxes.exists():
        raise ValidationError({"rack": f"Rack {rack} holds boxes; it stays"})
    rack.delete()


@transaction.atomic
def box_create(*, rack: Rack, name: str, barcode: str, rows: int = 9, columns: int = 9) -> Box:
    return save_validated(Box(rack=rack, name=name, barcode=barcode, rows=rows, columns=columns))


def check_box_size(*, box: Box, rows: int, columns: int) -> None:
    """A box cannot shrink under its tubes: refuse, on the field that is too small,
    a size that would leave a stored aliquot outside the box (its place would be
    lost and the box would report negative free positions)."""
    inside = Aliquot.objects.filter(box=box)
    beyond_rows = inside.filter(row__gt=rows).count()
    beyond_columns = inside.filter(column__gt=columns).count()
    errors = {}
    if beyond_rows:
        deepest = inside.aggregate(deepest=Max("row"))["deepest"]
        errors["rows"] = (
            f"Box {box.barcode} holds {beyond_rows} aliquot(s) beyond row {rows}; "
            f"it needs at least {deepest} rows until they are moved"
        )
    if beyond_columns:
        widest = inside.aggregate(widest=Max("column"))["widest"]
        errors["columns"] = (
            f"Box {box.barcode} holds {beyond_columns} aliquot(s) beyond column {columns}; "
            f"it needs at least {widest} columns until they are moved"
        )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def box_update(*, box: Box, **values) -> Box:
    """Rename, relabel, move to another rack or resize a box.

    The box is locked FOR UPDATE before the tubes are counted, and every placement
    share-locks the box first (aliquots.box_for_placement), so no tube can land
    outside the new size between the count and the commit. The rule spans two
    tables, so no CHECK constraint can hold it; this lock is the guarantee."""
    box = Box.objects.select_for_update().get(pk=box.pk)
    _set_fields(box, values, BOX_FIELDS)
    check_box_size(box=box, rows=box.rows, columns=box.columns)
    return save_validated(box)


@transaction.atomic
def box_delete(*, box: Box) -> None:
    """Only a box that never held a tube: the custody log names it."""
    box = Box.objects.select_for_update().get(pk=box.pk)
    held = StorageEvent.objects.filter(Q(from_box=box) | Q(to_box=box)).exists()
    if held or box.aliquots.exists():
        raise ValidationError({"box": f"Box {box.barcode} holds or held aliquots; it stays"})
    box.delete()


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
    # Locked in pk order (as every custody writer does) so no other event of these
    # tubes can be chained between our read of their last hash and our insert.
    inside = list(
        Aliquot.objects.filter(box__rack__freezer=freezer, status=Aliquot.Status.STORED)
        .select_related("box")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    excursion.affected_aliquots.set(inside)
    reason = f"freezer {freezer.name} reached {peak_temperature_c:g} °C"
    moment = timezone.now()
    custody_events_record(
        [
            log_event(
                aliquot,
                StorageEvent.Kind.EXCURSION,
                user=user,
                reason=reason,
                source=current_position(aliquot),
                at=moment,
            )
            for aliquot in inside
        ]
    )
    return excursion


@transaction.atomic
def temperature_excursion_update(
    *, excursion: TemperatureExcursion, ended_at: dt.datetime | None, note: str
) -> TemperatureExcursion:
    """Close an excursion or annotate it. Which freezer, when it began and how warm it
    got are fixed once recorded: the aliquots marked and their custody lines follow
    from them."""
    excursion = TemperatureExcursion.objects.select_for_update().get(pk=excursion.pk)
    excursion.ended_at, excursion.note = ended_at, note
    return save_validated(excursion)
