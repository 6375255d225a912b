"""Efficiency-corrected relative quantities with propagated errors (the qbase model).

Hellemans et al. (2007, Genome Biol 8:R19) generalise Pfaffl's ratio (2001, Nucleic Acids
Res 29:e45) to any number of reference targets and carry the error of every input to the
result. With ``E`` the amplification factor of a target (1 + efficiency; 2 at 100 %):

Relative quantity, per target and sample::

    ΔCq = Cq(calibrator) - Cq(sample)
    RQ  = E^ΔCq

The calibrator is the arithmetic mean Cq of the target over the samples given (qbase's
default: RQs are then centred on the study rather than on one sample) or a named sample.

Its standard error, by first-order (delta-method) propagation of the two independent
inputs, the sample's Cq and the efficiency::

    SE(Cq)     = SD of the replicate Cq / √n
    SE(RQ)/RQ  = √[ (ln E · SE(ΔCq))² + (ΔCq · SE(E) / E)² ]

``SE(ΔCq)`` is ``SE(Cq)`` with the mean calibrator: the mean is one constant shared by
every sample of the target, so it scales all of them alike and adds no uncertainty to a
comparison between samples (qbase leaves it out for the same reason). With a named
calibrator sample its own SE is added in quadrature, ``√(SE(Cq)² + SE(Cq_cal)²)``, except
for the calibrator itself (RQ exactly 1, no error).

Normalisation factor, over the f reference targets of a sample (geometric mean)::

    NF = (Π RQ_ref)^(1/f)
    SE(NF)/NF = √Σ (SE(RQ_ref) / (f · RQ_ref))²

Normalised relative quantity::

    NRQ = RQ / NF
    SE(NRQ)/NRQ = √[ (SE(RQ)/RQ)² + (SE(NF)/NF)² ]

These treat the inputs as independent (the same efficiency enters every sample of a
target, a correlation qbase also ignores) and are first-order: a reader comparing two
NRQs on the log scale should use ``SE(NRQ)/NRQ`` as the SE of ln NRQ.

With one reference and a calibrator sample, NRQ is Pfaffl's ratio (:func:`pfaffl_ratio`);
with E = 2 as well, log2 NRQ is -ΔΔCq, the paper's method (:mod:`analysis.normalise`).

Inter-run calibration (Hellemans 2007, "inter-run calibration"): the same samples (IRCs)
measured on every plate give, per run and target, a calibration factor, the geometric
mean of the IRCs' NRQs in that run; every NRQ of the run is divided by it::

    CF = (Π NRQ_irc)^(1/m)        SE(CF)/CF = √Σ (SE(NRQ_irc) / (m · NRQ_irc))²
    CNRQ = NRQ / CF               SE(CNRQ)/CNRQ = √[(SE(NRQ)/NRQ)² + (SE(CF)/CF)²]

Only IRCs measured in every calibrated run are used (a geometric mean over different
IRCs would not be comparable between runs); a run with no usable IRC gets no factor and
its NRQs no calibrated value, with the reason, never the uncalibrated value.

Frames here are long: one row per ``(sample_id, target)`` (plus ``run_id`` for
calibration), as :func:`analysis.qc.summarise_replicates` gives them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "calibrate_runs",
    "calibration_factors",
    "normalisation_factors",
    "normalised_quantities",
    "pfaffl_ratio",
    "relative_quantities",
]

_LOG2 = math.log(2.0)
_NEEDED = ("sample_id", "target", "mean_cq", "sd_cq", "n_accepted")


def _check(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s): {', '.join(missing)}")


def _amplification(efficiencies, target: str) -> tuple[float, float, str]:
    """(E, SE(E), method) for a target: an EfficiencyChoice-like object (``amplification``,
    ``se``, ``method``), a ``(E, se)`` pair, or 100 % when the target is not given."""
    if efficiencies is None or target not in efficiencies:
        return 2.0, 0.0, "default"
    spec = efficiencies[target]
    if hasattr(spec, "amplification"):
        amp, se, method = float(spec.amplification), float(spec.se), str(spec.method)
    else:
        amp, se = (float(v) for v in spec)
        method = "given"
    if not (math.isfinite(amp) and 1.0 < amp <= 2.5):
        raise ValueError(
            f"target {target}: amplification factor {amp!r} must be in (1, 2.5] "
            "(1 + efficiency; 2 is 100 %)"
        )
    if not (math.isfinite(se) and se >= 0):
        raise ValueError(f"target {target}: efficiency SE {se!r} must be a number ≥ 0")
    return amp, se, method


def relative_quantities(
    summary: pd.DataFrame,
    *,
    efficiencies: Mapping | None = None,
    calibrator="mean",
    within: Sequence[str] = (),
) -> pd.DataFrame:
    """Efficiency-corrected RQ and its SE for every ``(sample_id, target)`` row.

    ``summary`` needs ``sample_id, target, mean_cq, sd_cq, n_accepted`` (other columns are
    kept). ``efficiencies`` maps a target to an
    :class:`analysis.efficiency.EfficiencyChoice` (or an ``(amplification, se)`` pair);
    unlisted targets use 100 %. ``calibrator`` is ``"mean"`` (arithmetic mean Cq of the
    target over the rows given) or a ``sample_id``. ``within`` (e.g. ``("run_id",)``)
    computes the calibrator separately in each run, for a frame holding several runs.

    Adds: ``amplification, amplification_se, efficiency_method, calibrator_cq, cq_se,
    delta_cq`` (calibrator - sample), ``rq, rq_se, log2_rq, rq_reason`` ('' or why RQ is
    NaN; SE alone is NaN when the replicate SD is unknown, i.e. one replicate).
    """
    _check(summary, _NEEDED, "replicate summary")
    frame = summary.copy()
    frame.index = pd.RangeIndex(len(frame))
    within = list(within)
    _check(summary, within, "replicate summary")
    if frame.duplicated([*within, "sample_id", "target"]).any():
        raise ValueError(
            f"more than one row for a ({', '.join([*within, 'sample_id', 'target'])}): "
            "summarise replicates first"
        )
    cq = frame["mean_cq"].astype(float)
    n = frame["n_accepted"].astype(float)
    cq_se = frame["sd_cq"].astype(float) / np.sqrt(n.where(n > 0))
    amp = pd.Series(np.nan, index=frame.index)
    amp_se = pd.Series(np.nan, index=frame.index)
    method = pd.Series("", index=frame.index, dtype=object)
    cal_cq = pd.Series(np.nan, index=frame.index)
    cal_se = pd.Series(0.0, index=frame.index)
    is_cal = pd.Series(False, index=frame.index)
    reason = pd.Series("", index=frame.index, dtype=object)
    for key, rows in frame.groupby([*within, "target"], sort=False).groups.items():
        target = key[-1] if isinstance(key, tuple) else key
        e, e_se, how = _amplification(efficiencies, target)
        amp[rows] = e
        amp_se[rows] = e_se
        method[rows] = how
        if calibrator == "mean":
            value = cq[rows].mean()  # NaN Cq (no accepted replicate) left out
            cal_cq[rows] = value
            if not math.isfinite(value):
                reason[rows] = f"no sample has a Cq for {target}: no calibrator"
        else:
            match = frame.loc[rows, "sample_id"].eq(calibrator)
            if match.sum() != 1 or not math.isfinite(cq[rows][match].iloc[0]):
                reason[rows] = f"calibrator sample {calibrator} has no Cq for {target}"
                continue
            hit = match[match].index[0]
            cal_cq[rows] = cq[hit]
            cal_se[rows] = cq_se[hit]
            is_cal[hit] = True
    delta = cal_cq - cq
    d_se = np.sqrt(cq_se**2 + cal_se**2)
    d_se[is_cal] = 0.0
    rq = np.exp(delta * np.log(amp))
    rel_se = np.sqrt((np.log(amp) * d_se) ** 2 + (delta * amp_se / amp) ** 2)
    no_cq = cq.isna() & reason.eq("")
    reason[no_cq] = "no accepted replicate for " + frame.loc[no_cq, "target"].astype(str)
    frame["amplification"] = amp
    frame["amplification_se"] = amp_se
    frame["efficiency_method"] = method
    frame["calibrator_cq"] = cal_cq
    frame["cq_se"] = cq_se
    frame["delta_cq"] = delta
    frame["rq"] = rq
    frame["rq_se"] = rq * rel_se
    frame["log2_rq"] = delta * np.log(amp) / _LOG2
    frame["rq_reason"] = reason
    return frame


def _geometric(values: pd.DataFrame, ses: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Row-wise geometric mean and its delta-method SE over complete rows."""
    f = values.shape[1]
    gm = np.exp(np.log(values).mean(axis=1))
    rel = np.sqrt(((ses / (f * values)) ** 2).sum(axis=1, min_count=f))
    return gm, gm * rel


