"""qPCR plates for the bench: the list, the plate map, the samples a layout can use."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Max, Q

from biobank.models import Assay, QpcrPlate, ReverseTranscription, Well, position_label


def plates_with_counts():
    """Every plate with `n_wells`, `n_filled` (wells with a Cq) and `n_imports`."""
    return (
        QpcrPlate.objects.select_related("operator")
        .annotate(
            n_wells=Count("wells", distinct=True),
            n_filled=Count("wells", filter=Q(wells__cq__isnull=False), distinct=True),
            n_imports=Count("imports", distinct=True),
            last_import_at=Max("imports__imported_at"),
        )
        .order_by("-created_at", "barcode")
    )


def plate_with_counts(plate_id: int) -> QpcrPlate | None:
    return plates_with_counts().filter(pk=plate_id).first()


def plates_awaiting_export():
    """Laid-out plates whose instrument export has not been imported yet."""
    return plates_with_counts().filter(status=QpcrPlate.Status.LAYOUT, n_wells__gt=0)


def study_assays():
    return Assay.objects.order_by("role", "target")


def rt_products_by_codes(codes: Iterable[str]) -> tuple[list[ReverseTranscription], list[str]]:
    """RT products in the order scanned, and the codes that match none."""
    wanted = list(codes)
    found = {rt.code: rt for rt in ReverseTranscription.objects.filter(code__in=wanted)}
    return [found[code] for code in wanted if code in found], [
        code for code in wanted if code not in found
    ]


@dataclass(frozen=True)
class MapCell:
    label: str
    well: Well | None
    assay_slot: int | None = None  # which of the plate's assays, for its colour


@dataclass(frozen=True)
class PlateMap:
    plate: QpcrPlate
    rows: list[list[MapCell]]
    assays: list[str]  # the targets on the plate, for the legend and colours

    @property
    def column_numbers(self) -> list[int]:
        return list(range(1, self.plate.dimensions[1] + 1))


def plate_map(plate: QpcrPlate) -> PlateMap:
    """Every position of the plate with its well (sample, assay, replicate) or None."""
    wells = {
        (well.row, well.column): well
        for well in plate.wells.select_related("sample", "assay").order_by("row", "column")
    }
    assays = sorted({well.assay.target for well in wells.values()})
    n_rows, n_columns = plate.dimensions

    def cell(row: int, column: int) -> MapCell:
        well = wells.get((row, column))
        slot = assays.index(well.assay.target) if well else None
        return MapCell(position_label(row, column), well, slot)

    rows = [
        [cell(row, column) for column in range(1, n_columns + 1)] for row in range(1, n_rows + 1)
    ]
    return PlateMap(plate=plate, rows=rows, assays=assays)


def plate_well(plate: QpcrPlate, row: int, column: int) -> Well | None:
    return plate.wells.filter(row=row, column=column).first()
