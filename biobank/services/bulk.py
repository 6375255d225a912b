"""Many tubes at once: check-out, check-in, move and discard of a scanned list.

A bench scans a rack of 96 tubes; doing it tube by tube is 96 transactions and a few
hundred queries. Here one call takes the whole list in one transaction and a constant
number of queries, whatever the number of tubes:

    lock the tubes          one SELECT ... FOR UPDATE, in pk order (as lock_aliquots)
    kept / last positions   two, for a check-in that names no target
    boxes                   one (FOR SHARE on PostgreSQL when placing: a resize waits)
    occupancy               one, the tubes in the target boxes
    kept places             one, biobank.services.reservations.reserved_refusals
    the update + history    two, biobank.services.bulk_history
    released reservations   one (check-in, discard)
    custody events          two, biobank.services.custody.custody_events_record

Every tube gets an outcome, in scan order, that names it and says what was done (or
would be, for a dry run) or why it is refused: an unknown barcode, a tube scanned
twice, a wrong status, a position outside the box, taken, kept for another tube, or
already chosen for an earlier tube of the list. By default the refused tubes are
reported and the others done; `all_or_nothing=True` (rack import, evacuation) raises
ValidationError({"tubes": [...]}) and changes nothing when any tube is refused.
`dry_run=True` computes the same outcomes, takes no lock and writes nothing (the
pages' preview; the confirm checks again).

Whether a reason is required is the lab's policy (settings.EXOTRACK_REASON_REQUIRED);
a missing one is refused for the whole list, with field "reason".

Positions are not swapped or chained within one list: a tube may not take the place
another tube of the same list leaves (the database checks one tube per position row
by row, in no order we choose). Move the leaving tube first, in its own list.

Re-analysis: a tube's status and position feed no analysis (analysis/triggers.py
watches only its draw and freeze-thaw count), so these updates, which send no model
signal, have nothing to schedule — as the single-tube services' saves schedule nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from biobank.models import Aliquot, Box, StorageEvent, position_label
from biobank.selectors.samples import kept_positions, last_positions

from .aliquots import Position, log_event
from .bulk_history import bulk_update_with_history_sql
from .custody import custody_events_record
from .reservations import reservations_release, reserved_refusals

Status = Aliquot.Status
Kind = StorageEvent.Kind

# action -> (past participle, the statuses a tube may be in, the custody event kind)
ACTIONS = {
    "check_out": ("checked out", (Status.STORED,), Kind.CHECK_OUT),
    "check_in": ("checked in", (Status.OUT,), Kind.CHECK_IN),
    "move": ("moved", (Status.STORED,), Kind.MOVE),
    "discard": ("discarded", (Status.STORED, Status.OUT), Kind.DISCARD),
}


@dataclass(frozen=True)
class TubeOutcome:
    code: str  # the barcode as scanned
    aliquot: Aliquot | None  # None: no tube has that barcode
    ok: bool
    message: str  # what was / would be done, or why refused (names the tube)
    target: Position | None = None


@dataclass(frozen=True)
class BulkOutcome:
    outcomes: list[TubeOutcome]  # in scan order
    applied: bool  # False for a dry run, or when nothing could be done

    @property
    def done(self) -> list[TubeOutcome]:
        return [outcome for outcome in self.outcomes if outcome.ok]

    @property
    def refused(self) -> list[TubeOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]


# --- the rules, shared with the single-tube services -------------------------------


def reason_required(action: str) -> bool:
    return bool(getattr(settings, "EXOTRACK_REASON_REQUIRED", {}).get(action, False))


def reason_checked(action: str, reason: str | None) -> str:
    """The reason, stripped; refused (field "reason") when the policy wants one and none
    is given, or when it is longer than the custody log keeps."""
    reason = (reason or "").strip()
    verb = ACTIONS[action][0]
    if not reason and reason_required(action):
        raise ValidationError({"reason": f"Say why the tubes are {verb}"})
    limit = StorageEvent._meta.get_field("reason").max_length
    if len(reason) > limit:
        raise ValidationError(
            {"reason": f"The reason is {len(reason)} characters; at most {limit} are kept"}
        )
    return reason


def status_refusal(aliquot: Aliquot, action: str) -> str | None:
    verb, allowed, _ = ACTIONS[action]
    if aliquot.status in allowed:
        return None
    return (
        f"Aliquot {aliquot.barcode} is {aliquot.get_status_display().lower()}; it cannot be {verb}"
    )


def outside_refusal(box: Box, row: int, column: int) -> str | None:
    if box.contains(row, column):
        return None
    return (
        f"{position_label(row, column) or 'That position'} is outside box {box.barcode} "
        f"({box.rows} x {box.columns})"
    )


# --- reading what the list needs, a query each -------------------------------------


def _clean_codes(codes: Iterable[str]) -> list[str]:
    return [code.strip() for code in codes if code and code.strip()]


def _tubes(codes: Sequence[str], *, lock: bool) -> dict[str, Aliquot]:
    """The tubes scanned, by barcode, locked in pk order (as lock_aliquots) unless this
    is a dry run."""
    tubes = Aliquot.objects.filter(barcode__in=set(codes)).order_by("pk")
    if lock:
        tubes = tubes.select_for_update()
    return {tube.barcode: tube for tube in tubes}


def _boxes(ids: Iterable[int], *, share_lock: bool) -> dict[int, Box]:
    """The boxes by id; when placing, share-locked as box_for_placement does (a resize
    takes the box FOR UPDATE, so it waits for the placements and they for it)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    if share_lock and connection.vendor == "postgresql":
        table = connection.ops.quote_name(Box._meta.db_table)
        found = Box.objects.raw(
            f"SELECT * FROM {table} WHERE id = ANY(%s) ORDER BY id FOR SHARE", [ids]
        )
    else:
        found = Box.objects.filter(pk__in=ids)
    return {box.pk: box for box in found}


