"""The cohort table from the database: load the raw frames (three queries plus the
wells), hand them to the pure builders in analysis.cohort and analysis.pipeline.

Withdrawn patients are left out here, at the source, so no analysis or export can
see them.
"""

from __future__ import annotations

import pandas as pd
from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from analysis.cohort import build_cohort_table
from analysis.flags import QcThresholds, evidence_from_parts, evidence_parts
from analysis.normalise import _timepoint_labels
from analysis.pipeline import Normalisation, normalise_wells
from biobank.domain.child_pugh import grade_for_score
from biobank.models import Assay, FollowUp, Patient, ReverseTranscription, Well

from .qc_inputs import draw_status_frame, rt_products_frame, withdrawn_count
from .qc_thresholds import qc_thresholds
from .wells import DRAW, wells_frame

BASELINE = "treatments__baseline"

PATIENT_FIELDS = {
    "study_id": F("study_id"),
    "sex": F("sex"),
    "age_years": F("age_at_enrolment"),
    "liver_background": F("liver_background"),
    "etiology": F("etiology"),
    "type2_diabetes": F("type2_diabetes"),
    "tace_date": F("treatments__performed_on"),
    "child_pugh_score": Coalesce(
        F(f"{BASELINE}__child_pugh_score"), F(f"{BASELINE}__child_pugh_score_recorded")
    ),
    **{
        name: F(f"{BASELINE}__{name}")
        for name in [
            "bclc_stage", "ast_iu_l", "alt_iu_l", "hba1c_percent", "total_bilirubin_mg_dl",
            "albumin_g_dl", "pt_percent", "platelets_1e4_ul", "ascites", "encephalopathy",
            "child_pugh_grade", "afp_ng_ml", "dcp_mau_ml",
            "tumour_diameter_cm", "tumour_number",
        ]
    },
}  # fmt: skip


def patients_frame(study_ids=None) -> pd.DataFrame:
    """Active patients with their initial TACE date and its baseline assessment.

    The Child-Pugh score is the derived one, or the chart's recorded score where a
    measure is missing (as the study did: score known for all 75, PT for 73)."""
    patients = Patient.objects.active()
    if study_ids is not None:
        patients = patients.filter(study_id__in=study_ids)
    rows = (
        patients.filter(treatments__is_initial=True)
        .order_by("study_id")
        .values(**{f"_{k}": v for k, v in PATIENT_FIELDS.items()})
    )
    frame = pd.DataFrame.from_records(list(rows), columns=[f"_{k}" for k in PATIENT_FIELDS])
    frame.columns = list(PATIENT_FIELDS)
    missing_grade = frame["child_pugh_grade"].eq("") & frame["child_pugh_score"].notna()
    frame.loc[missing_grade, "child_pugh_grade"] = frame.loc[missing_grade, "child_pugh_score"].map(
        lambda score: grade_for_score(int(score))
    )
    # Choice fields store '' for "not recorded": that is missing, not a category.
    return frame.replace({"": pd.NA})


def follow_ups_frame(study_ids=None) -> pd.DataFrame:
    follow_ups = FollowUp.objects.filter(patient__withdrawn_on__isnull=True)
    if study_ids is not None:
        follow_ups = follow_ups.filter(patient__study_id__in=study_ids)
    rows = follow_ups.values_list("patient__study_id", "contact_date", "status", "cause_of_death")
    return pd.DataFrame.from_records(
        list(rows), columns=["study_id", "contact_date", "status", "cause_of_death"]
    )


def active_wells_frame() -> pd.DataFrame:
    """Every well except those of withdrawn patients (controls are kept: QC needs them)."""
    return wells_frame(
        queryset=Well.objects.exclude(**{f"{DRAW}__patient__withdrawn_on__isnull": False})
    )


def normalisation(
    wells: pd.DataFrame, products: pd.DataFrame, thresholds: QcThresholds
) -> Normalisation | None:
    if not len(wells):
        return None
    return normalise_wells(
        wells,
        cq_cutoff=settings.EXOTRACK["CQ_CUTOFF"],
        max_distance=settings.EXOTRACK["REPLICATE_MAX_DISTANCE"],
        products=products,
        thresholds=thresholds,
    )


def _table(study_ids, wells: pd.DataFrame, products: pd.DataFrame, thresholds: QcThresholds):
    """The cohort of `study_ids` (None: everyone) from its wells and RT products, and the
    normalisation behind it (None without wells)."""
    result = normalisation(wells, products, thresholds)
    table = build_cohort_table(
        patients_frame(study_ids),
        follow_ups_frame(study_ids),
        result.per_patient if result is not None else pd.DataFrame(),
        draw_status_frame(study_ids=study_ids),
    )
    return table, result


def cohort_table() -> pd.DataFrame:
    """One row a consenting patient: baseline, PRE/POST expression with its QC status,
    what was drawn, DSS."""
    return _table(None, active_wells_frame(), rt_products_frame(), qc_thresholds())[0]


def cohort_with_evidence() -> tuple[pd.DataFrame, dict]:
    """The cohort table and the QC behind its QC columns, for a run's report
    (analysis.flags.qc_evidence), with how many patients withdrew consent."""
    products, thresholds = rt_products_frame(), qc_thresholds()
    table, evidence, _parts = cohort_with_evidence_parts(products, thresholds)
    return table, evidence