def normalisation_factors(
    rq: pd.DataFrame, *, references: Sequence[str], by: Sequence[str] = ("sample_id",)
) -> pd.DataFrame:
    """Per sample, the geometric mean of its reference targets' RQs and its SE.

    ``rq`` is :func:`relative_quantities`' output. Returns ``*by, nf, nf_se,
    n_references, nf_reason``. A sample lacking any reference's RQ has no NF (NaN, with
    the reason): a geometric mean over fewer references would scale it differently from
    the other samples.
    """
    references = list(dict.fromkeys(references))
    if not references:
        raise ValueError("normalisation needs at least one reference target")
    by = list(by)
    _check(rq, [*by, "target", "rq", "rq_se"], "relative quantities")
    absent = [t for t in references if not rq["target"].eq(t).any()]
    if absent:
        raise ValueError(f"reference target(s) not measured: {', '.join(absent)}")
    refs = rq.loc[rq["target"].isin(references)]
    values = refs.pivot_table(
        index=by, columns="target", values="rq", aggfunc="first", dropna=False
    )
    ses = refs.pivot_table(
        index=by, columns="target", values="rq_se", aggfunc="first", dropna=False
    )
    samples = rq[by].drop_duplicates()
    index = pd.MultiIndex.from_frame(samples) if len(by) > 1 else pd.Index(samples[by[0]])
    values = values.reindex(index=index, columns=references)
    ses = ses.reindex(index=index, columns=references)
    nf, nf_se = _geometric(values, ses)
    missing = values.isna()
    reason = [
        "no RQ for reference " + ", ".join(missing.columns[row]) if row.any() else ""
        for row in missing.to_numpy()
    ]
    out = pd.DataFrame(
        {
            "nf": nf.to_numpy(),
            "nf_se": nf_se.to_numpy(),
            "n_references": (~missing).sum(axis=1).to_numpy(),
            "nf_reason": reason,
        },
        index=index,
    ).reset_index()
    incomplete = out["nf_reason"].ne("")
    out.loc[incomplete, ["nf", "nf_se"]] = np.nan
    return out