def _occupants(box_ids: Iterable[int]) -> dict[tuple[int, int, int], tuple[int, str]]:
    """(box id, row, column) -> (aliquot id, barcode) of every tube in these boxes."""
    ids = sorted(set(box_ids))
    if not ids:
        return {}
    rows = Aliquot.objects.filter(box_id__in=ids).values_list(
        "box_id", "row", "column", "pk", "barcode"
    )
    return {(box_id, row, column): (pk, barcode) for box_id, row, column, pk, barcode in rows}


def _source(tube: Aliquot, boxes: dict[int, Box]) -> Position | None:
    if tube.box_id is None:
        return None
    tube.box = boxes[tube.box_id]  # no lazy query per tube later
    return Position(box=tube.box, row=tube.row, column=tube.column)


# --- one list -----------------------------------------------------------------------


@dataclass
class _Line:
    """One scanned line while the list is checked."""

    code: str
    tube: Aliquot | None
    refusal: str | None = None
    wanted: tuple[int, int, int] | None = None  # (box id, row, column) to place it
    how: str = ""  # "its kept position", "its last position" (check-in without target)
    source: Position | None = None
    target: Position | None = field(default=None)


def _scan(codes: Sequence[str], tubes: dict[str, Aliquot], action: str) -> list[_Line]:
    """A line per code, with the unknown, repeated and wrong-status ones refused."""
    lines, seen = [], set()
    for code in codes:
        tube = tubes.get(code)
        line = _Line(code=code, tube=tube)
        if tube is None:
            line.refusal = f"No tube has barcode {code}"
        elif code in seen:
            line.refusal = f"Aliquot {code} is scanned twice; it is done once, on its first line"
        else:
            line.refusal = status_refusal(tube, action)
        seen.add(code)
        lines.append(line)
    return lines


