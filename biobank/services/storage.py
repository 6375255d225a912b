"""Freezers, racks, boxes and temperature excursions."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from analysis.triggers import schedule_reanalysis
from biobank.models import (
    Aliquot,
    Box,
    ExcursionExposure,
    Freezer,
    Rack,
    StorageEvent,
    TemperatureExcursion,
)
from biobank.selectors.excursions import excursion_exposures

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


def _exposure_reason(excursion: TemperatureExcursion, minutes: int, *, closed: bool) -> str:
    until = (
        timezone.localtime(excursion.ended_at).strftime("%Y-%m-%d %H:%M")
        if excursion.ended_at
        else "still going on"
    )
    what = "closed" if closed else "recorded"
    return (
        f"excursion #{excursion.pk} {what}: freezer {excursion.freezer.name} reached "
        f"{excursion.peak_temperature_c:g} °C from "
        f"{timezone.localtime(excursion.started_at):%Y-%m-%d %H:%M} to {until}; "
        f"the tube was inside {minutes} min of it"
    )


def _tubes_locked(ids) -> dict:
    """The tubes `ids`, row-locked in pk order (none: no query)."""
    if not ids:
        return {}
    return {
        tube.pk: tube
        for tube in Aliquot.objects.filter(pk__in=sorted(ids))
        .select_related("box")
        .select_for_update(of=("self",))
        .order_by("pk")
    }


def _exposures_write(excursion: TemperatureExcursion, *, user, closed: bool) -> None:
    """Mark the tubes that were in the freezer during the excursion (from the custody
    log, biobank.selectors.excursions) with their minutes inside, replacing the marks
    of an earlier computation. A tube newly marked, or whose minutes changed, gets an
    EXCURSION custody event saying its exposure; a tube no longer marked (the
    excursion was closed before it arrived) has its earlier line voided, with why.
    A constant number of queries whatever the number of tubes."""
    before = dict(excursion.exposures.values_list("aliquot_id", "minutes"))
    # Locked in pk order (as every custody writer does) so no other event of these
    # tubes can be chained between our read of their last hash and our insert; the log
    # is read again once they are ours, and our events dated after that, so a writer
    # that held one of them (a thaw, a move) is counted and comes first in the chain.
    candidates = set(excursion_exposures(excursion, now=timezone.now())) | set(before)
    tubes = _tubes_locked(candidates)
    moment = timezone.now()
    found = excursion_exposures(excursion, now=moment)
    tubes |= _tubes_locked(set(found) - set(tubes))  # moved in while we waited
    changed = {pk for pk, exposure in found.items() if before.get(pk) != exposure.minutes}
    dropped = set(before) - set(found)
    if changed or dropped:
        excursion.exposures.filter(aliquot_id__in=sorted(changed | dropped)).delete()
        ExcursionExposure.objects.bulk_create(
            ExcursionExposure(
                excursion=excursion,
                aliquot_id=pk,
                minutes=found[pk].minutes,
                peak_temperature_c=excursion.peak_temperature_c,
            )
            for pk in sorted(changed)
        )
        # A bulk write sends no m2m_changed: say it (analysis.triggers).
        schedule_reanalysis(
            reason="temperature excursion aliquots linked", model=TemperatureExcursion
        )
    events = [
        log_event(
            tubes[pk],
            StorageEvent.Kind.EXCURSION,
            user=user,
            reason=_exposure_reason(excursion, found[pk].minutes, closed=closed),
            source=current_position(tubes[pk]),
            at=moment,
        )
        for pk in sorted(changed)
    ]
    if dropped:
        marker = f"excursion #{excursion.pk} "
        earlier = StorageEvent.objects.filter(
            aliquot_id__in=sorted(dropped),
            kind=StorageEvent.Kind.EXCURSION,
            reason__startswith=marker,
            voided_by__isnull=True,
        )
        events += [
            StorageEvent(
                aliquot_id=event.aliquot_id,
                kind=StorageEvent.Kind.VOID,
                at=moment,
                user=user if getattr(user, "is_authenticated", False) else None,
                reason=f"excursion #{excursion.pk} closed: the tube was not in freezer "
                f"{excursion.freezer.name} during it",
                voids=event,
            )
            for event in earlier
        ]
    custody_events_record(events, want_ids=False)


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
    """Record an excursion and mark every tube that was in the freezer during it, with
    its minutes inside (read back from the custody log: a tube moved out before it
    began is not marked, one moved in during it or checked out for part of it has the
    minutes it was inside). Each marked tube gets a custody-log line saying its
    exposure. While the excursion goes on (no end), the window runs to now."""
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
    _exposures_write(excursion, user=user, closed=False)
    return excursion


@transaction.atomic
def temperature_excursion_update(
    *, excursion: TemperatureExcursion, ended_at: dt.datetime | None, note: str, user=None
) -> TemperatureExcursion:
    """Close an excursion or annotate it. Which freezer, when it began and how warm it
    got are fixed once recorded; a new end re-reads which tubes were inside and for how
    long (their marks and custody lines follow)."""
    excursion = (
        TemperatureExcursion.objects.select_for_update()
        .select_related("freezer")
        .get(pk=excursion.pk)
    )
    new_end = ended_at != excursion.ended_at
    excursion.ended_at, excursion.note = ended_at, note
    excursion = save_validated(excursion)
    if new_end:
        _exposures_write(excursion, user=user, closed=ended_at is not None)
    return excursion
