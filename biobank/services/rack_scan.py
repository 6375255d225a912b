"""Importing a rack scanner's file: what it says about a rack, then applying it.

A rack of 2D-coded tubes is a Box whose barcode is the rack's. The scanner's file says
which tube is in which position; the database says where it recorded each tube. The
preview compares the two position by position and writes nothing:

    in place     the tube recorded here was read here: nothing to do
    moved        a stored tube recorded elsewhere (another position, another box) was
                 read here: it is moved here
    returning    a checked-out tube was read here: it is checked in here
    unread       the scanner read no code here: whatever is recorded here stays as
                 recorded (the tube may well still be there), and the page says which
    missing      a tube recorded here that the scan does not find anywhere in the rack:
                 reported, left as recorded (nothing is checked out behind your back)
    refused      a code no tube has, a tube discarded or used up, a position kept for
                 another tube out on a retrieval, or a position still recorded as
                 holding a missing tube

The confirm repeats the comparison on rows locked in primary-key order and applies
every move and check-in in one transaction, or refuses the lot (naming the tubes) when
any position is refused. It runs a constant number of queries whatever the number of
tubes (tests/test_rack_scan.py counts them), and records a RackScanImport: the same
file confirmed twice for the same rack is refused.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from biobank.instruments.base import ExportParseError
from biobank.instruments.rack_scanners import EMPTY, TUBE, UNREAD, RackScan, rack_scan_parse
from biobank.models import Aliquot, Box, RackScanImport, StorageEvent, position_label

from .aliquots import Position, box_for_placement, log_event
from .bulk_history import bulk_update_with_history_sql
from .custody import custody_events_record
from .reservations import reservations_at, reservations_release

IN_PLACE, MOVED, RETURNING, UNREAD_HERE = "in_place", "moved", "returning", "unread"
MISSING, EMPTY_HERE, REFUSED = "missing", "empty", "refused"
# Moving tubes are first parked this many rows down (no position is that far down: a
# box has at most 26 rows), so that tubes changing places in the rack never meet the
# one-tube-per-position constraint half way through.
PARK_ROWS = 1000


@dataclass(frozen=True)
class PositionOutcome:
    row: int
    column: int
    kind: str
    message: str
    code: str = ""  # the code read here
    tube: Aliquot | None = None  # the tube read here
    expected: Aliquot | None = None  # the tube the database records here
    line: int = 0

    @property
    def label(self) -> str:
        return position_label(self.row, self.column)

    @property
    def refused(self) -> bool:
        return self.kind == REFUSED


@dataclass
class RackScanPreview:
    box: Box
    filename: str
    sha256: str
    scan: RackScan | None
    positions: list[PositionOutcome] = field(default_factory=list)  # A1, A2, ... order
    missing: list[Aliquot] = field(default_factory=list)  # recorded here, not found
    errors: list[str] = field(default_factory=list)  # the file as a whole is refused
    recorded: int = 0  # tubes the database records in this rack
    boxes: dict[int, Box] = field(default_factory=dict)  # the boxes the tubes come from

    @property
    def refusals(self) -> list[str]:
        return self.errors + [
            f"{outcome.label}: {outcome.message}" for outcome in self.positions if outcome.refused
        ]

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def counts(self) -> dict[str, int]:
        kinds = Counter(outcome.kind for outcome in self.positions)
        return {
            "read": self.scan.count(TUBE) if self.scan else 0,
            "unread": self.scan.count(UNREAD) if self.scan else 0,
            "empty": self.scan.count(EMPTY) if self.scan else 0,
            "in_place": kinds[IN_PLACE],
            "moved": kinds[MOVED],
            "returning": kinds[RETURNING],
            "refused": kinds[REFUSED],
            "missing": len(self.missing),
            "recorded": self.recorded,
        }

    @property
    def count_mismatch(self) -> str:
        """'' when the scan accounts for every tube recorded in the rack, else what
        differs (unread positions may hide tubes, so they count on both sides)."""
        if self.scan is None:
            return ""
        seen = self.scan.count(TUBE) + self.scan.count(UNREAD)
        if seen == self.recorded:
            return ""
        return (
            f"The database records {self.recorded} tubes in {self.box.barcode}; the scan read "
            f"{self.scan.count(TUBE)} and could not read {self.scan.count(UNREAD)}."
        )

    def grid(self) -> list[list[PositionOutcome]]:
        columns = self.box.columns
        return [self.positions[i : i + columns] for i in range(0, len(self.positions), columns)]

    @property
    def changes(self) -> list[PositionOutcome]:
        return [outcome for outcome in self.positions if outcome.kind in (MOVED, RETURNING)]


def rack_scan_preview(*, box: Box, data: bytes, filename: str) -> RackScanPreview:
    """What confirming this file would do to the rack; writes nothing. Four queries
    whatever the number of tubes: the tubes read or recorded here, their boxes, the
    reservations on this rack, an earlier import of the same file."""
    preview = _read(box=box, data=data, filename=filename)
    if preview.scan is None:
        return preview
    tubes = list(
        Aliquot.objects.filter(Q(barcode__in=preview.scan.codes) | Q(box=box)).order_by("pk")
    )
    return _compare(preview, tubes)


@transaction.atomic
def rack_scan_confirm(
    *, box: Box, data: bytes, filename: str, user, reason: str = ""
) -> RackScanImport:
    """Apply the file: every move and check-in in one transaction, or nothing (a
    ValidationError naming each refused position or the file's problem)."""
    box = box_for_placement(box)
    preview = _read(box=box, data=data, filename=filename)
    if preview.scan is None:
        raise ValidationError({"file": preview.errors})
    tubes = list(
        Aliquot.objects.select_for_update()
        .filter(Q(barcode__in=preview.scan.codes) | Q(box=box))
        .order_by("pk")
    )
    preview = _compare(preview, tubes)
    if preview.errors:
        raise ValidationError({"file": preview.errors})
    if preview.refused:
        raise ValidationError({"tubes": preview.refusals})
    now = timezone.now()
    why = f"rack scan {filename}" + (f": {reason.strip()}" if reason.strip() else "")
    _apply(preview, user=user, reason=why[:300], at=now)
    counts = preview.counts()
    try:
        with transaction.atomic():
            return RackScanImport.objects.create(
                box=box,
                filename=filename[:255],
                sha256=preview.sha256,
                vendor=preview.scan.vendor,
                rack_barcode=preview.scan.rack_barcode,
                imported_by=user if getattr(user, "is_authenticated", False) else None,
                reason=reason.strip()[:300],
                positions_read=counts["read"],
                tubes_in_place=counts["in_place"],
                tubes_moved=counts["moved"],
                tubes_checked_in=counts["returning"],
                positions_unread=counts["unread"],
                tubes_missing=counts["missing"],
            )
    except IntegrityError as error:  # the same file confirmed meanwhile
        raise ValidationError(
            {"file": f"{filename} was just imported into {box.barcode}"}
        ) from error


def _read(*, box: Box, data: bytes, filename: str) -> RackScanPreview:
    """Parse the file for this box and check the file as a whole (no tube query)."""
    sha256 = hashlib.sha256(data).hexdigest()
    preview = RackScanPreview(box=box, filename=filename, sha256=sha256, scan=None)
    try:
        scan = rack_scan_parse(data, filename=filename, rows=box.rows, columns=box.columns)
    except ExportParseError as error:
        preview.errors.append(f"{filename}: {error}")
        return preview
    if scan.rack_barcode.casefold() != box.barcode.casefold():
        where = "its file name" if scan.rack_barcode_source == "file name" else "the file"
        preview.errors.append(
            f"{filename} is a scan of rack {scan.rack_barcode} (from {where}), not of "
            f"{box.barcode}; upload it on that rack's page"
        )
        return preview
    earlier = (
        RackScanImport.objects.filter(box=box, sha256=sha256).select_related("imported_by").first()
    )
    if earlier is not None:
        who = earlier.imported_by.get_username() if earlier.imported_by else "someone"
        preview.errors.append(
            f"{filename} was already imported into {box.barcode} on "
            f"{timezone.localtime(earlier.imported_at):%Y-%m-%d %H:%M} by {who} "
            f"(as {earlier.filename}); nothing to do"
        )
        return preview
    preview.scan = scan
    return preview


def _compare(preview: RackScanPreview, tubes: list[Aliquot]) -> RackScanPreview:
    box, scan = preview.box, preview.scan
    assert scan is not None
    by_code = {tube.barcode: tube for tube in tubes}
    here = {(t.row, t.column): t for t in tubes if t.box_id == box.pk and t.status == "stored"}
    preview.recorded = len(here)
    boxes = preview.boxes = {box.pk: box}
    other = {t.box_id for t in tubes if t.box_id and t.box_id != box.pk}
    boxes.update(Box.objects.in_bulk(other) if other else {})
    kept = reservations_at((box.pk, p.row, p.column) for p in scan.positions if p.state == TUBE)
    read_at = {p.code: p.label for p in scan.positions if p.state == TUBE}
    read_codes = set(read_at)
    unread = {(p.row, p.column) for p in scan.positions if p.state == UNREAD}
    missing = [
        tube
        for place, tube in sorted(here.items())
        if tube.barcode not in read_codes and place not in unread
    ]
    missing_at = {(t.row, t.column) for t in missing}
    scanned = {(p.row, p.column): p for p in scan.positions}
    outcomes = []
    for row in range(1, box.rows + 1):
        for column in range(1, box.columns + 1):
            read = scanned.get((row, column))
            expected = here.get((row, column))
            outcomes.append(
                _outcome(
                    row,
                    column,
                    read,
                    expected,
                    tube=by_code.get(read.code) if read and read.state == TUBE else None,
                    box=box,
                    boxes=boxes,
                    kept=kept.get((box.pk, row, column)),
                    blocked=(row, column) in missing_at,
                    read_at=read_at,
                )
            )
    preview.positions = outcomes
    preview.missing = missing
    return preview


def _outcome(
    row, column, read, expected, *, tube, box, boxes, kept, blocked, read_at
) -> PositionOutcome:
    def outcome(kind, message, **extra):
        return PositionOutcome(
            row=row,
            column=column,
            kind=kind,
            message=message,
            expected=expected,
            code=read.code if read else "",
            line=read.line if read else 0,
            **extra,
        )

    leaving = expected is not None and read_at.get(expected.barcode)
    if leaving and (read is None or read.state != TUBE):
        what = "no tube" if read is None or read.state == EMPTY else "no code read"
        return outcome(
            UNREAD_HERE if read is not None and read.state == UNREAD else EMPTY_HERE,
            f"{what}; {expected.barcode}, recorded here, was read at {leaving} and moves there",
        )
    if read is None or read.state == EMPTY:
        if expected is not None:
            return outcome(MISSING, f"{expected.barcode} is recorded here; the scan has no tube")
        return outcome(EMPTY_HERE, "")
    if read.state == UNREAD:
        if expected is not None:
            return outcome(
                UNREAD_HERE, f"no code read; {expected.barcode} is recorded here and stays"
            )
        return outcome(UNREAD_HERE, "no code read; nothing is recorded here")
    code = read.code
    if tube is None:
        return outcome(REFUSED, f"no tube has the barcode {code}")
    if expected is not None and expected.pk == tube.pk:
        return outcome(IN_PLACE, "in place", tube=tube)
    if tube.status in ("discarded", "used_up"):
        return outcome(
            REFUSED,
            f"{code} is recorded as {tube.get_status_display().lower()}; it cannot be in a rack",
            tube=tube,
        )
    if kept is not None and kept.aliquot_id != tube.pk:
        return outcome(
            REFUSED,
            f"{box.barcode} {position_label(row, column)} is kept for {kept.aliquot.barcode} "
            f"({kept.reason}) until it returns; {code} cannot go here",
            tube=tube,
        )
    if blocked:
        return outcome(
            REFUSED,
            f"{code} was read here, but {expected.barcode} is still recorded here and the scan "
            f"does not find it: check {expected.barcode} out or move it first",
            tube=tube,
        )
    if tube.status == "out":
        return outcome(RETURNING, f"{code} is checked out; it is checked in here", tube=tube)
    source = boxes.get(tube.box_id)
    where = (
        position_label(tube.row, tube.column)
        if tube.box_id == box.pk
        else f"{source.barcode if source else '?'} {position_label(tube.row, tube.column)}"
    )
    return outcome(MOVED, f"{code} moved here from {where}", tube=tube)


def _apply(preview: RackScanPreview, *, user, reason: str, at) -> None:
    """Write the moves and check-ins: one update parks the moving tubes, two write their
    new places with history, one frees the returning tubes' kept positions, two chain
    the custody events."""
    box = preview.box
    changes = preview.changes
    if not changes:
        return
    boxes = preview.boxes
    moving = [o.tube.pk for o in changes if o.kind == MOVED]
    if moving:
        Aliquot.objects.filter(pk__in=moving).update(row=F("row") + PARK_ROWS)
    events, updated = [], []
    for outcome in changes:
        tube = outcome.tube
        target = Position(box=box, row=outcome.row, column=outcome.column)
        if outcome.kind == MOVED:
            source = Position(box=boxes[tube.box_id], row=tube.row, column=tube.column)
            events.append(
                log_event(
                    tube,
                    StorageEvent.Kind.MOVE,
                    user=user,
                    reason=reason,
                    source=source,
                    target=target,
                    at=at,
                )
            )
        else:
            events.append(
                log_event(
                    tube, StorageEvent.Kind.CHECK_IN, user=user, reason=reason, target=target, at=at
                )
            )
        tube.status, tube.box, tube.row, tube.column = "stored", box, outcome.row, outcome.column
        updated.append(tube)
    try:
        with transaction.atomic():
            bulk_update_with_history_sql(
                objs=updated,
                model=Aliquot,
                fields=["status", "box", "row", "column"],
                user=user if getattr(user, "is_authenticated", False) else None,
                change_reason=reason,
                date=at,
            )
    except IntegrityError as error:
        # A tube placed by someone else after our check (the unique constraint is the
        # last guard); not the database's text, which echoes the row.
        raise ValidationError(
            {"tubes": ["A position was just taken by someone else; nothing was changed"]}
        ) from error
    returning = [o.tube.pk for o in changes if o.kind == RETURNING]
    if returning:
        reservations_release(aliquot_ids=returning)
    custody_events_record(events, want_ids=False)
