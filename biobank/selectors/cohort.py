"""The cohort table from the database: load the raw frames (three queries plus the
wells), hand them to the pure builders in analysis.cohort and analysis.pipeline.

Withdrawn patients are left out here, at the source, so no analysis or export can
see them.
"""

from __future__ import annotations

import pandas as pd
from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce

from analysis.cohort import build_cohort_table
from analysis.pipeline import normalise_wells
from biobank.domain.child_pugh import grade_for_score
from biobank.models import FollowUp, Patient, Well

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


def expression_table(wells: pd.DataFrame) -> pd.DataFrame:
    if not len(wells):
        return pd.DataFrame()
    options = settings.EXOTRACK
    return normalise_wells(
        wells, cq_cutoff=options["CQ_CUTOFF"], max_distance=options["REPLICATE_MAX_DISTANCE"]
    ).per_patient


def cohort_table() -> pd.DataFrame:
    """One row a consenting patient: baseline, PRE/POST expression, DSS."""
    return build_cohort_table(
        patients_frame(), follow_ups_frame(), expression_table(active_wells_frame())
    )


def cohort_table_chunks(chunk_size: int = 1000):
    """The same table, `chunk_size` patients at a time in study_id order, so an export
    of any size runs in constant memory. Expression is per patient (QC groups and ΔCq
    never cross patients), so the chunks concatenate to exactly `cohort_table()`."""
    study_ids = list(
        Patient.objects.active()
        .filter(treatments__is_initial=True)
        .order_by("study_id")
        .values_list("study_id", flat=True)
    )
    for start in range(0, len(study_ids), chunk_size):
        chunk = study_ids[start : start + chunk_size]
        wells = wells_frame(
            queryset=Well.objects.filter(**{f"{DRAW}__patient__study_id__in": chunk})
        )
        yield build_cohort_table(
            patients_frame(chunk), follow_ups_frame(chunk), expression_table(wells)
        )
