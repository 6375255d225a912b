"""Plates: creation, layout, well exclusions.

Laying out triplicates for a list of samples and assays is one call, filling the
plate row by row in the order a technician pipettes: each sample, each assay,
its replicates side by side, then the no-template controls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from itertools import product

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from biobank.models import Assay, QpcrPlate, ReverseTranscription, Well

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
    primed = {
        (rt_id, assay_id)
        for rt_id, assay_id in ReverseTranscription.assays.through.objects.filter(
            reversetranscription_id__in=[
                s.pk for s in [*samples, *([calibrator] if calibrator else [])]
            ]
        ).values_list("reversetranscription_id", "assay_id")
    }
    unprimed = [
        f"{sample.code} / {assay.target}"
        for sample, assay in product([*samples, *([calibrator] if calibrator else [])], assays)
        if (sample.pk, assay.pk) not in primed
    ]
    if unprimed:
        raise ValidationError(
            {"samples": f"Not reverse-transcribed for: {', '.join(unprimed[:5])}"}
        )

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

