"""Small builders for wells frames, so each test states only the Cq values it is about."""

from __future__ import annotations

import numpy as np
import pandas as pd

MIR122 = "hsa-miR-122-5p"
MIR21 = "hsa-miR-21-5p"
SPIKE = "cel-miR-39-3p"

COLUMNS = [
    "well_id", "plate_id", "position", "kind", "sample_id", "patient_id", "timepoint",
    "target", "role", "replicate", "cq", "manual_excluded", "manual_reason",
]


class WellsBuilder:
    """Accumulate replicate groups, then ``frame()`` gives a wells DataFrame."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def group(
        self,
        sample_id,
        target,
        cqs,
        *,
        patient_id="P01",
        timepoint="PRE",
        kind="sample",
        plate_id=1,
        manual=None,
        reasons=None,
    ) -> WellsBuilder:
        role = "spike_in" if target == SPIKE else "target"
        for i, cq in enumerate(cqs):
            self.rows.append(
                {
                    "well_id": len(self.rows) + 1,
                    "plate_id": plate_id,
                    "position": f"{'ABCDEFGH'[len(self.rows) // 12 % 8]}{len(self.rows) % 12 + 1}",
                    "kind": kind,
                    "sample_id": sample_id,
                    "patient_id": patient_id if kind == "sample" else pd.NA,
                    "timepoint": timepoint if kind == "sample" else pd.NA,
                    "target": target,
                    "role": role,
                    "replicate": i + 1,
                    "cq": np.nan if cq is None else cq,
                    "manual_excluded": pd.NA if manual is None else manual[i],
                    "manual_reason": pd.NA if reasons is None else reasons[i],
                }
            )
        return self

    def sample(self, sample_id, *, mir=None, spike=None, target=MIR122, **kw) -> WellsBuilder:
        """A miRNA triplicate and its spike-in triplicate on one RT product."""
        if mir is not None:
            self.group(sample_id, target, mir, **kw)
        if spike is not None:
            self.group(sample_id, SPIKE, spike, **kw)
        return self

    def ntc(self, target, cqs, *, plate_id=1, manual=None) -> WellsBuilder:
        return self.group(pd.NA, target, cqs, kind="ntc", plate_id=plate_id, manual=manual)

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=COLUMNS)
        frame["sample_id"] = frame["sample_id"].astype("Int64")
        frame["manual_excluded"] = frame["manual_excluded"].astype("boolean")
        frame["manual_reason"] = frame["manual_reason"].astype("string")
        frame["cq"] = frame["cq"].astype(float)
        return frame


def synthetic_run(n_patients: int, *, seed: int = 0, reps: int = 3) -> pd.DataFrame:
    """A large realistic wells frame, built without Python loops over wells.

    Each patient gives a PRE and a POST RT product, each measured for miR-122, miR-21 and the
    spike-in in ``reps`` replicates; one NTC per plate and target. About 1 % of wells are
    outliers and 1 % undetermined; 96-well plates.
    """
    rng = np.random.default_rng(seed)
    targets = np.array([MIR122, MIR21, SPIKE])
    n_samples = n_patients * 2
    sample_id = np.repeat(np.arange(1, n_samples + 1), len(targets) * reps)
    target = np.tile(np.repeat(targets, reps), n_samples)
    replicate = np.tile(np.arange(1, reps + 1), n_samples * len(targets))
    patient = (sample_id - 1) // 2
    timepoint = np.where((sample_id - 1) % 2 == 0, "PRE", "POST")
    level = np.select([target == MIR122, target == MIR21], [30.0, 28.0], 20.0)
    sample_shift = rng.normal(0, 1.0, n_samples)[sample_id - 1]
    cq = level + sample_shift + rng.normal(0, 0.15, len(sample_id))
    outlier = rng.random(len(cq)) < 0.01
    cq[outlier] += rng.choice([-1.5, 1.5], outlier.sum())
    cq[rng.random(len(cq)) < 0.01] = np.nan
    n = len(cq)
    well_index = np.arange(n)
    plate_id = well_index // 90 + 1
    wells = pd.DataFrame(
        {
            "well_id": well_index + 1,
            "plate_id": plate_id,
            "position": "A1",
            "kind": "sample",
            "sample_id": pd.array(sample_id, dtype="Int64"),
            "patient_id": np.char.add("P", patient.astype(str)),
            "timepoint": timepoint,
            "target": target,
            "role": np.where(target == SPIKE, "spike_in", "target"),
            "replicate": replicate,
            "cq": cq,
            "manual_excluded": pd.array([pd.NA] * n, dtype="boolean"),
            "manual_reason": pd.array([pd.NA] * n, dtype="string"),
        }
    )
    plates = np.unique(plate_id)
    ntc_plate = np.repeat(plates, len(targets))
    ntc_target = np.tile(targets, len(plates))
    ntc_cq = np.where(rng.random(len(ntc_plate)) < 0.02, 34.0, np.nan)
    ntc = pd.DataFrame(
        {
            "well_id": np.arange(n + 1, n + len(ntc_plate) + 1),
            "plate_id": ntc_plate,
            "position": "H12",
            "kind": "ntc",
            "sample_id": pd.array([pd.NA] * len(ntc_plate), dtype="Int64"),
            "patient_id": pd.NA,
            "timepoint": pd.NA,
            "target": ntc_target,
            "role": np.where(ntc_target == SPIKE, "spike_in", "target"),
            "replicate": 1,
            "cq": ntc_cq,
            "manual_excluded": pd.array([pd.NA] * len(ntc_plate), dtype="boolean"),
            "manual_reason": pd.array([pd.NA] * len(ntc_plate), dtype="string"),
        }
    )
    return pd.concat([wells, ntc], ignore_index=True)


def cohort_frame(n: int = 40, *, seed: int = 0, **columns) -> pd.DataFrame:
    """A small analysis-ready cohort table (one row a patient) for engine tests.

    miR-122 before and after TACE (log10, falling after), three clinical variables that
    correlate with it to different degrees, sex and Child-Pugh grade as text, and
    disease-specific survival (months, boolean event). ``columns`` replaces or adds
    columns by name (a scalar or ``n`` values), so a test states only what it is about.
    """
    rng = np.random.default_rng(seed)
    pre = rng.normal(-3.5, 0.5, n)
    frame = pd.DataFrame(
        {
            "study_id": pd.array([f"P{i:03d}" for i in range(n)], dtype="string"),
            "mir122_pre_log10": pre,
            "mir122_post_log10": pre - 0.3 + rng.normal(0, 0.3, n),
            "ast_iu_l": 60 - 8 * pre + rng.normal(0, 5, n),
            "albumin_g_dl": 3.8 + 0.2 * pre + rng.normal(0, 0.4, n),
            "age_years": rng.normal(68, 8, n).round(),
            "sex": np.where(rng.random(n) < 0.7, "male", "female"),
            "child_pugh_grade": np.where(rng.random(n) < 0.6, "A", "B"),
            "dss_months": rng.exponential(30, n).round(2) + 0.5,
            "dss_event": pd.array(rng.random(n) < 0.6, dtype="boolean"),
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


# Analyses of a plan over cohort_frame(), shared by the engine tests.
PAIRED = {
    "kind": "paired_t_test",
    "name": "Fig. 1",
    "before": "mir122_pre_log10",
    "after": "mir122_post_log10",
}
CORRELATIONS = {
    "kind": "correlations",
    "name": "Table II",
    "expression": "mir122_pre_log10",
    "variables": ["ast_iu_l", "albumin_g_dl", "age_years"],
}
ANOVA = {"kind": "anova", "name": "Fig. 2", "value": "mir122_pre_log10", "group": "sex"}
