"""Serum to cDNA. Taking serum into an extraction batch decrements the aliquots in
the same transaction as the batch is written: either all of it happens or none."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from biobank.models import (
    Aliquot,
    Assay,
    ExosomeIsolation,
    ExosomeIsolationBatch,
    ReverseTranscription,
    RnaIsolation,
)

from .aliquots import as_volume, consume_locked, lock_aliquots
from .common import save_validated


@transaction.atomic
def exosome_isolation_batch_record(
    *,
    code: str,
    performed_on: dt.date,
    exoquick_lot: str,
    spike_in_lot: str,
    aliquots: Sequence[Aliquot],
    user,
    serum_volume_ul=None,
    **protocol,
) -> ExosomeIsolationBatch:
    """Record an ExoQuick batch and consume `serum_volume_ul` (default: the protocol's
    250 µl) from each aliquot. One aliquot short of serum refuses the whole batch."""
    if not aliquots:
        raise ValidationError({"aliquots": "Scan at least one aliquot"})
    if len({aliquot.pk for aliquot in aliquots}) != len(aliquots):
        raise ValidationError({"aliquots": "An aliquot is scanned twice"})
    batch = ExosomeIsolationBatch(
        code=code,
        performed_on=performed_on,
        exoquick_lot=exoquick_lot,
        spike_in_lot=spike_in_lot,
        operator=user if getattr(user, "is_authenticated", False) else None,
        **protocol,
    )
    if serum_volume_ul is not None:
        batch.serum_volume_ul = as_volume(serum_volume_ul)
    save_validated(batch)
    for aliquot in lock_aliquots(aliquots):
        consume_locked(
            aliquot, batch.serum_volume_ul, user=user, reason=f"exosome isolation {code}"
        )
        ExosomeIsolation.objects.create(
            batch=batch, aliquot=aliquot, serum_volume_ul=batch.serum_volume_ul
        )
    return batch


@transaction.atomic
def rna_isolation_record(
    *, isolation: ExosomeIsolation, kit_lot: str, performed_on: dt.date, **details
) -> RnaIsolation:
    if performed_on < isolation.batch.performed_on:
        raise ValidationError(
            {"performed_on": "RNA isolation cannot precede the exosome isolation"}
        )
    if RnaIsolation.objects.filter(isolation=isolation).exists():
        raise ValidationError({"isolation": f"{isolation} already has its RNA isolated"})
    return save_validated(
        RnaIsolation(isolation=isolation, kit_lot=kit_lot, performed_on=performed_on, **details)
    )


@transaction.atomic
def reverse_transcription_record(
    *, code: str, rna: RnaIsolation, kit_lot: str, performed_on: dt.date, assays: Sequence[Assay]
) -> ReverseTranscription:
    if not assays:
        raise ValidationError({"assays": "Name the assays whose primers were used"})
    if performed_on < rna.performed_on:
        raise ValidationError(
            {"performed_on": "Reverse transcription cannot precede RNA isolation"}
        )
    product = save_validated(
        ReverseTranscription(code=code, rna=rna, kit_lot=kit_lot, performed_on=performed_on)
    )
    product.assays.set(assays)
    return product
