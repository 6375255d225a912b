"""Boxes as the bench sees them: a grid of positions, each free or holding a tube.

The grid is read in one query whatever the box size, and it is the database's
occupancy, not a cached count, so a position taken a moment ago shows as taken. A
position kept for a tube out on a retrieval (PositionReservation) is not free either:
no other tube may go there, so the free-space finder and the utilisation count it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, Q

from biobank.models import Aliquot, Box, PositionReservation, position_label
from biobank.selectors.subqueries import count_of


@dataclass(frozen=True)
class GridCell:
    row: int
    column: int
    label: str  # 'A1'
    aliquot_id: int | None = None
    barcode: str = ""
    kept_for: str = ""  # the barcode of the tube out on a retrieval this place is kept for

    @property
    def taken(self) -> bool:
        return self.aliquot_id is not None


@dataclass(frozen=True)
class BoxGrid:
    box: Box
    rows: list[list[GridCell]]

    @property
    def column_numbers(self) -> list[int]:
        return list(range(1, self.box.columns + 1))

    @property
    def taken(self) -> int:
        return sum(cell.taken for row in self.rows for cell in row)

    @property
    def kept(self) -> int:
        return sum(bool(cell.kept_for) for row in self.rows for cell in row)

    @property
    def free(self) -> int:
        return self.box.capacity - self.taken - self.kept

    def free_positions(self) -> list[tuple[int, int]]:
        """Free (row, column) pairs in row-major order, the order a box is filled; a
        position kept for a tube out on a retrieval is not free."""
        return [
            (cell.row, cell.column)
            for row in self.rows
            for cell in row
            if not cell.taken and not cell.kept_for
        ]


def box_grid(box: Box) -> BoxGrid:
    occupants = {
        (row, column): (pk, barcode)
        for row, column, pk, barcode in Aliquot.objects.filter(box=box).values_list(
            "row", "column", "pk", "barcode"
        )
    }
    kept = {
        (row, column): barcode
        for row, column, barcode in PositionReservation.objects.filter(box=box).values_list(
            "row", "column", "aliquot__barcode"
        )
    }
    rows = [
        [
            GridCell(
                row,
                column,
                position_label(row, column),
                *occupants.get((row, column), (None, "")),
                kept_for=kept.get((row, column), ""),
            )
            for column in range(1, box.columns + 1)
        ]
        for row in range(1, box.rows + 1)
    ]
    return BoxGrid(box=box, rows=rows)


def boxes_with_occupancy():
    """Every box with its place in the freezer, `n_stored` tubes, `n_reserved` positions
    kept for tubes out on a retrieval and `n_free` positions (one query)."""
    return (
        Box.objects.select_related("rack__freezer")
        .annotate(
            n_stored=Count(
                "aliquots", filter=Q(aliquots__status=Aliquot.Status.STORED), distinct=True
            ),
            n_reserved=Count("reservations", distinct=True),
        )
        .annotate(n_free=F("rows") * F("columns") - F("n_stored") - F("n_reserved"))
    )


def boxes_listed():
    """Every box with its place and `n_stored` tubes, counted by a correlated subquery:
    for the rows of a page only (the API's list), where boxes_with_occupancy's join
    counts every box's tubes before paginating."""
    return Box.objects.select_related("rack__freezer").annotate(
        n_stored=count_of(Aliquot, "box", status=Aliquot.Status.STORED)
    )


def box_by_barcode(barcode: str) -> Box | None:
    return Box.objects.select_related("rack__freezer").filter(barcode=barcode.strip()).first()


def box_with_space(free_at_least: int = 1) -> Box | None:
    """The first box (freezer, rack, name order) with at least `free_at_least` free
    positions: where new tubes go together unless the technician scans another box."""
    return boxes_with_occupancy().filter(n_free__gte=max(1, free_at_least)).first()


def box_for_new_tubes(count: int) -> Box | None:
    """Where a draw's `count` new tubes go by default: the first box with room for all
    of them (a draw's tubes together), else the first with any room."""
    return box_with_space(count) or box_with_space(1)


@dataclass
class Utilisation:
    """Positions used and free in one freezer, rack or box."""

    label: str
    capacity: int = 0
    stored: int = 0
    reserved: int = 0  # kept for tubes out on a retrieval: not free
    boxes: int = 0
    parts: list[Utilisation] = field(default_factory=list)  # a freezer's racks
    pk: int | None = None  # the freezer's or rack's (its move page links to it)

    @property
    def free(self) -> int:
        return self.capacity - self.stored - self.reserved

    @property
    def percent_used(self) -> int:
        used = self.stored + self.reserved
        return round(100 * used / self.capacity) if self.capacity else 0


@dataclass
class StorageUtilisation:
    freezers: list[Utilisation]  # each with its racks as parts
    boxes: list

    @property
    def total(self) -> Utilisation:
        whole = Utilisation("All freezers")
        for freezer in self.freezers:
            whole.capacity += freezer.capacity
            whole.stored += freezer.stored
            whole.reserved += freezer.reserved
            whole.boxes += freezer.boxes
        return whole


def storage_utilisation() -> StorageUtilisation:
    """Capacity, stored and free positions per freezer, rack and box (one query: the
    boxes with their occupancy, summed up the hierarchy here)."""
    boxes = list(boxes_with_occupancy())
    freezers: dict[int, Utilisation] = {}
    racks: dict[int, Utilisation] = {}
    for box in boxes:
        rack, freezer = box.rack, box.rack.freezer
        freezer_line = freezers.setdefault(freezer.pk, Utilisation(freezer.name, pk=freezer.pk))
        rack_line = racks.get(rack.pk)
        if rack_line is None:
            rack_line = racks[rack.pk] = Utilisation(rack.name, pk=rack.pk)
            freezer_line.parts.append(rack_line)
        for line in (freezer_line, rack_line):
            line.capacity += box.capacity
            line.stored += box.n_stored
            line.reserved += box.n_reserved
            line.boxes += 1
    return StorageUtilisation(list(freezers.values()), boxes)
