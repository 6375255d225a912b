"""Plates: creation, layout, well exclusions.

Laying out triplicates for a list of samples and assays is one call, filling the
plate row by row in the order a technician pipettes: each sample, each assay,
its replicates side by side, then the no-template controls.

A plate can also be laid out by hand, position by position (`plate_place`,
`plate_move`, `plate_clear`), for layouts the auto-fill cannot express: controls in
chosen corners, inter-run calibrators, multiplex wells (several assays at one
position, one Well row each). Both ways keep the same rules: no change once the
plate has live results, every sample primed for its assays.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from itertools import product

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from biobank.models import (
    Assay,
    PlateImport,
    QpcrPlate,
    ReverseTranscription,
    Well,
    position_label,
)

from .common import save_validated


@transaction.atomic
def plate_create(
    *,
    barcode: str,
    plate_format: int = 96,
    instrument: str = "Roche LightCycler 480 II",
    run_at: dt.datetime | None = None,
    operator=None,
) -> QpcrPlate:
    return save_validated(
        QpcrPlate(
            barcode=barcode.strip(),
            plate_format=plate_format,
            instrument=instrument,
            run_at=run_at,
            operator=operator if getattr(operator, "is_authenticated", False) else None,
        )
    )


def plate_positions(plate: QpcrPlate):
    """(row, column) pairs in row-major order: A1, A2, ..., A12, B1, ..."""
    rows, columns = plate.dimensions
    return product(range(1, rows + 1), range(1, columns + 1))


def _refuse_unprimed(
    samples: Iterable[ReverseTranscription], assays: Sequence[Assay], *, field: str = "samples"
) -> None:
    """TaqMan miRNA RT is assay-specific: a cDNA only holds the targets its RT was
    primed for, so a well of another assay would read nothing and look undetermined.
    One query whatever the number of samples."""
    samples = list(samples)
    primed = set(
        ReverseTranscription.assays.through.objects.filter(
            reversetranscription_id__in=[s.pk for s in samples]
        ).values_list("reversetranscription_id", "assay_id")
    )
    unprimed = [
        f"{sample.code} / {assay.target}"
        for sample, assay in product(samples, assays)
        if (sample.pk, assay.pk) not in primed
    ]
    if unprimed:
        raise ValidationError({field: f"Not reverse-transcribed for: {', '.join(unprimed[:5])}"})


@transaction.atomic
def plate_layout(
    *,
    plate: QpcrPlate,
    samples: Sequence[ReverseTranscription],
    assays: Sequence[Assay],
    replicates: int = 3,
    ntc_replicates: int = 1,
    calibrator: ReverseTranscription | None = None,
) -> list[Well]:
    """Lay out every sample x assay in `replicates`, a calibrator likewise when given,
    and `ntc_replicates` no-template controls per assay. Refused as a whole when the
    plate already has results, when it does not fit, or when a sample's RT was not
    primed for an assay (TaqMan miRNA RT is assay-specific)."""
    plate = QpcrPlate.objects.select_for_update().get(pk=plate.pk)
    if plate.status != QpcrPlate.Status.LAYOUT or plate.imports.exists():
        raise ValidationError(
            {"plate": f"Plate {plate.barcode} already has results; its layout is fixed"}
        )
    if not samples or not assays:
        raise ValidationError({"samples": "Choose at least one sample and one assay"})
    if not 1 <= replicates <= 6:
        raise ValidationError({"replicates": "Replicates must be between 1 and 6"})
    if len({s.pk for s in samples}) != len(samples):
        raise ValidationError({"samples": "A sample is listed twice"})
    _refuse_unprimed([*samples, *([calibrator] if calibrator else [])], assays)

    planned = [
        (Well.Kind.SAMPLE, sample, assay, replicate)
        for sample in samples
        for assay in assays
        for replicate in range(1, replicates + 1)
    ]
    if calibrator is not None:
        planned += [
            (Well.Kind.CALIBRATOR, calibrator, assay, replicate)
            for assay in assays
            for replicate in range(1, replicates + 1)
        ]
    planned += [
        (Well.Kind.NTC, None, assay, replicate)
        for assay in assays
        for replicate in range(1, ntc_replicates + 1)
    ]
    if len(planned) > plate.plate_format:
        raise ValidationError(
            {
                "samples": f"The layout needs {len(planned)} wells; plate {plate.barcode} has {plate.plate_format}"
            }
        )
    plate.wells.all().delete()
    wells = [
        Well(
            plate=plate,
            row=row,
            column=column,
            kind=kind,
            sample=sample,
            assay=assay,
            replicate=replicate,
        )
        for (kind, sample, assay, replicate), (row, column) in zip(
            planned, plate_positions(plate), strict=False
        )
    ]
    return Well.objects.bulk_create(wells)


# --- Laying out by hand -------------------------------------------------------------

_LABEL = re.compile(r"([A-Za-z])\s*0*([0-9]{1,2})")
_ROWS = "ABCDEFGHIJKLMNOP"


def _positions_on(plate: QpcrPlate, labels: Iterable[str], *, field: str) -> list[tuple[int, int]]:
    """(row, column) of each label, in the order given. Refused, naming the label, when
    one is not a position of this plate or is given twice."""
    n_rows, n_columns = plate.dimensions
    seen: set[tuple[int, int]] = set()
    positions = []
    for label in labels:
        match = _LABEL.fullmatch(str(label).strip())
        row = _ROWS.find(match.group(1).upper()) + 1 if match else 0
        column = int(match.group(2)) if match else 0
        if not (1 <= row <= n_rows and 1 <= column <= n_columns):
            raise ValidationError(
                {
                    field: f"{str(label).strip()!r} is not a position of plate {plate.barcode} "
                    f"({plate.plate_format} wells: A1-{_ROWS[n_rows - 1]}{n_columns})"
                }
            )
        if (row, column) in seen:
            raise ValidationError({field: f"{position_label(row, column)} is listed twice"})
        seen.add((row, column))
        positions.append((row, column))
    if not positions:
        raise ValidationError({field: "Choose at least one position"})
    return positions


def _lock_editable(plate: QpcrPlate) -> QpcrPlate:
    """The plate, locked, so that two technicians editing it take turns; refused once
    results are live on it (an import not reverted): moving or clearing a well then
    would detach its Cq from the sample it was measured for."""
    plate = QpcrPlate.objects.select_for_update().get(pk=plate.pk)
    live = PlateImport.objects.filter(plate=plate, reverted_at__isnull=True).exists()
    if live or plate.status == QpcrPlate.Status.IMPORTED:
        raise ValidationError(
            {"plate": f"Plate {plate.barcode} has imported results; its layout is fixed"}
        )
    return plate


def _wells_at(plate: QpcrPlate, positions: Iterable[tuple[int, int]], *, lock: bool = False):
    """The wells at these positions, keyed by position (several at a multiplex one)."""
    wanted = set(positions)
    rows = {row for row, _ in wanted}
    wells = (
        Well.objects.filter(plate=plate, row__in=rows)
        .select_related("sample", "assay")
        .order_by("pk")
    )
    if lock:
        wells = wells.select_for_update(of=("self",))
    found: dict[tuple[int, int], list[Well]] = {}
    for well in wells:
        if (well.row, well.column) in wanted:
            found.setdefault((well.row, well.column), []).append(well)
    return found


@transaction.atomic
def plate_place(
    *,
    plate: QpcrPlate,
    positions: Sequence[str],
    assays: Sequence[Assay],
    kind: str = Well.Kind.SAMPLE,
    sample: ReverseTranscription | None = None,
    quantity: float | None = None,
    quantity_unit: str = "",
) -> list[Well]:
    """Put one RT product (as a sample, calibrator or inter-run calibrator), a
    no-template control or one level of a standard dilution series (`quantity`, its
    known amount; no RT product needed) into each of `positions`, one well per assay:
    several assays at one position make a multiplex well. Replicates are numbered on
    from those already on the plate for the same sample, kind, quantity and assay, in
    the order given.

    Refused as a whole, naming the position, when the plate has live results, a
    position is off the plate, an assay is already at a position, a position holds
    another sample (one tube per well), or the sample was not primed for an assay."""
    plate = _lock_editable(plate)
    if kind not in Well.Kind.values:
        raise ValidationError({"kind": f"Unknown well kind {kind!r}"})
    if kind == Well.Kind.NTC and sample is not None:
        raise ValidationError({"sample": "A no-template control holds no sample"})
    if kind not in Well.WITHOUT_SAMPLE and sample is None:
        raise ValidationError(
            {"sample": f"{Well.Kind(kind).label} wells need an RT product (its code)"}
        )
    quantity_unit = (quantity_unit or "").strip()
    if kind == Well.Kind.STANDARD:
        # None: the instrument file will state it (the import writes it).
        quantity = None if quantity is None else _standard_quantity(quantity)
    elif quantity is not None or quantity_unit:
        raise ValidationError({"quantity": "Only a standard well has a quantity"})
    assays = list(dict.fromkeys(assays))
    if not assays:
        raise ValidationError({"assays": "Choose at least one assay"})
    wanted = _positions_on(plate, positions, field="positions")
    if sample is not None:
        _refuse_unprimed([sample], assays, field="sample")

    occupied = _wells_at(plate, wanted)
    what = _content(kind, sample, quantity)
    for row, column in wanted:
        label = position_label(row, column)
        for well in occupied.get((row, column), []):
            if well.assay_id in {assay.pk for assay in assays}:
                raise ValidationError(
                    {"positions": f"{label} already has a {well.assay.target} well"}
                )
            if (
                well.kind != kind
                or well.sample_id != (sample.pk if sample else None)
                or well.quantity != quantity
            ):
                held = _content(well.kind, well.sample, well.quantity, held=True)
                raise ValidationError(
                    {"positions": f"{label} holds {held}; {what} cannot share its well"}
                )

    last = {
        assay_id: replicate or 0
        for assay_id, replicate in Well.objects.filter(
            plate=plate, kind=kind, sample=sample, quantity=quantity, assay__in=assays
        )
        .values("assay_id")
        .annotate(last=models.Max("replicate"))
        .values_list("assay_id", "last")
    }
    wells = []
    for row, column in wanted:
        for assay in assays:
            last[assay.pk] = last.get(assay.pk, 0) + 1
            wells.append(
                Well(
                    plate=plate,
                    row=row,
                    column=column,
                    kind=kind,
                    sample=sample,
                    assay=assay,
                    replicate=last[assay.pk],
                    quantity=quantity,
                    quantity_unit=quantity_unit[:16] if kind == Well.Kind.STANDARD else "",
                )
            )
    return bulk_create_with_history(wells, Well, default_change_reason="placed by hand")


def _standard_quantity(quantity) -> float:
    try:
        value = float(quantity)
    except (TypeError, ValueError):
        raise ValidationError(
            {"quantity": "A standard well needs its known quantity (a number above 0)"}
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise ValidationError({"quantity": f"The quantity {quantity!r} must be a number above 0"})
    return value


def _content(kind: str, sample, quantity, *, held: bool = False) -> str:
    """What a position holds (or what would go there), in words, for the refusals."""
    if kind == Well.Kind.STANDARD:
        return f"standard {quantity:g}" if quantity is not None else "a standard"
    if sample is None:
        return "an NTC" if held else "NTC"
    return sample.code


@transaction.atomic
def plate_place_dilution_series(
    *,
    plate: QpcrPlate,
    positions: Sequence[str],
    assays: Sequence[Assay],
    top_quantity: float,
    dilution_factor: float = 10.0,
    replicates: int = 3,
    quantity_unit: str = "copies",
) -> list[Well]:
    """A standard curve in one step: `positions` in pipetting order hold the levels,
    most concentrated first, each level's `replicates` side by side; level k holds
    `top_quantity / dilution_factor**k`. Refused as a whole (see plate_place), and when
    the positions are not a whole number of levels or fewer than three levels (no line
    to judge: analysis.efficiency needs three)."""
    positions = list(positions)
    if not 1 <= replicates <= 6:
        raise ValidationError({"replicates": "Replicates must be between 1 and 6"})
    if len(positions) % replicates:
        raise ValidationError(
            {
                "positions": f"{len(positions)} positions are not whole levels of "
                f"{replicates} replicates"
            }
        )
    levels = len(positions) // replicates
    if levels < 3:
        raise ValidationError(
            {"positions": f"A standard curve needs at least 3 levels; {levels} given"}
        )
    top = _standard_quantity(top_quantity)
    try:
        factor = float(dilution_factor)
    except (TypeError, ValueError):
        factor = math.nan
    if not (math.isfinite(factor) and factor > 1):
        raise ValidationError(
            {"dilution_factor": f"The dilution factor {dilution_factor!r} must be above 1"}
        )
    wells = []
    for level in range(levels):
        wells += plate_place(
            plate=plate,
            positions=positions[level * replicates : (level + 1) * replicates],
            assays=assays,
            kind=Well.Kind.STANDARD,
            quantity=top / factor**level,
            quantity_unit=quantity_unit,
        )
    return wells


@transaction.atomic
def plate_move(*, plate: QpcrPlate, source: str, target: str) -> list[Well]:
    """Move every well at `source` (all its assays) to the empty position `target`.
    The wells keep their identity, sample and replicate numbers."""
    plate = _lock_editable(plate)
    (from_position,) = _positions_on(plate, [source], field="source")
    (to_position,) = _positions_on(plate, [target], field="target")
    found = _wells_at(plate, [from_position, to_position], lock=True)
    moving = found.get(from_position, [])
    if not moving:
        raise ValidationError({"source": f"{position_label(*from_position)} is empty"})
    if found.get(to_position):
        raise ValidationError(
            {"target": f"{position_label(*to_position)} is not empty; clear it first"}
        )
    for well in moving:
        well.row, well.column = to_position
    bulk_update_with_history(
        moving,
        Well,
        ["row", "column"],
        default_change_reason=f"moved from {position_label(*from_position)}",
    )
    return moving


@transaction.atomic
def plate_clear(*, plate: QpcrPlate, positions: Sequence[str]) -> int:
    """Remove every well at `positions`; returns how many wells went. An empty
    position among them is refused by name (a typo should not pass silently), and so
    is a well that an import ever touched: its history explains a reverted result."""
    plate = _lock_editable(plate)
    wanted = _positions_on(plate, positions, field="positions")
    found = _wells_at(plate, wanted, lock=True)
    empty = [position_label(*p) for p in wanted if p not in found]
    if empty:
        raise ValidationError({"positions": f"Nothing to clear at {', '.join(empty)}"})
    wells = [well for group in found.values() for well in group]
    touched = set(
        Well.objects.filter(pk__in=[w.pk for w in wells])
        .filter(models.Q(import_changes__isnull=False) | models.Q(imported_from__isnull=False))
        .values_list("pk", flat=True)
    )
    if touched:
        labels = sorted({w.position for w in wells if w.pk in touched})
        raise ValidationError(
            {"positions": f"{', '.join(labels)} hold imported results (even reverted); they stay"}
        )
    Well.objects.filter(pk__in=[w.pk for w in wells]).delete()
    return len(wells)


@transaction.atomic
def well_delete(*, well: Well) -> None:
    """Remove one well (one assay at its position) from a plate still being laid out;
    refused, like plate_clear, once the plate has live results or the well ever held
    an imported Cq."""
    plate = _lock_editable(well.plate)
    well = Well.objects.select_for_update().get(pk=well.pk)
    if well.imported_from_id is not None or well.import_changes.exists():
        raise ValidationError(
            {"well": f"{well.position} holds imported results (even reverted); it stays"}
        )
    if well.plate_id != plate.pk:  # moved by a concurrent edit: should not happen
        raise ValidationError({"well": "The well changed plate; reload and try again"})
    well.delete()


@transaction.atomic
def plate_delete(*, plate: QpcrPlate) -> None:
    """Remove a plate (and its layout) that never had an export imported: a plate
    with imports, even reverted ones, is the record of what was measured."""
    plate = QpcrPlate.objects.select_for_update().get(pk=plate.pk)
    if plate.imports.exists() or plate.status != QpcrPlate.Status.LAYOUT:
        raise ValidationError({"plate": f"Plate {plate.barcode} has imported results; it stays"})
    plate.wells.all().delete()
    plate.delete()


def _decide(well: Well, *, excluded: bool, user, reason: str) -> Well:
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the decision"})
    well = Well.objects.select_for_update().get(pk=well.pk)
    well.excluded = excluded
    well.exclusion_reason = reason.strip()
    well.excluded_by = user if getattr(user, "is_authenticated", False) else None
    well.excluded_at = timezone.now()
    well._change_reason = reason.strip()
    return save_validated(well)


@transaction.atomic
def well_exclude(*, well: Well, user, reason: str) -> Well:
    """A curator's exclusion: wins over the automatic QC, with who and why kept."""
    return _decide(well, excluded=True, user=user, reason=reason)


@transaction.atomic
def well_restore(*, well: Well, user, reason: str) -> Well:
    """Keep a well the automatic QC would exclude (excluded=False is a decision too)."""
    return _decide(well, excluded=False, user=user, reason=reason)


@transaction.atomic
def well_clear_decision(*, well: Well, user) -> Well:
    """Hand the well back to the automatic QC."""
    well = Well.objects.select_for_update().get(pk=well.pk)
    well.excluded, well.exclusion_reason, well.excluded_by, well.excluded_at = None, "", None, None
    return save_validated(well)
