"""Aliquots: cutting them from a draw, and every change of place, volume or state.

Each function locks the rows it changes (in primary-key order when there are
several, so two services never deadlock), checks the rule, makes the change and
writes the StorageEvent in the same transaction (through
custody.custody_events_record, which chains it to the tube's log). The database constraints
(volume >= 0, one tube per position, unique barcode) are the last guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from analysis.triggers import schedule_reanalysis
from biobank.models import Aliquot, Box, SerumDraw, StorageEvent, position_label

from .custody import custody_events_record
from .reservations import reservations_refuse_others, reservations_release

Status = Aliquot.Status
Kind = StorageEvent.Kind


@dataclass(frozen=True)
class Position:
    box: Box
    row: int
    column: int

    @property
    def label(self) -> str:
        return f"{self.box.barcode} {position_label(self.row, self.column)}"


def as_volume(value) -> Decimal:
    volume = Decimal(str(value))
    if volume <= 0:
        raise ValidationError({"volume_ul": f"The volume must be more than 0 µl, not {value}"})
    return volume


def lock_aliquots(aliquots: Iterable[Aliquot]) -> list[Aliquot]:
    """Fresh, row-locked copies, locked in pk order."""
    ids = sorted({aliquot.pk for aliquot in aliquots})
    return list(Aliquot.objects.select_for_update().filter(pk__in=ids).order_by("pk"))


def lock_aliquot(aliquot: Aliquot) -> Aliquot:
    return Aliquot.objects.select_for_update().get(pk=aliquot.pk)


def status_refusal(aliquot: Aliquot, allowed: Iterable[str], action: str) -> str | None:
    """Why the tube cannot be `action` (a past participle) in its status, or None."""
    if aliquot.status in allowed:
        return None
    return (
        f"Aliquot {aliquot.barcode} is {aliquot.get_status_display().lower()}; "
        f"it cannot be {action}"
    )


def require_status(aliquot: Aliquot, *allowed: str, action: str) -> None:
    refusal = status_refusal(aliquot, allowed, action)
    if refusal:
        raise ValidationError({"status": refusal})


def outside_refusal(box: Box, row: int, column: int) -> str | None:
    """Why (row, column) is no place in `box`, or None."""
    if box.contains(row, column):
        return None
    return (
        f"{position_label(row, column) or 'That position'} is outside box {box.barcode} "
        f"({box.rows} x {box.columns})"
    )


def box_for_placement(box: Box) -> Box:
    """The box as committed now, share-locked until the end of the transaction.

    A resize (storage.box_update) takes the box FOR UPDATE, so a placement and a
    resize take turns: the placement checks the size the resize left, and the resize
    counts the tubes placements committed. Placements share the lock, so they do not
    wait for each other. SQLite has no row locks (it serialises writers anyway)."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Box._meta.db_table)
        locked = list(Box.objects.raw(f"SELECT * FROM {table} WHERE id = %s FOR SHARE", [box.pk]))
        if locked:
            return locked[0]
    return Box.objects.get(pk=box.pk)


def check_free_position(
    position: Position, *, moving: Aliquot | None = None, placing: Aliquot | None = None
) -> None:
    """Refuse a position outside the box, taken by another tube, or kept for another tube
    that is out on a retrieval. `moving`: the tube already in the box (its own position
    does not count as taken); `placing`: the tube being checked in (its own kept
    position is free for it)."""
    box = box_for_placement(position.box)
    outside = outside_refusal(box, position.row, position.column)
    if outside:
        raise ValidationError({"position": outside})
    taken = Aliquot.objects.filter(box=box, row=position.row, column=position.column)
    if moving is not None:
        taken = taken.exclude(pk=moving.pk)
    occupant = taken.values_list("barcode", flat=True).first()
    if occupant:
        raise ValidationError({"position": f"{position.label} already holds aliquot {occupant}"})
    tube = moving or placing
    reservations_refuse_others(
        aliquot_id=tube.pk if tube else None, place=(box.pk, position.row, position.column)
    )


