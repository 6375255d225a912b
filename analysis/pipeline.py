"""From wells to per-patient expression: the analysis chain's first half, in one call.

Pure: takes the wells DataFrame (biobank.selectors.wells.wells_frame builds it from
the database; analysis tests build it by hand) and returns every intermediate
table, so a report can show the QC that led to each number.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .flags import QcResult, QcThresholds, derive_qc
from .normalise import DEFAULT_SPIKE_IN, delta_cq, patient_expression
from .qc import apply_replicate_qc, ntc_contamination, summarise_replicates


@dataclass(frozen=True)
class Normalisation:
    qc_wells: pd.DataFrame  # every well with its QC decision and reason
    replicates: pd.DataFrame  # one row per (RT product, assay): mean Cq, n accepted, flags
    ntc: pd.DataFrame  # no-template controls per plate and assay; `flag` says which amplified
    normalised: pd.DataFrame  # ΔCq, 2^-ΔCq, log10 per (RT product, miRNA)
    qc: QcResult  # pass / warn / fail with reasons per measurement (analysis.flags)
    per_patient: pd.DataFrame  # wide: PRE/POST per miRNA, ratio, fold change, QC status


def normalise_wells(
    wells: pd.DataFrame,
    *,
    cq_cutoff: float = 35.0,
    max_distance: float = 0.5,
    spike_in_target: str = DEFAULT_SPIKE_IN,
    calibrator_sample_id=None,
    products: pd.DataFrame | None = None,
    thresholds: QcThresholds | None = None,
) -> Normalisation:
    """`products` (one row per RT product, see analysis.flags.derive_qc) brings the
    spike-in batch, haemolysis and pre-analytical rules into the QC."""
    thresholds = thresholds or QcThresholds(cq_cutoff=cq_cutoff, spike_in_target=spike_in_target)
    qc_wells = apply_replicate_qc(wells, cq_cutoff=cq_cutoff, max_distance=max_distance)
    ntc = ntc_contamination(qc_wells)
    replicates = summarise_replicates(qc_wells, ntc=ntc)
    normalised = delta_cq(
        replicates, spike_in_target=spike_in_target, calibrator_sample_id=calibrator_sample_id
    )
    qc = derive_qc(
        qc_wells=qc_wells,
        replicates=replicates,
        ntc=ntc,
        normalised=normalised,
        products=products,
        thresholds=thresholds,
    )
    per_patient = patient_expression(normalised)
    if len(qc.per_patient.columns) > 1:
        per_patient = per_patient.merge(qc.per_patient, on="patient_id", how="left")
    return Normalisation(
        qc_wells=qc_wells,
        replicates=replicates,
        ntc=ntc,
        normalised=normalised,
        qc=qc,
        per_patient=per_patient,
    )
