"""Normalisation of replicate means to relative miRNA expression (the 2^-ΔΔCq method).

Livak & Schmittgen (2001, Methods 25:402-408) define, for a target and a reference measured
on the same cDNA::

    ΔCq  = Cq(target) - Cq(reference)
    ΔΔCq = ΔCq(sample) - ΔCq(calibrator)
    relative quantity = 2^-ΔΔCq            (2^-ΔCq when no calibrator is used)

Here the reference is the exogenous *C. elegans* miR-39 spike-in added before RNA isolation
(the paper's ΔCq = Cq miR - Cq cel-miR-39), paired on the same RT product (``sample_id``).
Statistics use log10 of the relative expression because it is far from normal on the linear
scale; log10(2^-ΔCq) = -ΔCq·log10(2) is computed directly so tiny values never underflow.

A value that cannot be computed (no spike-in, undetermined miRNA, no accepted replicate) is
NaN with a ``reason``; it is never replaced by 0, which would read as "measured, not
expressed".

Per patient, the paper's *miR ratio* is ΔCq(POST) / ΔCq(PRE). Note that it is a ratio of
ΔCq values, not a fold change: it is only interpretable while both ΔCq have the same sign,
and a value below 1 means the POST ΔCq is smaller, i.e. *higher* relative expression after
TACE when ΔCq > 0. The fold change 2^-(ΔCq POST - ΔCq PRE) is reported beside it.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from .thresholds import DEFAULT_SPIKE_IN

__all__ = [
    "DEFAULT_SPIKE_IN",
    "TIMEPOINTS",
    "delta_cq",
    "patient_expression",
    "target_prefix",
]

TIMEPOINTS = ("PRE", "POST")
_LOG10_2 = math.log10(2.0)

_SUMMARY_COLUMNS = ("sample_id", "target", "mean_cq", "n_accepted", "n_wells", "n_undetermined")


def target_prefix(target: str, *, keep_arm: bool = False) -> str:
    """Short, column-safe name for a miRNA assay.

    'hsa-miR-122-5p' -> 'mir122', 'hsa-miR-21-5p' -> 'mir21', 'hsa-let-7a-5p' -> 'let7a'.
    The species prefix and the arm (-5p/-3p) are dropped unless ``keep_arm`` (used when two
    arms of one miRNA are measured: 'mir122_5p').
    """
    name = target.strip()
    name = re.sub(r"^[a-z]{3,4}-(?=(mir|let|lin)-?)", "", name, flags=re.IGNORECASE)
    arm = ""
    match = re.search(r"-([35]p)$", name, flags=re.IGNORECASE)
    if match:
        arm = match.group(1).lower()
        name = name[: match.start()]
    short = re.sub(r"[^0-9a-z]+", "", name.lower())
    if keep_arm and arm:
        short = f"{short}_{arm}"
    return short or "target"


def _prefixes(targets) -> dict[str, str]:
    """Prefix per target, qualified with the arm only where two targets would collide."""
    targets = sorted(set(targets))
    short = {t: target_prefix(t) for t in targets}
    counts = pd.Series(list(short.values())).value_counts()
    return {
        t: target_prefix(t, keep_arm=True) if counts[short[t]] > 1 else short[t] for t in targets
    }


def _join(*parts: np.ndarray) -> np.ndarray:
    """Element-wise '; '.join of string arrays, skipping empty strings."""
    out = np.full(len(parts[0]), "", dtype=object)
    for part in parts:
        part = np.asarray(part, dtype=object)
        has = part != ""
        sep = np.where((out != "") & has, "; ", "")
        out = np.where(has, out + sep + part, out)
    return out


def _missing_value_reason(frame: pd.DataFrame, prefix: str, label: pd.Series | str) -> np.ndarray:
    """'X undetermined' when every well was undetermined, else 'no accepted X replicate'."""
    missing = frame[f"{prefix}mean_cq"].isna().to_numpy()
    all_undetermined = (frame[f"{prefix}n_undetermined"] >= frame[f"{prefix}n_wells"]).to_numpy()
    label = pd.Series(label, index=frame.index).astype(str)
    text = np.where(
        all_undetermined,
        (label + " undetermined").to_numpy(dtype=object),
        ("no accepted " + label + " replicate").to_numpy(dtype=object),
    )
    return np.where(missing, text, "")


def delta_cq(
    summary: pd.DataFrame,
    *,
    spike_in_target: str = DEFAULT_SPIKE_IN,
    calibrator_sample_id=None,
) -> pd.DataFrame:
    """ΔCq, 2^-ΔCq and log10 expression for every non-spike-in replicate group.

    ``summary`` is the output of :func:`analysis.qc.summarise_replicates`. Returns one row
    per ``(sample_id, target)`` with columns::

        sample_id, patient_id, timepoint, kind, target,
        mir_cq, mir_n_accepted, spike_in_cq, spike_in_n_accepted,
        delta_cq, delta_cq_sd, relative_expression (2^-ΔCq), log10_expression,
        reason, qc_flag

    ``delta_cq_sd`` = sqrt(SD(miR)² + SD(spike-in)²), Livak & Schmittgen's propagation of the
    replicate SDs (NaN when either group has fewer than two accepted replicates).

    and, when ``calibrator_sample_id`` is given (the RT product of the calibrator sample)::

        calibrator_delta_cq, delta_delta_cq, calibrated_expression (2^-ΔΔCq),
        log10_calibrated_expression, calibration_reason

    ``reason`` says why ``delta_cq`` is NaN ('' when it is not); ``qc_flag`` carries the
    replicate-level flags of both groups (e.g. a ΔCq built on a single accepted replicate).
    """
    missing = [c for c in _SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"replicate summary lacks column(s): {', '.join(missing)}")
    summary = summary.copy()
    for column, default in (("flag", ""), ("patient_id", pd.NA), ("timepoint", pd.NA)):
        if column not in summary.columns:
            summary[column] = default
    if "kind" not in summary.columns:
        summary["kind"] = "sample"

    is_spike = summary["target"].eq(spike_in_target)
    if summary.loc[is_spike, "sample_id"].duplicated().any():
        raise ValueError("more than one spike-in summary row for an RT product")
    if "sd_cq" not in summary.columns:
        summary["sd_cq"] = np.nan
    spike = summary.loc[
        is_spike,
        ["sample_id", "mean_cq", "sd_cq", "n_accepted", "n_wells", "n_undetermined", "flag"],
    ].rename(columns=lambda c: c if c == "sample_id" else f"spike_{c}")
    not_spike = ~is_spike
    if "role" in summary.columns:
        not_spike &= summary["role"].ne("spike_in")
    mirs = summary.loc[not_spike].rename(
        columns={
            "mean_cq": "mir_mean_cq",
            "sd_cq": "mir_sd_cq",
            "n_accepted": "mir_n_accepted",
            "n_wells": "mir_n_wells",
            "n_undetermined": "mir_n_undetermined",
        }
    )
    merged = mirs.merge(spike, on="sample_id", how="left", indicator="_spike_row")
    merged.index = pd.RangeIndex(len(merged))

    no_spike_row = (merged["_spike_row"] == "left_only").to_numpy()
    spike_reason = np.where(
        no_spike_row,
        f"no {spike_in_target} spike-in measured on this RT product",
        _missing_value_reason(merged, "spike_", spike_in_target),
    )
    mir_reason = _missing_value_reason(merged, "mir_", merged["target"])
    dcq = merged["mir_mean_cq"] - merged["spike_mean_cq"]

    mir_flag = merged["flag"].fillna("").astype(str)
    spike_flag = merged["spike_flag"].fillna("").astype(str)
    qc_flag = _join(
        np.where(mir_flag != "", (merged["target"] + ": " + mir_flag).to_numpy(object), ""),
        np.where(spike_flag != "", f"{spike_in_target}: " + spike_flag.to_numpy(object), ""),
    )

    out = pd.DataFrame(
        {
            "sample_id": merged["sample_id"],
            "patient_id": merged["patient_id"],
            "timepoint": merged["timepoint"],
            "kind": merged["kind"],
            "target": merged["target"],
            "mir_cq": merged["mir_mean_cq"],
            "mir_n_accepted": merged["mir_n_accepted"],
            "spike_in_cq": merged["spike_mean_cq"],
            "spike_in_n_accepted": merged["spike_n_accepted"].fillna(0).astype(int),
            "delta_cq": dcq,
            "delta_cq_sd": np.sqrt(merged["mir_sd_cq"] ** 2 + merged["spike_sd_cq"] ** 2),
            "relative_expression": np.exp2(-dcq),
            "log10_expression": -dcq * _LOG10_2,
            "reason": _join(mir_reason, spike_reason),
            "qc_flag": qc_flag,
        }
    )

    if calibrator_sample_id is not None:
        is_calibrator = out["sample_id"].eq(calibrator_sample_id).fillna(False)
        calibrator = out.loc[is_calibrator].set_index("target")["delta_cq"]
        cal_dcq = out["target"].map(calibrator)
        ddcq = out["delta_cq"] - cal_dcq
        no_cal = cal_dcq.isna().to_numpy() & out["delta_cq"].notna().to_numpy()
        out["calibrator_delta_cq"] = cal_dcq
        out["delta_delta_cq"] = ddcq
        out["calibrated_expression"] = np.exp2(-ddcq)
        out["log10_calibrated_expression"] = -ddcq * _LOG10_2
        out["calibration_reason"] = np.where(
            no_cal,
            (
                f"calibrator RT product {calibrator_sample_id} has no ΔCq for " + out["target"]
            ).to_numpy(object),
            out["reason"].to_numpy(object),
        )
    return out


def _collapse_repeats(rows: pd.DataFrame) -> pd.DataFrame:
    """One ΔCq per (patient, target, timepoint).

    Repeated RT products of one patient and time point are averaged on the ΔCq (log) scale,
    i.e. the geometric mean of the relative expression, and the fact is noted in the reason.
    """
    keys = ["patient_id", "target", "tp"]
    repeated = rows.duplicated(keys, keep=False)
    single = rows.loc[~repeated, [*keys, "delta_cq", "reason"]]
    if not repeated.any():
        return single
    many = rows.loc[repeated]
    grouped = many.groupby(keys, sort=False)
    collapsed = grouped.agg(delta_cq=("delta_cq", "mean"), n=("delta_cq", "size"))
    collapsed["n_valid"] = grouped["delta_cq"].count()
    collapsed = collapsed.reset_index()
    collapsed["reason"] = (
        "mean ΔCq of "
        + collapsed["n_valid"].astype(str)
        + " of "
        + collapsed["n"].astype(str)
        + " RT products"
    )
    none_valid = collapsed["n_valid"] == 0
    collapsed.loc[none_valid, "reason"] = "no RT product gave a ΔCq"
    return pd.concat([single, collapsed[[*keys, "delta_cq", "reason"]]], ignore_index=True)


def _timepoint_labels(timepoints: pd.Series) -> dict:
    """'pre' / 'post' for each distinct time point that reads PRE or POST in any case
    (text as pandas' string dtype would spell it); a dictionary over the few distinct
    values instead of a string method over every measurement."""
    labels = {}
    for value in timepoints.dropna().unique():
        upper = str(value).upper()
        if upper in TIMEPOINTS:
            labels[value] = upper.lower()
    return labels


def patient_expression(normalised: pd.DataFrame) -> pd.DataFrame:
    """Wide per-patient table of PRE/POST expression, miR ratio and fold change.

    ``normalised`` is the output of :func:`delta_cq`. Only ``kind == 'sample'`` rows with a
    patient and a PRE/POST time point are used. One row per ``patient_id``; for each target
    with prefix ``p`` (see :func:`target_prefix`)::

        p_pre_dcq, p_pre_rel, p_pre_log10, p_pre_reason,
        p_post_dcq, p_post_rel, p_post_log10, p_post_reason,
        p_ratio        = ΔCq(POST) / ΔCq(PRE)       (the paper's "miR ratio")
        p_fold_change  = 2^-(ΔCq(POST) - ΔCq(PRE))  (the 2^-ΔΔCq of POST against PRE)
        p_change_reason  ('' or why ratio / fold change are NaN)
    """
    needed = ("patient_id", "timepoint", "target", "delta_cq", "reason")
    missing = [c for c in needed if c not in normalised.columns]
    if missing:
        raise ValueError(f"normalised frame lacks column(s): {', '.join(missing)}")
    tp = normalised["timepoint"].map(_timepoint_labels(normalised["timepoint"]))
    use = normalised["patient_id"].notna() & tp.notna()
    if "kind" in normalised.columns:
        use &= normalised["kind"].eq("sample")
    rows = normalised.loc[use, ["patient_id", "target", "delta_cq", "reason"]].copy()
    rows["tp"] = tp[use].astype(object)
    rows = _collapse_repeats(rows)

    prefixes = _prefixes(rows["target"].unique())
    rows["prefix"] = rows["target"].map(prefixes)
    patients = pd.Index(sorted(rows["patient_id"].unique()), name="patient_id")
    dcq = rows.pivot(index="patient_id", columns=["prefix", "tp"], values="delta_cq")
    why = rows.pivot(index="patient_id", columns=["prefix", "tp"], values="reason")
    dcq = dcq.reindex(patients)
    why = why.reindex(patients)

    columns: dict[str, pd.Series | np.ndarray] = {}
    for prefix in sorted(set(prefixes.values())):
        values = {}
        for label in ("pre", "post"):
            key = (prefix, label)
            value = dcq[key] if key in dcq.columns else pd.Series(np.nan, index=patients)
            reason = why[key] if key in why.columns else pd.Series(np.nan, index=patients)
            reason = reason.where(reason.notna(), f"no {label.upper()} result").astype(object)
            value = value.astype(float)
            values[label] = value
            columns[f"{prefix}_{label}_dcq"] = value
            columns[f"{prefix}_{label}_rel"] = np.exp2(-value)
            columns[f"{prefix}_{label}_log10"] = -value * _LOG10_2
            columns[f"{prefix}_{label}_reason"] = reason
        pre, post = values["pre"], values["post"]
        incomplete = (pre.isna() | post.isna()).to_numpy()
        zero_pre = (pre == 0).to_numpy()
        ratio = (post / pre.where(~zero_pre)).astype(float)
        columns[f"{prefix}_ratio"] = ratio
        columns[f"{prefix}_fold_change"] = np.exp2(-(post - pre))
        columns[f"{prefix}_change_reason"] = np.where(
            incomplete,
            "needs both a PRE and a POST ΔCq",
            np.where(zero_pre, "ΔCq before TACE is 0: ratio undefined", ""),
        ).astype(object)
    return pd.DataFrame(columns, index=patients).reset_index()