def log_event(
    aliquot: Aliquot,
    kind: str,
    *,
    user,
    reason: str = "",
    source: Position | None = None,
    target: Position | None = None,
    volume_change_ul: Decimal = Decimal(0),
    at=None,
) -> StorageEvent:
    return StorageEvent(
        aliquot=aliquot,
        kind=kind,
        at=at or timezone.now(),
        user=user if getattr(user, "is_authenticated", False) else None,
        from_box=source.box if source else None,
        from_row=source.row if source else None,
        from_column=source.column if source else None,
        to_box=target.box if target else None,
        to_row=target.row if target else None,
        to_column=target.column if target else None,
        volume_change_ul=volume_change_ul,
        reason=reason,
    )


def current_position(aliquot: Aliquot) -> Position | None:
    if aliquot.box_id is None:
        return None
    return Position(box=aliquot.box, row=aliquot.row, column=aliquot.column)


def generated_barcodes(draw: SerumDraw, count: int) -> list[str]:
    prefix = f"{draw.patient.study_id}-{draw.timepoint}-"
    existing = set(
        Aliquot.objects.filter(barcode__startswith=prefix).values_list("barcode", flat=True)
    )
    barcodes, number = [], 1
    while len(barcodes) < count:
        candidate = f"{prefix}{number:02d}"
        if candidate not in existing:
            barcodes.append(candidate)
        number += 1
    return barcodes


@transaction.atomic
def aliquots_create(
    *,
    draw: SerumDraw,
    volume_ul,
    user,
    positions: Sequence[Position],
    barcodes: Sequence[str] | None = None,
) -> list[Aliquot]:
    """Cut len(positions) aliquots of `volume_ul` from a draw and check each into its
    position. Barcodes are the scanned ones or generated from the draw."""
    volume = as_volume(volume_ul)
    count = len(positions)
    if count == 0:
        raise ValidationError({"positions": "Choose a position for each aliquot"})
    draw = SerumDraw.objects.select_for_update().select_related("patient").get(pk=draw.pk)
    already = draw.aliquots.aggregate(total=Sum("initial_volume_ul"))["total"] or Decimal(0)
    if already + volume * count > draw.serum_volume_ul:
        raise ValidationError(
            {
                "volume_ul": f"{count} x {volume} µl is more than the {draw.serum_volume_ul - already} µl "
                f"of serum left in draw {draw}"
            }
        )
    labels = [position.label for position in positions]
    if len(set(labels)) != count:
        raise ValidationError({"positions": "The same position is chosen twice"})
    for position in positions:
        check_free_position(position)
    if barcodes is None:
        barcodes = generated_barcodes(draw, count)
    barcodes = [code.strip() for code in barcodes]
    if len(barcodes) != count or any(not code for code in barcodes):
        raise ValidationError({"barcodes": f"Give {count} barcodes, one per aliquot"})
    if len(set(barcodes)) != count:
        raise ValidationError({"barcodes": "A barcode is scanned twice"})
    taken = list(Aliquot.objects.filter(barcode__in=barcodes).values_list("barcode", flat=True))
    if taken:
        raise ValidationError({"barcodes": f"Barcode already in use: {', '.join(sorted(taken))}"})

    aliquots = [
        Aliquot(
            barcode=barcode,
            draw=draw,
            initial_volume_ul=volume,
            volume_ul=volume,
            status=Status.STORED,
            box=position.box,
            row=position.row,
            column=position.column,
        )
        for barcode, position in zip(barcodes, positions, strict=True)
    ]
    try:
        with transaction.atomic():
            created = Aliquot.objects.bulk_create(aliquots)
    except IntegrityError as error:
        raise ValidationError({"positions": "A position or barcode was just taken"}) from error
    if created and created[0].pk is None:  # backends that do not return ids from bulk inserts
        created = list(Aliquot.objects.filter(barcode__in=barcodes).order_by("barcode"))
    custody_events_record(
        [
            log_event(
                aliquot,
                Kind.CHECK_IN,
                user=user,
                reason="aliquoted from draw",
                target=current_position(aliquot),
                volume_change_ul=volume,
            )
            for aliquot in created
        ],
        new_tubes=True,
    )
    return created


def _one_tube(run) -> Aliquot:
    """The tube a one-tube list (`run()`) was done to, or its refusal raised as the
    single-tube services always raised it (keyed "status", "position", "reason", ...)."""
    try:
        result = run()
    except ValidationError as error:
        if getattr(error, "error_dict", {}).keys() == {"tubes"}:  # a place taken meanwhile
            raise ValidationError({"position": "That position was just taken"}) from error
        raise
    (outcome,) = result.outcomes
    if not outcome.ok:
        raise ValidationError({outcome.field: outcome.message})
    return outcome.aliquot


