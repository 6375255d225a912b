"""A new plate and its layout as one step: the bench sets up a plate in one form, and
a layout that does not fit must not leave an empty plate behind. A plate to be laid
out by hand on its map is created empty."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from biobank.models import Assay, QpcrPlate, ReverseTranscription

from .plates import plate_create, plate_layout


@transaction.atomic
def plate_set_up(
    *,
    barcode: str,
    samples: Sequence[ReverseTranscription] = (),
    assays: Sequence[Assay] = (),
    operator,
    by_hand: bool = False,
    plate_format: int = 96,
    instrument: str = "Roche LightCycler 480 II",
    replicates: int = 3,
    ntc_replicates: int = 1,
    calibrator: ReverseTranscription | None = None,
) -> QpcrPlate:
    """Create the plate and lay it out, or, when either step is refused, neither.
    `by_hand` creates it empty, to be laid out well by well (plates.plate_place)."""
    plate = plate_create(
        barcode=barcode, plate_format=plate_format, instrument=instrument, operator=operator
    )
    if by_hand:
        return plate
    plate_layout(
        plate=plate,
        samples=samples,
        assays=assays,
        replicates=replicates,
        ntc_replicates=ntc_replicates,
        calibrator=calibrator,
    )
    return plate
