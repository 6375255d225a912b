"""The QC gate between the cohort table and the statistics (pure).

A plan chooses:

- ``qc_policy``: which measurements reach the statistics.
  ``exclude_fail`` (the default) leaves out measurements whose QC failed;
  ``exclude_fail_warn`` also those with a warning; ``include_all`` uses everything
  (as the paper did).
- ``inclusion``: which patients are analysed at all (``baseline_present``,
  ``pre_drawn``, ``post_drawn``). Patients who withdrew consent never reach the
  cohort table (biobank.selectors.cohort); the flow diagram still counts them.
- ``sensitivity``: other gates (another policy, or rules such as ``haemolysis`` or
  ``freeze_thaw`` whose findings leave a measurement out whatever its status), under
  which the chosen analyses are run again and shown beside the primary result.

A left-out measurement becomes a missing value (its ΔCq, 2^-ΔCq and log10, and the
ratio and fold change that need it), so every analysis drops it exactly as it drops
any missing value, and states its n. Nothing is dropped silently: every left-out
patient and measurement is listed with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

POLICIES = {
    "exclude_fail": ("fail",),
    "exclude_fail_warn": ("fail", "warn"),
    "include_all": (),
}
POLICY_LABELS = {
    "exclude_fail": "measurements that failed QC are left out",
    "exclude_fail_warn": "measurements that failed QC or carry a QC warning are left out",
    "include_all": "every measurement is used, whatever its QC (as the paper did)",
}
DEFAULT_POLICY = "exclude_fail"
INCLUSION = {
    "baseline_present": ("Baseline recorded", "no baseline assessment"),
    "pre_drawn": ("PRE drawn", "no PRE draw"),
    "post_drawn": ("POST drawn", "no POST draw"),
}
# Columns a measurement's value lives in, and those derived from both timepoints.
VALUE_SUFFIXES = ("dcq", "rel", "log10")
CHANGE_SUFFIXES = ("ratio", "fold_change")
QC_SUFFIX = "_qc"


class GateError(ValueError):
    pass


@dataclass
class Gated:
    table: pd.DataFrame  # the patients analysed, with left-out values set missing
    excluded_patients: list[dict] = field(default_factory=list)  # study_id, reason
    excluded_measurements: list[dict] = field(default_factory=list)  # study_id, tp, mir, ...
    available: bool = True  # the table carries QC columns


def measurements_in(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(prefix, timepoint) pairs the table carries a QC status for."""
    found = []
    for column in table.columns:
        for tp in ("pre", "post"):
            suffix = f"_{tp}{QC_SUFFIX}"
            if column.endswith(suffix):
                found.append((column[: -len(suffix)], tp))
    return sorted(found)


def qc_columns_for(column: str, table_columns: Sequence[str]) -> list[str]:
    """The QC columns that decide whether `column`'s value is used (for the
    fingerprint: a value that passes and one that is left out are different inputs)."""
    out = []
    for suffix in (*VALUE_SUFFIXES, *CHANGE_SUFFIXES):
        for tp in ("pre", "post"):
            if column.endswith(f"_{tp}_{suffix}"):
                prefix = column[: -len(f"_{tp}_{suffix}")]
                out += [f"{prefix}_{tp}_qc", f"{prefix}_{tp}_qc_rules"]
        if suffix in CHANGE_SUFFIXES and column.endswith(f"_{suffix}"):
            prefix = column[: -len(f"_{suffix}")]
            for tp in ("pre", "post"):
                out += [f"{prefix}_{tp}_qc", f"{prefix}_{tp}_qc_rules"]
    return [c for c in dict.fromkeys(out) if c in table_columns]


def validate_gate(plan: Mapping, table: pd.DataFrame) -> list[str]:
    problems = []
    policy = plan.get("qc_policy", DEFAULT_POLICY)
    if policy not in POLICIES:
        problems.append(f"qc_policy {policy!r} is not one of {', '.join(POLICIES)}")
    for criterion in plan.get("inclusion") or []:
        if criterion not in INCLUSION:
            problems.append(f"inclusion {criterion!r} is not one of {', '.join(INCLUSION)}")
        elif criterion not in table.columns:
            problems.append(f"inclusion {criterion!r} needs the column {criterion!r}")
    names = {a.get("name") for a in plan.get("analyses") or []}
    for index, other in enumerate(plan.get("sensitivity") or [], start=1):
        where = f"sensitivity {index} ({other.get('name') or 'unnamed'})"
        if not other.get("name"):
            problems.append(f"{where}: give it a name")
        if other.get("qc_policy", policy) not in POLICIES:
            problems.append(f"{where}: qc_policy {other.get('qc_policy')!r} is unknown")
        for name in other.get("analyses") or []:
            if name not in names:
                problems.append(f"{where}: analysis {name!r} is not in the plan")
        rules = other.get("exclude_rules") or []
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            problems.append(f"{where}: exclude_rules is a list of rule names")
    return problems


def _rule_hit(rules: pd.Series, wanted: Sequence[str]) -> np.ndarray:
    """Rows whose rule list names one of `wanted` (a family: 'haemolysis' matches
    'haemolysis_index', 'haemolysis_a414' and 'haemolysis_grade')."""
    names = "|".join(re.escape(rule) for rule in wanted)
    pattern = rf"(?:^|,)(?:{names})(?:_[a-z0-9_]+)?(?:,|$)"
    return rules.fillna("").astype(str).str.contains(pattern, regex=True).to_numpy(dtype=bool)


