"""Moving a box's, a rack's or a whole freezer's tubes to the same places elsewhere.

A freezer fails, a rack is retired, a box cracks: every tube goes to the same row and
column of a matching box, in one transaction, each with its MOVE custody event. Boxes
pair up by name (a rack's boxes with the other rack's box of the same name; a
freezer's racks with the other freezer's rack of the same name, then their boxes by
name): a name is what is written on the box and the rack, survives reordering and
cannot pair two boxes by accident; a box of tubes with no namesake on the other side
is refused, naming it. Empty boxes need no partner.

All or nothing: a tube that does not fit, lands on a taken position or on a position
kept for another tube (biobank.services.reservations) refuses the whole move, and the
error names every such tube and position. Positions kept for tubes out on a retrieval
(PositionReservation) on the source boxes move with them to the same places, so a
returning tube finds its place in the box that now holds its neighbours.

Queries: a constant number whatever the number of tubes (lock the tubes, then the
boxes, in pk order; read what occupies the targets; ask reserved_refusals once; one
UPDATE and one history INSERT through bulk_update_with_history_sql; one UPDATE of the
kept places; two for the custody events), which bench/evacuate.py measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone

from biobank.models import (
    Aliquot,
    Box,
    Freezer,
    PositionReservation,
    Rack,
    StorageEvent,
    position_label,
)

from .aliquots import Position, log_event
from .bulk import reason_checked
from .bulk_history import bulk_update_with_history_sql
from .custody import custody_events_record
from .reservations import reserved_refusals

Place = tuple[int, int, int]  # (box id, row, column)


@dataclass(frozen=True)
class TubeMove:
    aliquot_id: int
    barcode: str
    source: Box
    target: Box
    row: int
    column: int

    @property
    def position(self) -> str:
        return position_label(self.row, self.column)


@dataclass
class MovePlan:
    """What a move does (or would do, for a dry run): box pairs, tubes, kept places
    that follow, and every reason it cannot be done (empty when it can)."""

    pairs: list[tuple[Box, Box]]
    moves: list[TubeMove] = field(default_factory=list)
    kept_places: int = 0
    problems: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def tube_count(self) -> int:
        return len(self.moves)

    def per_pair(self) -> list[dict]:
        """For the preview page: each pair of boxes with how many tubes go."""
        counts: dict[int, int] = {}
        for move in self.moves:
            counts[move.source.pk] = counts.get(move.source.pk, 0) + 1
        return [
            {"source": source, "target": target, "tubes": counts.get(source.pk, 0)}
            for source, target in self.pairs
        ]


def _refuse(field_name: str, message: str):
    raise ValidationError({field_name: message})


def _pair_by_name(sources, targets):
    """[(source, target)] for every source with a namesake among targets, and the
    sources without one."""
    by_name = {item.name: item for item in targets}
    pairs, unmatched = [], []
    for item in sources:
        partner = by_name.get(item.name)
        if partner is None:
            unmatched.append(item)
        else:
            pairs.append((item, partner))
    return pairs, unmatched


def _box_pairs_of_racks(source: Rack, target: Rack, *, boxes_by_rack) -> tuple[list, list]:
    pairs, unmatched = _pair_by_name(
        boxes_by_rack.get(source.pk, []), boxes_by_rack.get(target.pk, [])
    )
    return pairs, [
        (box, f"Box {box.name} ({box.barcode}) of rack {source} has no box named {box.name} "
         f"in rack {target}")
        for box in unmatched
    ]  # fmt: skip


def _plan(pairs: Sequence[tuple[Box, Box]], unmatched, *, lock: bool) -> MovePlan:
    """Read (and with `lock`, lock) what the move needs and check it; no write.

    `unmatched`: [(source box, message)] boxes without a partner; refused only when
    they hold a tube or a kept place."""
    plan = MovePlan(pairs=list(pairs))
    sources = {source.pk: source for source, _ in pairs} | {box.pk: box for box, _ in unmatched}
    target_of = {source.pk: target for source, target in pairs}
    targets = {target.pk: target for _, target in pairs}
    for source, target in pairs:
        if source.pk == target.pk:
            _refuse("target", f"Box {source.barcode} is both the source and the target")
    if set(sources) & set(targets):
        _refuse("target", "A box cannot be both a source and a target of the same move")

    tubes = Aliquot.objects.filter(box_id__in=sorted(sources)).order_by("pk")
    if lock:
        tubes = tubes.select_for_update()
    tubes = list(tubes.values_list("pk", "barcode", "box_id", "row", "column"))
    if lock:
        # After the tubes (the order every placement takes: tube, then its box), in pk
        # order; FOR UPDATE keeps resizes and single placements out until we commit.
        list(
            Box.objects.filter(pk__in=sorted(sources | targets))
            .select_for_update()
            .order_by("pk")
            .values_list("pk")
        )
        # A tube placed in a source box between the two locks (its transaction held the
        # box's share lock, ours waited for its commit) would be left behind: refuse.
        if Aliquot.objects.filter(box_id__in=sorted(sources)).count() != len(tubes):
            _refuse("tubes", "Tubes were placed in these boxes meanwhile; preview again")
    occupied = {
        (box_id, row, column): barcode
        for box_id, row, column, barcode in Aliquot.objects.filter(
            box_id__in=sorted(targets)
        ).values_list("box_id", "row", "column", "barcode")
    }
    kept = list(
        PositionReservation.objects.filter(box_id__in=sorted(sources | targets)).values_list(
            "pk", "box_id", "row", "column", "aliquot__barcode"
        )
    )
    kept_on_targets = {
        (box_id, row, column) for _, box_id, row, column, _ in kept if box_id in targets
    }
    holding = {box_id for _, _, box_id, _, _ in tubes} | {
        box_id for _, box_id, _, _, _ in kept if box_id in sources
    }
    plan.problems += [message for box, message in unmatched if box.pk in holding]

    placements = []
    for aliquot_id, barcode, box_id, row, column in tubes:
        target = target_of.get(box_id)
        if target is None:
            continue  # in an unmatched box: refused above
        source = sources[box_id]
        where = f"aliquot {barcode} at {source.barcode} {position_label(row, column)}"
        if not target.contains(row, column):
            plan.problems.append(
                f"{where}: box {target.barcode} is {target.rows} x {target.columns}, "
                f"it has no {position_label(row, column)}"
            )
            continue
        occupant = occupied.get((target.pk, row, column))
        if occupant is not None:
            plan.problems.append(
                f"{where}: {target.barcode} {position_label(row, column)} already holds "
                f"aliquot {occupant}"
            )
            continue
        plan.moves.append(TubeMove(aliquot_id, barcode, source, target, row, column))
        placements.append((aliquot_id, (target.pk, row, column)))
    refusals = reserved_refusals(placements)
    if refusals:
        by_id = {move.aliquot_id: move for move in plan.moves}
        plan.problems += [
            f"aliquot {by_id[aliquot_id].barcode} at {by_id[aliquot_id].source.barcode} "
            f"{by_id[aliquot_id].position}: {message}"
            for aliquot_id, message in sorted(refusals.items())
        ]
    for _, box_id, row, column, kept_for in kept:
        target = target_of.get(box_id)
        if target is None:
            continue
        where = (
            f"the place {sources[box_id].barcode} {position_label(row, column)} kept for "
            f"aliquot {kept_for}"
        )
        if not target.contains(row, column):
            plan.problems.append(
                f"{where}: box {target.barcode} has no {position_label(row, column)}"
            )
        elif (target.pk, row, column) in occupied:
            plan.problems.append(
                f"{where}: {target.barcode} {position_label(row, column)} already holds "
                f"aliquot {occupied[(target.pk, row, column)]}"
            )
        elif (target.pk, row, column) in kept_on_targets:
            plan.problems.append(
                f"{where}: {target.barcode} {position_label(row, column)} is kept for another tube"
            )
        else:
            plan.kept_places += 1
    if not plan.moves and not plan.kept_places and not plan.problems:
        plan.problems.append(
            "There is nothing to move: the source holds no tube and keeps no place"
        )
    return plan


def _apply(plan: MovePlan, *, user, reason: str) -> MovePlan:
    moment = timezone.now()
    moved = [
        Aliquot(pk=move.aliquot_id, box_id=move.target.pk, row=move.row, column=move.column)
        for move in plan.moves
    ]
    bulk_update_with_history_sql(
        objs=moved,
        model=Aliquot,
        fields=["box", "row", "column"],
        user=user if getattr(user, "is_authenticated", False) else None,
        change_reason=reason,
        date=moment,
    )
    if plan.kept_places:
        sources = [source.pk for source, _ in plan.pairs]
        PositionReservation.objects.filter(box_id__in=sources).update(
            box_id=Case(*(When(box_id=s.pk, then=t.pk) for s, t in plan.pairs))
        )
    custody_events_record(
        [
            log_event(
                Aliquot(pk=move.aliquot_id),
                StorageEvent.Kind.MOVE,
                user=user,
                reason=reason,
                source=Position(move.source, move.row, move.column),
                target=Position(move.target, move.row, move.column),
                at=moment,
            )
            for move in plan.moves
        ],
        want_ids=False,
    )
    plan.applied = True
    return plan


def _run(pairs, unmatched, *, user, reason: str, dry_run: bool) -> MovePlan:
    # The lab's policy on reasons for a move, as for the bulk moves (a dry run previews).
    reason = reason if dry_run else reason_checked("move", reason)
    plan = _plan(pairs, unmatched, lock=not dry_run)
    if dry_run:
        return plan
    if not plan.ok:
        raise ValidationError({"tubes": plan.problems})
    return _apply(plan, user=user, reason=reason)


@transaction.atomic
def box_contents_move(
    *, source: Box, target: Box, user, reason: str, dry_run: bool = False
) -> MovePlan:
    """Every tube of `source` to the same row and column of `target` (and the places
    kept in `source` with them). `dry_run`: the plan and its problems, nothing written."""
    return _run([(source, target)], [], user=user, reason=reason, dry_run=dry_run)


def _boxes_by_rack(rack_ids) -> dict[int, list[Box]]:
    boxes: dict[int, list[Box]] = {}
    for box in (
        Box.objects.filter(rack_id__in=sorted(rack_ids))
        .select_related("rack__freezer")
        .order_by("name")
    ):
        boxes.setdefault(box.rack_id, []).append(box)
    return boxes


@transaction.atomic
def rack_contents_move(
    *, source: Rack, target: Rack, user, reason: str, dry_run: bool = False
) -> MovePlan:
    """Every tube of every box of `source` to the box of the same name in `target`, same
    row and column. A box holding tubes without a namesake in `target` is refused."""
    if source.pk == target.pk:
        _refuse("target", f"Rack {source} is both the source and the target")
    boxes = _boxes_by_rack([source.pk, target.pk])
    pairs, unmatched = _box_pairs_of_racks(source, target, boxes_by_rack=boxes)
    return _run(pairs, unmatched, user=user, reason=reason, dry_run=dry_run)


@transaction.atomic
def freezer_evacuate(
    *, source: Freezer, target: Freezer, user, reason: str, dry_run: bool = False
) -> MovePlan:
    """Every tube of `source` to `target`: rack to the rack of the same name, box to the
    box of the same name in it, same row and column. A rack or box holding tubes (or a
    kept place) without a namesake is refused, named."""
    if source.pk == target.pk:
        _refuse("target", f"Freezer {source.name} is both the source and the target")
    racks = list(
        Rack.objects.filter(freezer_id__in=[source.pk, target.pk])
        .select_related("freezer")
        .order_by("name")
    )
    boxes = _boxes_by_rack(rack.pk for rack in racks)
    target_racks = {rack.name: rack for rack in racks if rack.freezer_id == target.pk}
    pairs, unmatched = [], []
    for rack in (rack for rack in racks if rack.freezer_id == source.pk):
        partner = target_racks.get(rack.name)
        if partner is None:
            unmatched += [
                (box, f"Rack {rack.name} of freezer {source.name} (box {box.barcode}) has no "
                 f"rack named {rack.name} in freezer {target.name}")
                for box in boxes.get(rack.pk, [])
            ]  # fmt: skip
            continue
        rack_pairs, rack_unmatched = _box_pairs_of_racks(rack, partner, boxes_by_rack=boxes)
        pairs += rack_pairs
        unmatched += rack_unmatched
    return _run(pairs, unmatched, user=user, reason=reason, dry_run=dry_run)