def cohort_with_evidence_parts(products=None, thresholds=None):
    """cohort_with_evidence, with the row-level tables its QC evidence is cut from
    (analysis.flags.evidence_parts) and the measured (patient, miRNA, time point)
    triples that decide the expression columns: what an incremental rebuild splices
    (biobank.selectors.cohort_incremental). Parts are None without wells."""
    if products is None:
        products = rt_products_frame()
    thresholds = thresholds or qc_thresholds()
    table, result = _table(None, active_wells_frame(), products, thresholds)
    evidence = {"withdrawn": withdrawn_count()}
    parts = None
    if result is not None:
        parts = evidence_parts(
            qc_wells=result.qc_wells, ntc=result.ntc, qc=result.qc, products=products
        )
        evidence |= evidence_from_parts(parts, thresholds)
        parts["measured"] = measured(result.normalised)
    return table, evidence, parts


def measured(normalised: pd.DataFrame) -> pd.DataFrame:
    """(patient_id, target, tp) of every measurement the per-patient table is made of
    (the rows analysis.normalise.patient_expression pivots): the set of (target, tp)
    decides which expression and QC columns the cohort table has."""
    tp = normalised["timepoint"].map(_timepoint_labels(normalised["timepoint"]))
    use = normalised["patient_id"].notna() & tp.notna()
    if "kind" in normalised.columns:
        use &= normalised["kind"].eq("sample")
    frame = normalised.loc[use, ["patient_id", "target"]].copy()
    frame["tp"] = tp[use].astype(object)
    return frame.drop_duplicates().reset_index(drop=True)


def cohort_subset(study_ids, *, plate_ids=(), thresholds: QcThresholds):
    """The cohort rows of `study_ids` and what their QC reads, for an incremental
    rebuild: the patients' own wells (withdrawn patients' left out, as in the full
    build), every spike-in of their extraction batches (the spike-in rule's peers),
    every well of `plate_ids`, and the NTCs of every plate any of those wells sit on.
    Returns (table, normalisation or None, products, wells loaded)."""
    study_ids = list(study_ids)
    batches = (
        ReverseTranscription.objects.filter(
            rna__isolation__aliquot__draw__patient__study_id__in=study_ids
        )
        .values_list("rna__isolation__batch__code", flat=True)
        .distinct()
    )
    products = rt_products_frame(batches=list(batches))
    # By RT product, one indexed query each (an OR over the joins scans every well).
    # The products are those of consenting patients, so withdrawn patients' wells stay out.
    own = products.loc[products["patient_id"].isin(study_ids), "sample_id"].tolist()
    parts = [
        wells_frame(queryset=Well.objects.filter(sample_id__in=own)),
        wells_frame(
            queryset=Well.objects.filter(
                sample_id__in=products["sample_id"].tolist(), assay__role=Assay.Role.SPIKE_IN
            )
        ),
    ]
    if plate_ids:
        consenting = Well.objects.exclude(**{f"{DRAW}__patient__withdrawn_on__isnull": False})
        parts.append(wells_frame(queryset=consenting.filter(plate_id__in=list(plate_ids))))
    wells = pd.concat(parts, ignore_index=True).drop_duplicates("well_id")
    controls = wells_frame(
        queryset=Well.objects.filter(
            kind=Well.Kind.NTC, plate_id__in=set(wells["plate_id"]) | set(plate_ids)
        )
    )
    wells = (
        pd.concat([wells, controls], ignore_index=True)
        .drop_duplicates("well_id")
        .sort_values(["plate_id", "row", "column"], kind="stable", ignore_index=True)
    )
    table, result = _table(study_ids, wells, products, thresholds)
    return table, result, products, wells


def cohort_table_chunks(chunk_size: int = 1000):
    """The same table, `chunk_size` patients at a time in study_id order, so an export
    of any size runs in bounded memory. Two QC rules look beyond a patient: the NTCs of
    the plates the chunk's wells sit on, and the spike-in of every RT product of the
    chunk's extraction batches; those wells are loaded with the chunk, so the chunks
    concatenate to exactly `cohort_table()`."""
    study_ids = list(
        Patient.objects.active()
        .filter(treatments__is_initial=True)
        .order_by("study_id")
        .values_list("study_id", flat=True)
    )
    thresholds = qc_thresholds()
    for start in range(0, len(study_ids), chunk_size):
        yield _chunk_table(study_ids[start : start + chunk_size], thresholds)


def _chunk_table(study_ids: list[str], thresholds: QcThresholds) -> pd.DataFrame:
    batches = (
        ReverseTranscription.objects.filter(
            rna__isolation__aliquot__draw__patient__study_id__in=study_ids
        )
        .values_list("rna__isolation__batch__code", flat=True)
        .distinct()
    )
    batch_products = rt_products_frame(batches=list(batches))
    own = Q(**{f"{DRAW}__patient__study_id__in": study_ids})
    batch_spike_ins = Q(
        sample_id__in=batch_products["sample_id"].tolist(), assay__role=Assay.Role.SPIKE_IN
    )
    wells = wells_frame(queryset=Well.objects.filter(own | batch_spike_ins))
    controls = wells_frame(
        queryset=Well.objects.filter(kind=Well.Kind.NTC, plate_id__in=set(wells["plate_id"]))
    )
    wells = pd.concat([wells, controls], ignore_index=True).drop_duplicates("well_id")
    return _table(study_ids, wells, batch_products, thresholds)[0]
