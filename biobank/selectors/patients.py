"""One patient's page: the draws, the tubes cut from them, what was extracted from each
tube and the qPCR results of each RT product, read in a fixed number of queries
(issue 15). The identity is read only for those who may see it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Prefetch

from biobank.models import (
    Aliquot,
    ExosomeIsolation,
    FollowUp,
    Patient,
    PatientIdentity,
    SerumDraw,
    Well,
)
from biobank.selectors.subqueries import count_of


@dataclass(frozen=True)
class ResultLine:
    """An RT product's replicates of one assay: their Cq and which were excluded."""

    assay: str
    cqs: list[float | None]
    excluded: int


@dataclass
class PatientRecord:
    patient: Patient
    identity: PatientIdentity | None
    # Each draw with .aliquots_list, each aliquot with .isolations_list, each RT product
    # of their RNA with .result_lines (ResultLine per assay).
    draws: list[SerumDraw]
    follow_ups: list[FollowUp]

    @property
    def last_follow_up(self) -> FollowUp | None:
        return self.follow_ups[-1] if self.follow_ups else None


def patients_listed():
    """Patients, pseudonymous: never joined to their identity (the API's list,
    /patients/)."""
    return Patient.objects.all()


def patients_with_counts():
    """The patient list of /patients/: each patient with `n_draws` and `n_stored` tubes,
    counted for the page's rows only; never the identity."""
    return patients_listed().annotate(
        n_draws=count_of(SerumDraw, "patient"),
        n_stored=count_of(Aliquot, "draw__patient", status=Aliquot.Status.STORED),
    )


def patient_by_study_id(study_id: str) -> Patient | None:
    return Patient.objects.filter(study_id__iexact=study_id.strip()).first()


def patient_record(patient: Patient, *, include_identity: bool) -> PatientRecord:
    isolations = ExosomeIsolation.objects.select_related("batch", "rna").prefetch_related(
        "rna__reverse_transcriptions"
    )
    aliquots = Aliquot.objects.select_related("box").prefetch_related(
        Prefetch("isolations", queryset=isolations, to_attr="isolations_list")
    )
    draws = list(
        SerumDraw.objects.filter(patient=patient)
        .select_related("treatment")
        .prefetch_related(
            Prefetch("aliquots", queryset=aliquots.order_by("barcode"), to_attr="aliquots_list")
        )
        .order_by("drawn_at")
    )
    wells = (
        Well.objects.filter(sample__rna__isolation__aliquot__draw__patient=patient)
        .filter(kind=Well.Kind.SAMPLE)
        .select_related("assay")
        .order_by("sample_id", "assay__target", "replicate", "id")
    )
    # Each RT product's replicates, assay by assay, in one pass over the patient's wells.
    by_product: dict[int, dict[str, list[Well]]] = defaultdict(lambda: defaultdict(list))
    for well in wells:
        by_product[well.sample_id][well.assay.target].append(well)
    products = [
        product
        for draw in draws
        for aliquot in draw.aliquots_list
        for isolation in aliquot.isolations_list
        if hasattr(isolation, "rna")
        for product in isolation.rna.reverse_transcriptions.all()
    ]
    for product in products:  # the prefetched instances the page iterates
        product.result_lines = [
            ResultLine(
                target, [well.cq for well in replicates], sum(bool(w.excluded) for w in replicates)
            )
            for target, replicates in by_product[product.pk].items()
        ]
    identity = PatientIdentity.objects.filter(patient=patient).first() if include_identity else None
    follow_ups = list(FollowUp.objects.filter(patient=patient).order_by("contact_date"))
    return PatientRecord(patient, identity, draws, follow_ups)