def _check_places(lines: list[_Line], boxes: dict[int, Box], action: str) -> None:
    """Refuse the placements onto a box that is gone, a position outside its box, the
    tube's own position, a position taken (or left by a tube of the same list), kept for
    another tube, or chosen for an earlier tube of the list."""
    placing = [line for line in lines if line.refusal is None and line.wanted is not None]
    occupants = _occupants(box_id for box_id, _, _ in (line.wanted for line in placing))
    moving_away = {line.tube.pk for line in placing}
    for line in placing:
        box_id, row, column = line.wanted
        box = boxes.get(box_id)
        name = f"Aliquot {line.tube.barcode}"
        if box is None:
            line.refusal = f"{name}: its target box no longer exists"
            continue
        line.target = Position(box=box, row=row, column=column)
        outside = outside_refusal(box, row, column)
        if outside:
            line.refusal = f"{name}: {outside}"
            continue
        if line.source == line.target:
            line.refusal = f"{name} is already at {line.target.label}"
            continue
        holder = occupants.get(line.wanted)
        if holder and holder[0] != line.tube.pk:
            line.refusal = f"{name}: {line.target.label} already holds aliquot {holder[1]}"
            if holder[0] in moving_away:
                line.refusal += (
                    ", which this list moves away; positions are not swapped or chained "
                    f"in one list: move {holder[1]} first"
                )
    placing = [line for line in placing if line.refusal is None]
    kept = reserved_refusals((line.tube.pk, line.wanted) for line in placing)
    chosen: dict[tuple[int, int, int], str] = {}
    for line in placing:
        name = f"Aliquot {line.tube.barcode}"
        if line.tube.pk in kept:
            line.refusal = f"{name}: {kept[line.tube.pk]}"
        elif line.wanted in chosen:
            line.refusal = (
                f"{name}: {line.target.label} is already chosen for aliquot "
                f"{chosen[line.wanted]} in this list"
            )
        else:
            chosen[line.wanted] = line.tube.barcode


def _run(
    *,
    action: str,
    codes: Sequence[str],
    targets: Sequence[Position | None] | None,
    user,
    reason: str,
    dry_run: bool,
    all_or_nothing: bool,
) -> BulkOutcome:
    verb, _, kind = ACTIONS[action]
    reason = reason_checked(action, reason)
    if not codes:
        return BulkOutcome(outcomes=[], applied=False)
    tubes = _tubes(codes, lock=not dry_run)
    lines = _scan(codes, tubes, action)
    placing = targets is not None
    if placing:
        for line, target in zip(lines, targets, strict=True):
            if target is not None:
                line.wanted = (target.box.pk, target.row, target.column)
        unplaced = [line.tube.pk for line in lines if line.refusal is None and not line.wanted]
        if unplaced:  # a check-in without a target: the kept, else the last position
            kept, last = kept_positions(unplaced), last_positions(unplaced)
            for line in lines:
                if line.refusal is None and not line.wanted:
                    pk = line.tube.pk
                    line.wanted = kept.get(pk) or last.get(pk)
                    line.how = "its kept position" if pk in kept else "its last position"
                    if line.wanted is None:
                        line.refusal = (
                            f"Aliquot {line.tube.barcode} has no kept or last position; "
                            "scan the box to put it in"
                        )
    ok_lines = [line for line in lines if line.refusal is None]
    box_ids = {line.tube.box_id for line in ok_lines if line.tube.box_id}
    box_ids |= {line.wanted[0] for line in ok_lines if line.wanted}
    boxes = _boxes(box_ids, share_lock=placing and not dry_run)
    for line in ok_lines:
        line.source = _source(line.tube, boxes)
    if placing:
        _check_places(lines, boxes, action)

    refused = [line for line in lines if line.refusal]
    if all_or_nothing and refused and not dry_run:
        raise ValidationError({"tubes": [line.refusal for line in refused]})
    good = [line for line in lines if line.refusal is None]
    apply = bool(good) and not dry_run
    if apply:
        _write(action, kind, good, user=user, reason=reason)
    return BulkOutcome(outcomes=[_outcome(line, verb, done=apply) for line in lines], applied=apply)