def normalised_quantities(
    rq: pd.DataFrame, *, references: Sequence[str], by: Sequence[str] = ("sample_id",)
) -> pd.DataFrame:
    """NRQ = RQ / NF with its SE, for every row of ``rq`` (references included, flagged
    ``is_reference``, as qbase shows them: their NRQs are the spread the NF leaves).

    Adds ``nf, nf_se, n_references, nrq, nrq_se, log2_nrq, nrq_reason`` to ``rq``.
    ``by`` is ``("sample_id",)`` or ``("run_id", "sample_id")`` when one frame holds
    several runs (an RT product measured on two plates has one NF per plate).
    """
    factors = normalisation_factors(rq, references=references, by=by)
    out = rq.merge(factors, on=list(by), how="left")
    out["is_reference"] = out["target"].isin(list(references))
    out["nrq"] = out["rq"] / out["nf"]
    rel = np.sqrt((out["rq_se"] / out["rq"]) ** 2 + (out["nf_se"] / out["nf"]) ** 2)
    out["nrq_se"] = out["nrq"] * rel
    out["log2_nrq"] = np.log2(out["nrq"])
    reason = out["rq_reason"].fillna("").astype(str)
    nf_reason = out["nf_reason"].fillna("").astype(str)
    out["nrq_reason"] = np.where(
        reason.ne(""),
        reason,
        np.where(nf_reason.ne(""), nf_reason, ""),
    )
    return out


def pfaffl_ratio(
    *,
    target_cq_control: float,
    target_cq_sample: float,
    reference_cq_control: float,
    reference_cq_sample: float,
    target_amplification: float = 2.0,
    reference_amplification: float = 2.0,
) -> float:
    """Pfaffl (2001) ratio: ``E_t^ΔCq_t(control - sample) / E_r^ΔCq_r(control - sample)``.

    The single-reference special case of the NRQ with the control as calibrator sample.
    """
    return target_amplification ** (target_cq_control - target_cq_sample) / (
        reference_amplification ** (reference_cq_control - reference_cq_sample)
    )