# The single-tube check-out, check-in, move and discard are one-tube lists of the bulk
# services (biobank/services/bulk.py): one set of rules, messages and writes for both.
# Imported here, not at the top: bulk.py builds on this module's helpers.


@transaction.atomic
def aliquot_check_out(*, aliquot: Aliquot, user, reason: str) -> Aliquot:
    from .bulk import aliquots_check_out

    return _one_tube(lambda: aliquots_check_out(codes=[aliquot.barcode], user=user, reason=reason))


@transaction.atomic
def aliquot_check_in(*, aliquot: Aliquot, position: Position, user, reason: str = "") -> Aliquot:
    from .bulk import aliquots_check_in

    return _one_tube(
        lambda: aliquots_check_in(
            placements=[(aliquot.barcode, position)], user=user, reason=reason
        )
    )


@transaction.atomic
def aliquot_move(*, aliquot: Aliquot, position: Position, user, reason: str) -> Aliquot:
    from .bulk import aliquots_move

    return _one_tube(
        lambda: aliquots_move(placements=[(aliquot.barcode, position)], user=user, reason=reason)
    )


@transaction.atomic
def aliquot_thaw(*, aliquot: Aliquot, user, reason: str) -> Aliquot:
    """Count a freeze-thaw cycle (thawing on the bench, or a freezer failure)."""
    aliquot = lock_aliquot(aliquot)
    require_status(aliquot, Status.STORED, Status.OUT, action="thawed")
    Aliquot.objects.filter(pk=aliquot.pk).update(freeze_thaw_count=F("freeze_thaw_count") + 1)
    custody_events_record(
        [log_event(aliquot, Kind.THAW, user=user, reason=reason, source=current_position(aliquot))]
    )
    if aliquot.isolations.exists():
        # The QC flags the RT products of a tube thawed too often (issue 12); `.update()`
        # sends no signal, so say it here. A tube no isolation used feeds no analysis.
        schedule_reanalysis(reason="aliquot thawed", model=Aliquot)
    aliquot.refresh_from_db()
    return aliquot


@transaction.atomic
def aliquot_discard(*, aliquot: Aliquot, user, reason: str) -> Aliquot:
    from .bulk import aliquots_discard

    return _one_tube(lambda: aliquots_discard(codes=[aliquot.barcode], user=user, reason=reason))


def consume_locked(aliquot: Aliquot, volume: Decimal, *, user, reason: str) -> Aliquot:
    """Take `volume` µl from an aliquot the caller has locked in this transaction.

    The decrement is conditional (`volume_ul >= n`) and its row count checked, so
    even without the lock (SQLite has none) two takers can never drive it below zero.
    """
    require_status(aliquot, Status.STORED, Status.OUT, action="used")
    updated = Aliquot.objects.filter(
        pk=aliquot.pk, volume_ul__gte=volume, status__in=[Status.STORED, Status.OUT]
    ).update(volume_ul=F("volume_ul") - volume)
    if updated != 1:
        left = Aliquot.objects.filter(pk=aliquot.pk).values_list("volume_ul", flat=True).first()
        raise ValidationError(
            {"volume_ul": f"Aliquot {aliquot.barcode} holds {left} µl; {volume} µl cannot be taken"}
        )
    source = current_position(aliquot)
    aliquot.refresh_from_db(fields=["volume_ul"])
    if aliquot.volume_ul == 0:
        aliquot.status, aliquot.box, aliquot.row, aliquot.column = Status.USED_UP, None, None, None
        aliquot.save(update_fields=["status", "box", "row", "column"])
        reservations_release(aliquot_ids=[aliquot.pk])
    custody_events_record(
        [
            log_event(
                aliquot,
                Kind.CONSUME,
                user=user,
                reason=reason,
                source=source,
                volume_change_ul=-volume,
            )
        ]
    )
    return aliquot


@transaction.atomic
def aliquot_consume(*, aliquot: Aliquot, volume_ul, user, reason: str) -> Aliquot:
    volume = as_volume(volume_ul)
    return consume_locked(lock_aliquot(aliquot), volume, user=user, reason=reason)