def _write(action: str, kind: str, lines: list[_Line], *, user, reason: str) -> None:
    """The update (with its history rows), the released reservations and the custody
    events of the lines that passed: a constant number of statements."""
    new_status = {
        "check_out": Status.OUT,
        "check_in": Status.STORED,
        "discard": Status.DISCARDED,
    }.get(action)
    for line in lines:
        tube, target = line.tube, line.target
        if new_status:
            tube.status = new_status
        tube.box = target.box if target else None
        tube.row = target.row if target else None
        tube.column = target.column if target else None
    author = user if getattr(user, "is_authenticated", False) else None
    fields = ["box", "row", "column"] + (["status"] if new_status else [])
    try:
        with transaction.atomic():
            bulk_update_with_history_sql(
                objs=[line.tube for line in lines],
                model=Aliquot,
                fields=fields,
                user=author,
                change_reason=reason,
            )
    except IntegrityError as error:
        # A concurrent placement took a position after our check (the unique constraint
        # is the last guard); not the database's text, which echoes the row.
        raise ValidationError(
            {"tubes": ["A position was just taken by someone else; nothing was changed"]}
        ) from error
    if action in ("check_in", "discard"):
        reservations_release(aliquot_ids=[line.tube.pk for line in lines])
    at = timezone.now()
    custody_events_record(
        [
            log_event(
                line.tube,
                kind,
                user=author,
                reason=reason,
                source=line.source,
                target=line.target,
                at=at,
            )
            for line in lines
        ],
        want_ids=False,
    )


def _outcome(line: _Line, verb: str, *, done: bool) -> TubeOutcome:
    if line.refusal:
        return TubeOutcome(
            code=line.code, aliquot=line.tube, ok=False, message=line.refusal, target=line.target
        )
    said = verb if done else f"will be {verb}"
    message = f"Aliquot {line.tube.barcode} {said}"
    if line.source and line.target:
        message += f" from {line.source.label} to {line.target.label}"
    elif line.target:
        message += f" at {line.target.label}" + (f" ({line.how})" if line.how else "")
    elif line.source:
        message += f" from {line.source.label}"
    return TubeOutcome(
        code=line.code, aliquot=line.tube, ok=True, message=message, target=line.target
    )


# --- the services ---------------------------------------------------------------------


@transaction.atomic
def aliquots_check_out(
    *, codes: Iterable[str], user, reason: str, dry_run: bool = False, all_or_nothing: bool = False
) -> BulkOutcome:
    """Take the stored tubes scanned out of their boxes."""
    return _run(
        action="check_out",
        codes=_clean_codes(codes),
        targets=None,
        user=user,
        reason=reason,
        dry_run=dry_run,
        all_or_nothing=all_or_nothing,
    )


@transaction.atomic
def aliquots_discard(
    *, codes: Iterable[str], user, reason: str, dry_run: bool = False, all_or_nothing: bool = False
) -> BulkOutcome:
    """Discard the stored or checked-out tubes scanned; the places kept for them are
    freed."""
    return _run(
        action="discard",
        codes=_clean_codes(codes),
        targets=None,
        user=user,
        reason=reason,
        dry_run=dry_run,
        all_or_nothing=all_or_nothing,
    )


def _placements(placements: Iterable[tuple[str, Position | None]]):
    pairs = [(code.strip(), target) for code, target in placements if code and code.strip()]
    return [code for code, _ in pairs], [target for _, target in pairs]


@transaction.atomic
def aliquots_check_in(
    *,
    placements: Sequence[tuple[str, Position | None]],
    user,
    reason: str = "",
    dry_run: bool = False,
    all_or_nothing: bool = False,
) -> BulkOutcome:
    """Put checked-out tubes back: each at the position given, or (None) at the position
    kept for it, else at the position it last left, if that is free."""
    codes, targets = _placements(placements)
    return _run(
        action="check_in",
        codes=codes,
        targets=targets,
        user=user,
        reason=reason,
        dry_run=dry_run,
        all_or_nothing=all_or_nothing,
    )


@transaction.atomic
def aliquots_move(
    *,
    placements: Sequence[tuple[str, Position]],
    user,
    reason: str,
    dry_run: bool = False,
    all_or_nothing: bool = False,
) -> BulkOutcome:
    """Move stored tubes to the positions given."""
    codes, targets = _placements(placements)
    if any(target is None for target in targets):
        raise ValidationError({"placements": "Give a target position for every tube moved"})
    return _run(
        action="move",
        codes=codes,
        targets=targets,
        user=user,
        reason=reason,
        dry_run=dry_run,
        all_or_nothing=all_or_nothing,
    )