def apply_gate(
    table: pd.DataFrame,
    *,
    policy: str = DEFAULT_POLICY,
    inclusion: Sequence[str] = (),
    exclude_rules: Sequence[str] = (),
) -> Gated:
    """The patients and values a plan analyses, and everything it left out, with why."""
    if policy not in POLICIES:
        raise GateError(f"qc_policy {policy!r} is not one of {', '.join(POLICIES)}")
    keep = pd.Series(True, index=table.index)
    excluded_patients = []
    for criterion in inclusion:
        if criterion not in INCLUSION:
            raise GateError(f"inclusion {criterion!r} is not one of {', '.join(INCLUSION)}")
        met = table[criterion].astype("boolean").fillna(False).astype(bool)
        newly = keep & ~met
        excluded_patients += [
            {"study_id": sid, "reason": INCLUSION[criterion][1], "criterion": criterion}
            for sid in table.loc[newly, "study_id"]
        ]
        keep &= met
    out = table.loc[keep].copy()

    measured = measurements_in(out)
    excluded_measurements = []
    statuses = POLICIES[policy]
    dropped: dict[str, np.ndarray] = {}
    for prefix, tp in measured:
        status = out[f"{prefix}_{tp}_qc"].astype("string")
        drop = status.isin(statuses).fillna(False).to_numpy(dtype=bool)
        rules_column = f"{prefix}_{tp}_qc_rules"
        if exclude_rules and rules_column in out.columns:
            drop |= _rule_hit(out[rules_column], exclude_rules)
        dropped[f"{prefix}_{tp}"] = drop
        if drop.any():
            for suffix in VALUE_SUFFIXES:
                column = f"{prefix}_{tp}_{suffix}"
                if column in out.columns:
                    out.loc[drop, column] = np.nan
            reasons_column = f"{prefix}_{tp}_qc_reasons"
            missing = pd.Series(pd.NA, index=out.index)
            reasons = out.get(reasons_column, missing)
            rules = out.get(rules_column, missing)
            for sid, stat, reason, rule in zip(
                out.loc[drop, "study_id"], status[drop], reasons[drop], rules[drop], strict=True
            ):
                excluded_measurements.append(
                    {"study_id": sid, "timepoint": tp.upper(), "mir": prefix,
                     "status": None if pd.isna(stat) else str(stat),
                     "reasons": "" if pd.isna(reason) else str(reason),
                     "rules": "" if pd.isna(rule) else str(rule)}
                )  # fmt: skip
    for prefix in sorted({p for p, _ in measured}):
        either = np.zeros(len(out), dtype=bool)
        for tp in ("pre", "post"):
            either |= dropped.get(f"{prefix}_{tp}", np.zeros(len(out), dtype=bool))
        if either.any():
            for suffix in CHANGE_SUFFIXES:
                column = f"{prefix}_{suffix}"
                if column in out.columns:
                    out.loc[either, column] = np.nan
    return Gated(
        table=out,
        excluded_patients=excluded_patients,
        excluded_measurements=excluded_measurements,
        available=bool(measured),
    )


def patient_flow(
    table: pd.DataFrame, gated: Gated, *, inclusion: Sequence[str], withdrawn: int | None
) -> list[dict]:
    """REMARK-style flow: enrolled -> consented -> each inclusion criterion -> QC ->
    analysed, with n at each step and who was left out there, and why."""
    steps = []
    consented = len(table)
    if withdrawn is not None:
        steps.append(
            {
                "step": "Enrolled",
                "n": consented + withdrawn,
                "left_out": [{"study_id": None, "reason": "consent withdrawn"}] * withdrawn,
            }
        )
    steps.append({"step": "Consent held", "n": consented, "left_out": []})
    remaining = consented
    for criterion in inclusion:
        out = [p for p in gated.excluded_patients if p["criterion"] == criterion]
        steps[-1]["left_out"] = [{"study_id": p["study_id"], "reason": p["reason"]} for p in out]
        remaining -= len(out)
        steps.append({"step": INCLUSION[criterion][0], "n": remaining, "left_out": []})
    by_patient: dict[str, set[str]] = {}
    for m in gated.excluded_measurements:
        causes = {rule_label(r) for r in (m.get("rules") or "").split(",") if r}
        by_patient.setdefault(m["study_id"], set()).update(causes or {"QC status"})
    steps[-1]["left_out"] = [
        {"study_id": sid, "reason": "QC: " + " + ".join(sorted(causes))}
        for sid, causes in by_patient.items()
    ]
    steps.append(
        {"step": "All measurements passed QC", "n": remaining - len(by_patient), "left_out": []}
    )
    steps.append(
        {
            "step": "Analysed",
            "n": remaining,
            "left_out": [],
            "note": (f"{len(by_patient)} with measurements left out by QC" if by_patient else ""),
        }
    )
    return steps


RULE_LABELS = {
    "value": "no value",
    "replicates": "replicates",
    "ntc": "NTC amplified",
    "spike_in": "spike-in outlier",
    "haemolysis": "haemolysis",
    "freeze_thaw": "freeze-thaw",
    "centrifugation_delay": "processing delay",
    "freezing_delay": "processing delay",
    "excursion": "freezer excursion",
}


def rule_label(rule: str) -> str:
    """A rule's cause in a few words, for the flow diagram's counts ('haemolysis_a414'
    counts as haemolysis)."""
    family = "haemolysis" if rule.startswith("haemolysis") else rule
    return RULE_LABELS.get(family, rule)