def calibration_factors(
    nrq: pd.DataFrame, *, irc_samples: Sequence, run_column: str = "run_id"
) -> pd.DataFrame:
    """Per run and target, the geometric mean of the IRCs' NRQs and its SE.

    ``nrq`` is :func:`normalised_quantities`' output with a ``run_column``. For each
    target, the IRCs used are those with an NRQ in every run that has any IRC NRQ for it.
    Returns ``run_column, target, cf, cf_se, n_irc, ircs`` ('; '-joined) and
    ``cf_reason`` ('' or why the run has no factor for the target).
    """
    _check(nrq, [run_column, "sample_id", "target", "nrq", "nrq_se"], "normalised quantities")
    irc_samples = list(dict.fromkeys(irc_samples))
    if not irc_samples:
        raise ValueError("inter-run calibration needs at least one inter-run calibrator sample")
    runs = list(dict.fromkeys(nrq[run_column]))
    rows = []
    irc = nrq.loc[nrq["sample_id"].isin(irc_samples) & nrq["nrq"].notna() & (nrq["nrq"] > 0)]
    for target in dict.fromkeys(nrq["target"]):
        have = irc.loc[irc["target"].eq(target)]
        per_run = {run: set(have.loc[have[run_column].eq(run), "sample_id"]) for run in runs}
        with_any = [run for run in runs if per_run[run]]
        common = set.intersection(*(per_run[r] for r in with_any)) if with_any else set()
        used = [s for s in irc_samples if s in common]
        for run in runs:
            record = {run_column: run, "target": target, "ircs": "; ".join(map(str, used))}
            if not per_run[run]:
                reason = f"run {run} has no inter-run calibrator with an NRQ for {target}"
            elif not used:
                reason = f"no inter-run calibrator of {target} is measured in every run"
            else:
                reason = ""
            if reason:
                rows.append(
                    {**record, "cf": np.nan, "cf_se": np.nan, "n_irc": 0, "cf_reason": reason}
                )
                continue
            sel = (
                have.loc[have[run_column].eq(run)]
                .drop_duplicates("sample_id")
                .set_index("sample_id")
                .loc[used]
            )
            values = sel["nrq"].to_numpy(float)
            ses = sel["nrq_se"].to_numpy(float)
            m = len(values)
            cf = float(np.exp(np.log(values).mean()))
            cf_se = cf * math.sqrt(float(((ses / (m * values)) ** 2).sum()))
            rows.append({**record, "cf": cf, "cf_se": cf_se, "n_irc": m, "cf_reason": ""})
    return pd.DataFrame(
        rows, columns=[run_column, "target", "cf", "cf_se", "n_irc", "ircs", "cf_reason"]
    )


def calibrate_runs(
    nrq: pd.DataFrame, *, irc_samples: Sequence, run_column: str = "run_id"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibrated NRQs across runs, and the factors per run (to report per plate).

    Returns ``(calibrated, factors)``: ``calibrated`` is ``nrq`` with ``cf, cf_se,
    cnrq, cnrq_se, log2_cnrq, cnrq_reason``; a row of a run without a factor for its target
    has NaN ``cnrq`` and the run's reason.
    """
    factors = calibration_factors(nrq, irc_samples=irc_samples, run_column=run_column)
    out = nrq.merge(
        factors[[run_column, "target", "cf", "cf_se", "cf_reason"]],
        on=[run_column, "target"],
        how="left",
    )
    out["cnrq"] = out["nrq"] / out["cf"]
    rel = np.sqrt((out["nrq_se"] / out["nrq"]) ** 2 + (out["cf_se"] / out["cf"]) ** 2)
    out["cnrq_se"] = out["cnrq"] * rel
    out["log2_cnrq"] = np.log2(out["cnrq"])
    nrq_reason = out["nrq_reason"].fillna("").astype(str) if "nrq_reason" in out else ""
    cf_reason = out["cf_reason"].fillna("").astype(str)
    out["cnrq_reason"] = np.where(cf_reason.ne(""), cf_reason, nrq_reason)
    return out.drop(columns=["cf_reason"]), factors
