"""What each kind of label prints (biobank.labels.layouts.Label): one function a kind,
used by the sheets on the pages, the PDF and the ZPL alike."""

from __future__ import annotations

from collections.abc import Iterable

from biobank.labels.layouts import Label
from biobank.models import Aliquot, ReverseTranscription


def tube_label(aliquot: Aliquot) -> Label:
    draw = aliquot.draw
    place = f"{aliquot.box.barcode} {aliquot.position}" if aliquot.box_id else ""
    return Label(
        aliquot.barcode,
        tuple(
            line
            for line in (
                f"{draw.patient.study_id} {draw.timepoint}",
                f"{aliquot.initial_volume_ul:g} µl · {draw.drawn_at:%Y-%m-%d}",
                place,
            )
            if line
        ),
    )


def tube_labels(aliquots: Iterable[Aliquot]) -> list[Label]:
    return [tube_label(aliquot) for aliquot in aliquots]


def rt_label(product: ReverseTranscription) -> Label:
    draw = product.rna.isolation.aliquot.draw
    assays = ", ".join(assay.target for assay in product.assays.all())
    return Label(
        product.code,
        (
            f"{draw.patient.study_id} {draw.timepoint} cDNA",
            f"RT {product.performed_on:%Y-%m-%d}",
            assays,
        ),
    )
