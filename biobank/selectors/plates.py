"""qPCR plates for the bench: the list, the plate map, the samples a layout can use; the
plate and well lists of the API (the well list lives here, not in selectors/wells.py,
which loads pandas for the analysis chain)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, OuterRef, Q, Subquery

from biobank.models import (
    Assay,
    PlateImport,
    QpcrPlate,
    ReverseTranscription,
    Well,
    position_label,
)
from biobank.selectors.scans import in_scan_order
from biobank.selectors.subqueries import column_of, count_of


def plates_with_counts():
    """Every plate with `n_wells`, `n_filled` (wells with a Cq) and `n_imports`."""
    return (
        QpcrPlate.objects.select_related("operator")
        .annotate(
            n_wells=Count("wells", distinct=True),
            n_filled=Count("wells", filter=Q(wells__cq__isnull=False), distinct=True),
            n_imports=Count("imports", distinct=True),
            n_live_imports=Count(
                "imports", filter=Q(imports__reverted_at__isnull=True), distinct=True
            ),
            last_import_at=Max("imports__imported_at"),
        )
        .order_by("-created_at", "barcode")
    )


def plates_listed():
    """Plates with `n_wells`, `n_filled` (wells with a Cq), `n_imports`, `last_import_at`
    as correlated subqueries: counted for the rows of a page only, where
    plates_with_counts' joins aggregate every plate's wells before paginating."""
    last_import = (
        PlateImport.objects.filter(plate=OuterRef("pk"))
        .order_by()
        .values("plate")
        .annotate(last=Max("imported_at"))
        .values("last")
    )
    return QpcrPlate.objects.select_related("operator").annotate(
        n_wells=count_of(Well, "plate"),
        n_filled=count_of(Well, "plate", cq__isnull=False),
        n_imports=count_of(PlateImport, "plate"),
        last_import_at=Subquery(last_import),
    )


# The path from a well (through its RT product) to the serum draw it came from.
WELL_DRAW = "sample__rna__isolation__aliquot__draw"

# What a row of the well list holds (the API's WellSerializer).
WELL_ROW_KEYS = (
    "id",
    "plate_id",
    "plate__barcode",
    "row",
    "column",
    "kind",
    "sample_id",
    "sample__code",
    f"{WELL_DRAW}__patient__study_id",
    f"{WELL_DRAW}__timepoint",
    "assay_id",
    "assay__target",
    "replicate",
    "cq",
    "excluded",
    "exclusion_reason",
    "excluded_by__username",
    "excluded_at",
    "imported_from_id",
)


def wells_listed():
    """Wells with what the list shows of their plate, assay, sample and patient, as
    correlated subqueries (one record's answer)."""
    draw = "rna__isolation__aliquot__draw"
    RT = ReverseTranscription
    return Well.objects.annotate(
        plate_barcode=column_of(QpcrPlate, "plate_id", "barcode"),
        target=column_of(Assay, "assay_id", "target"),
        sample_code=column_of(RT, "sample_id", "code"),
        study_id=column_of(RT, "sample_id", f"{draw}__patient__study_id"),
        timepoint=column_of(RT, "sample_id", f"{draw}__timepoint"),
        excluded_by_username=column_of(get_user_model(), "excluded_by_id", "username"),
    )


def well_rows():
    """The well list as `.values()` rows of WELL_ROW_KEYS, related columns by joins
    (see biobank.selectors.samples.aliquot_rows)."""
    return Well.objects.values(*WELL_ROW_KEYS)


def plate_with_counts(plate_id: int) -> QpcrPlate | None:
    return plates_with_counts().filter(pk=plate_id).first()


def layout_is_open(plate: QpcrPlate) -> bool:
    """Whether wells may still be placed, moved or cleared (the services' rule, read
    from `plates_with_counts`' annotations without a query)."""
    return plate.status == QpcrPlate.Status.LAYOUT and not plate.n_live_imports


def plates_awaiting_export():
    """Laid-out plates whose instrument export has not been imported yet."""
    return plates_with_counts().filter(status=QpcrPlate.Status.LAYOUT, n_wells__gt=0)


def study_assays():
    return Assay.objects.order_by("role", "target")


def rt_products_by_codes(codes: Iterable[str]) -> tuple[list[ReverseTranscription], list[str]]:
    """RT products in the order scanned, and the codes that match none."""
    return in_scan_order(ReverseTranscription.objects.all(), "code", codes)


@dataclass(frozen=True)
class MapCell:
    """One position of the map: no well, one, or several (a multiplex well reads one
    assay per dye at the same position; they hold the same sample)."""

    label: str
    wells: tuple[Well, ...] = ()
    assay_slot: int | None = None  # which of the plate's assays, for its colour

    @property
    def well(self) -> Well | None:
        """The position's first well: its kind and sample are those of all of them."""
        return self.wells[0] if self.wells else None

    @property
    def multiplex(self) -> bool:
        return len(self.wells) > 1

    @property
    def targets(self) -> list[str]:
        return [well.assay.target for well in self.wells]


@dataclass(frozen=True)
class PlateMap:
    plate: QpcrPlate
    rows: list[list[MapCell]]
    assays: list[str]  # the targets on the plate, for the legend and colours

    @property
    def column_numbers(self) -> list[int]:
        return list(range(1, self.plate.dimensions[1] + 1))

    @property
    def cells(self) -> list[MapCell]:
        return [cell for row in self.rows for cell in row]

    @property
    def n_multiplex(self) -> int:
        return sum(1 for cell in self.cells if cell.multiplex)


def plate_map(plate: QpcrPlate) -> PlateMap:
    """Every position of the plate with its wells (sample, assays, replicate), in one
    query whatever the number of wells."""
    wells: dict[tuple[int, int], list[Well]] = {}
    for well in plate.wells.select_related("sample", "assay").order_by(
        "row", "column", "assay__role", "assay__target"
    ):
        wells.setdefault((well.row, well.column), []).append(well)
    assays = sorted({well.assay.target for group in wells.values() for well in group})
    n_rows, n_columns = plate.dimensions

    def cell(row: int, column: int) -> MapCell:
        here = tuple(wells.get((row, column), ()))
        slot = assays.index(here[0].assay.target) if here else None
        return MapCell(position_label(row, column), here, slot)

    rows = [
        [cell(row, column) for column in range(1, n_columns + 1)] for row in range(1, n_rows + 1)
    ]
    return PlateMap(plate=plate, rows=rows, assays=assays)


def rt_products_not_on_a_plate(limit: int = 12) -> list[ReverseTranscription]:
    """The latest RT products no well holds yet: what a technician is about to plate."""
    return list(
        ReverseTranscription.objects.filter(wells__isnull=True).order_by("-performed_on", "-pk")[
            :limit
        ]
    )


def _dye_slot(dye: str) -> int | None:
    """The dye slot a reporter or LightCycler filter combination names, if any."""
    from biobank.instruments.sample_sheets import ABI_DYES, CFX_DYES, LC480_FILTERS

    for names in (ABI_DYES, CFX_DYES, LC480_FILTERS):
        folded = [name.casefold() for name in names]
        if dye.strip().casefold() in folded:
            return folded.index(dye.strip().casefold())
    return None


def sample_sheet_wells(plate: QpcrPlate) -> list:
    """The plate's layout as `sample_sheets.SheetWell`s, named as the import expects
    them back (`plate_import.expected_name`), in one query.

    Dyes: a plate without multiplex wells reads every assay in the first dye (FAM);
    with multiplex wells each assay keeps one dye over the whole plate (its probe's),
    the dye mapping remembered from an import first, else targets before the spike-in,
    in that order. ValueError when a multiplex plate has more assays than an instrument
    has dyes."""
    from biobank.instruments.sample_sheets import ABI_DYES, SheetWell
    from biobank.services.plate_import import expected_name

    wells = list(
        plate.wells.select_related("sample", "assay").order_by("row", "column", "replicate")
    )
    positions: dict[tuple[int, int], int] = {}
    for well in wells:
        positions[(well.row, well.column)] = positions.get((well.row, well.column), 0) + 1
    slots: dict[int, int] = {}
    if any(n > 1 for n in positions.values()):
        remembered = {
            target: _dye_slot(dye) for dye, target in (plate.dye_assays or {}).items() if target
        }
        ordered = sorted(
            {well.assay for well in wells},
            key=lambda assay: (assay.role != Assay.Role.TARGET, assay.target),
        )
        for assay in ordered:  # the remembered dyes first, then the others in order
            slot = remembered.get(assay.target)
            if slot is not None and slot not in slots.values():
                slots[assay.pk] = slot
        for assay in ordered:
            if assay.pk in slots:
                continue
            free = [n for n in range(len(ABI_DYES)) if n not in slots.values()]
            if not free:
                raise ValueError(
                    f"Plate {plate.barcode} multiplexes {len(ordered)} assays; "
                    f"an instrument reads at most {len(ABI_DYES)} dyes"
                )
            slots[assay.pk] = free[0]
    first: dict[tuple, Well] = {}
    sizes: dict[tuple, int] = {}
    for well in wells:
        group = (well.kind, well.sample_id, well.assay_id)
        sizes[group] = sizes.get(group, 0) + 1
        if group not in first or well.replicate < first[group].replicate:
            first[group] = well
    return [
        SheetWell(
            row=well.row,
            column=well.column,
            sample_name=expected_name(
                kind=well.kind, sample_code=well.sample.code if well.sample_id else None
            ),
            target=well.assay.target,
            kind=well.kind,
            reference=well.assay.role == Assay.Role.SPIKE_IN,
            dye_slot=slots.get(well.assay_id, 0),
            replicate_of=first[group].position if sizes[group] > 1 else "",
        )
        for well in wells
        for group in [(well.kind, well.sample_id, well.assay_id)]
    ]


def plate_well(plate: QpcrPlate, row: int, column: int) -> Well | None:
    return plate.wells.filter(row=row, column=column).first()
