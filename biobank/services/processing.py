"""Serum to cDNA. Taking serum into an extraction batch decrements the aliquots in
the same transaction as the batch is written: either all of it happens or none.
The bench then isolates the RNA of a batch's samples and reverse-transcribes it,
each step for many samples at once and likewise all or nothing: one sample refused
refuses the batch, with the reason naming the sample's aliquot barcode."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from biobank.domain.rt_codes import next_rt_code
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
from .dates import in_future


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


class SamplesRefused(ValidationError):
    """A batch refused because of some of its samples: nothing of it was saved.

    The messages are keyed `samples` like any service error (the API shows them so);
    `by_barcode` maps each refused aliquot barcode to its reasons, so a page can put
    each reason on the row of its sample.
    """

    def __init__(self, by_barcode: dict[str, list[str]]):
        super().__init__(
            {
                "samples": [
                    f"{barcode}: {reason}"
                    for barcode, reasons in by_barcode.items()
                    for reason in reasons
                ]
            }
        )
        self.by_barcode = by_barcode


def _refuse_duplicates(barcodes: Sequence[str]) -> None:
    twice = sorted({barcode for barcode in barcodes if barcodes.count(barcode) > 1})
    if twice:
        raise SamplesRefused({barcode: ["listed twice"] for barcode in twice})


def _refuse_missing(ids: Sequence[int], found: Mapping[int, object], what: str) -> None:
    """A sample deleted between the page and the save (the admin) is refused, not skipped."""
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise ValidationError({"samples": f"No {what} has the id {missing[0]} any more"})


def _shared_date(performed_on: dt.date, step: str) -> None:
    if in_future(performed_on):
        raise ValidationError({"performed_on": f"The {step} cannot be dated in the future"})


def _deviation(deviations: Mapping[int, str] | None, pk: int) -> str:
    return ((deviations or {}).get(pk) or "").strip()


def _operator(user):
    return user if getattr(user, "is_authenticated", False) else None


@transaction.atomic
def rna_isolation_batch_record(
    *,
    isolations: Sequence[ExosomeIsolation],
    kit_lot: str,
    performed_on: dt.date,
    user,
    kit: str | None = None,
    elution_volume_ul=None,
    deviations: Mapping[int, str] | None = None,
) -> list[RnaIsolation]:
    """Isolate the RNA of several exosome isolations at once: one kit and lot, one
    elution volume, one date, the user as operator; `deviations` maps an isolation's
    pk to what differed for that sample.

    All or nothing: a sample already isolated, or dated before its ExoQuick batch,
    refuses the whole batch, each reason naming the sample's aliquot barcode. The
    isolations are locked in pk order, so two technicians recording the same tube at
    once cannot both succeed (the one-to-one constraint is the last guard).
    """
    if not isolations:
        raise ValidationError({"samples": "Choose at least one sample"})
    _shared_date(performed_on, "RNA isolation")
    ids = [isolation.pk for isolation in isolations]
    locked = list(
        ExosomeIsolation.objects.select_for_update()
        .filter(pk__in=sorted(set(ids)))
        .select_related("batch", "aliquot")
        .order_by("pk")
    )
    by_pk = {isolation.pk: isolation for isolation in locked}
    _refuse_missing(ids, by_pk, "exosome isolation")
    _refuse_duplicates([by_pk[pk].aliquot.barcode for pk in ids])
    done = dict(
        RnaIsolation.objects.filter(isolation_id__in=by_pk).values_list(
            "isolation_id", "performed_on"
        )
    )
    refused: dict[str, list[str]] = {}
    for pk in ids:
        isolation = by_pk[pk]
        reasons = refused.setdefault(isolation.aliquot.barcode, [])
        if pk in done:
            reasons.append(
                f"its RNA was already isolated (batch {isolation.batch.code}, {done[pk]:%Y-%m-%d})"
            )
        elif performed_on < isolation.batch.performed_on:
            reasons.append(
                f"RNA isolation on {performed_on:%Y-%m-%d} cannot precede its exosome "
                f"isolation (batch {isolation.batch.code}, "
                f"{isolation.batch.performed_on:%Y-%m-%d})"
            )
        if len(_deviation(deviations, pk)) > 300:
            reasons.append("the deviation is longer than 300 characters")
    refused = {barcode: reasons for barcode, reasons in refused.items() if reasons}
    if refused:
        raise SamplesRefused(refused)

    made = []
    for pk in ids:
        rna = RnaIsolation(
            isolation=by_pk[pk],
            kit_lot=kit_lot,
            performed_on=performed_on,
            operator=_operator(user),
            deviation=_deviation(deviations, pk),
        )
        if kit:
            rna.kit = kit
        if elution_volume_ul is not None:
            rna.elution_volume_ul = as_volume(elution_volume_ul)
        # The uniqueness of `isolation` was checked above under the lock.
        made.append(save_validated(rna, exclude=["isolation"]))
    return made


@transaction.atomic
def reverse_transcription_batch_record(
    *,
    rnas: Sequence[RnaIsolation],
    kit_lot: str,
    performed_on: dt.date,
    user,
    assays: Sequence[Assay] | None = None,
    kit: str | None = None,
    input_volume_ul=None,
    deviations: Mapping[int, str] | None = None,
) -> list[ReverseTranscription]:
    """Reverse-transcribe several RNAs at once with one kit and lot, one primer pool
    (`assays`; all the study's assays when not given), one input volume and date, the
    user as operator; `deviations` maps an RNA's pk to what differed for that sample.

    Each product gets its code from the tube's barcode (biobank.domain.rt_codes),
    never a typed one. All or nothing: an RNA dated after the RT, one already
    reverse-transcribed with the same primers, or without the RNA left for another
    input volume refuses the whole batch, each reason naming the sample's aliquot
    barcode. The RNAs are locked in pk order, so the numbering of a tube's products
    cannot race (the unique code is the last guard).
    """
    if not rnas:
        raise ValidationError({"samples": "Choose at least one sample"})
    _shared_date(performed_on, "reverse transcription")
    primers = list(Assay.objects.order_by("pk")) if assays is None else list(assays)
    if not primers:
        raise ValidationError({"assays": "Name the assays whose primers were used"})
    primer_ids = {assay.pk for assay in primers}
    volume = as_volume(
        ReverseTranscription._meta.get_field("input_volume_ul").default
        if input_volume_ul is None
        else input_volume_ul
    )

    ids = [rna.pk for rna in rnas]
    locked = list(
        RnaIsolation.objects.select_for_update()
        .filter(pk__in=sorted(set(ids)))
        .select_related("isolation__aliquot")
        .order_by("pk")
    )
    by_pk = {rna.pk: rna for rna in locked}
    _refuse_missing(ids, by_pk, "RNA isolation")
    _refuse_duplicates([by_pk[pk].isolation.aliquot.barcode for pk in ids])
    # Every earlier product of these tubes (any of their RNAs), with its primers: the
    # numbering counts them all, the same-primers rule and the RNA left read them.
    earlier = list(
        ReverseTranscription.objects.filter(
            rna__isolation__aliquot_id__in={rna.isolation.aliquot_id for rna in locked}
        )
        .select_related("rna__isolation")
        .prefetch_related("assays")
        .order_by("pk")
    )
    codes_of_tube: dict[int, list[str]] = {}
    for product in earlier:
        codes_of_tube.setdefault(product.rna.isolation.aliquot_id, []).append(product.code)

    refused: dict[str, list[str]] = {}
    planned: list[tuple[RnaIsolation, str]] = []
    for pk in ids:
        rna = by_pk[pk]
        barcode = rna.isolation.aliquot.barcode
        reasons = refused.setdefault(barcode, [])
        if performed_on < rna.performed_on:
            reasons.append(
                f"reverse transcription on {performed_on:%Y-%m-%d} cannot precede its RNA "
                f"isolation ({rna.performed_on:%Y-%m-%d})"
            )
        of_this_rna = [product for product in earlier if product.rna_id == pk]
        same = [p.code for p in of_this_rna if {a.pk for a in p.assays.all()} == primer_ids]
        if same:
            reasons.append(
                f"its RNA was already reverse-transcribed with the same primers ({same[0]})"
            )
        used = sum((p.input_volume_ul for p in of_this_rna), Decimal(0))
        if used + volume > rna.elution_volume_ul:
            reasons.append(
                f"{volume} µl of RNA is more than is left ({rna.elution_volume_ul - used} µl "
                f"of {rna.elution_volume_ul} µl eluted)"
            )
        if len(_deviation(deviations, pk)) > 300:
            reasons.append("the deviation is longer than 300 characters")
        try:
            code = next_rt_code(barcode, codes_of_tube.get(rna.isolation.aliquot_id, []))
        except ValueError as error:
            reasons.append(str(error))
        else:
            planned.append((rna, code))
    taken = set(
        ReverseTranscription.objects.filter(code__in=[code for _, code in planned]).values_list(
            "code", flat=True
        )
    )
    for rna, code in planned:
        if code in taken:
            refused[rna.isolation.aliquot.barcode].append(
                f"the code {code} is already used by another RT product"
            )
    refused = {barcode: reasons for barcode, reasons in refused.items() if reasons}
    if refused:
        raise SamplesRefused(refused)

    made = []
    for rna, code in planned:
        product = ReverseTranscription(
            code=code,
            rna=rna,
            kit_lot=kit_lot,
            performed_on=performed_on,
            input_volume_ul=volume,
            operator=_operator(user),
            deviation=_deviation(deviations, rna.pk),
        )
        if kit:
            product.kit = kit
        made.append(save_validated(product))
    through = ReverseTranscription.assays.through
    through.objects.bulk_create(
        [
            through(reversetranscription_id=product.pk, assay_id=assay_id)
            for product in made
            for assay_id in sorted(primer_ids)
        ]
    )
    return made
