"""Relative quantities, NF, NRQ and inter-run calibration (analysis/quantities.py).

Expected values: tests/analysis/r/quantification_reference.json, written by
``cd tests/analysis/r && Rscript quantification.R`` (R 4.2.2, base R, Hellemans et al.
2007's formulas written out) on tests/analysis/data/qpcr_relative.csv: three runs, a
target (miR-122), two references (cel-miR-39 with its standard curve's efficiency,
miR-191 with a declared 95 % ± 2 %), IRC1 and IRC2 on R1 and R2, none on R3.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.efficiency import declared_efficiency, run_efficiency, standard_curve
from analysis.normalise import delta_cq
from analysis.quantities import (
    calibrate_runs,
    calibration_factors,
    normalisation_factors,
    normalised_quantities,
    pfaffl_ratio,
    relative_quantities,
)

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "r" / "quantification_reference.json").read_text())
WELLS = pd.read_csv(HERE / "data" / "qpcr_relative.csv")
CURVES = pd.read_csv(HERE / "data" / "qpcr_standard_curves.csv")
TARGET, SPIKE, MIR191 = "hsa-miR-122-5p", "cel-miR-39-3p", "hsa-miR-191-5p"
REFERENCES = [SPIKE, MIR191]
TOL = 1e-9


def _summary(wells: pd.DataFrame) -> pd.DataFrame:
    """Replicate summary in the shape of analysis.qc.summarise_replicates."""
    grouped = wells.groupby(["run_id", "sample_id", "target"], sort=True)["cq"]
    return grouped.agg(mean_cq="mean", sd_cq="std", n_accepted="count").reset_index()


def _efficiencies():
    out = {}
    for target in (TARGET, SPIKE):
        rows = CURVES.loc[CURVES["target"].eq(target)]
        out[target] = run_efficiency(standard_curve(rows["quantity"], rows["cq"]))
    out[MIR191] = declared_efficiency(0.95, se=0.02, source="test: declared")
    return out


def _expected() -> pd.DataFrame:
    frame = pd.DataFrame(REFERENCE["relative"])
    return frame.astype(
        {c: float for c in frame.columns if c not in ("run_id", "sample_id", "target")}
    )


def _computed():
    rq = relative_quantities(_summary(WELLS), efficiencies=_efficiencies(), within=("run_id",))
    nrq = normalised_quantities(rq, references=REFERENCES, by=("run_id", "sample_id"))
    calibrated, factors = calibrate_runs(nrq, irc_samples=["IRC1", "IRC2"])
    return calibrated, factors


def _close(actual: pd.Series, expected: pd.Series, name: str):
    a = actual.to_numpy(float)
    e = expected.to_numpy(float)
    assert np.array_equal(np.isnan(a), np.isnan(e)), name
    ok = ~np.isnan(e)
    np.testing.assert_allclose(a[ok], e[ok], rtol=TOL, atol=0, err_msg=name)


def test_rq_nf_nrq_and_calibration_equal_r():
    calibrated, _ = _computed()
    expected = _expected()
    keys = ["run_id", "sample_id", "target"]
    merged = expected.merge(calibrated, on=keys, suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(expected) == len(calibrated)
    for column in ("mean_cq", "sd_cq", "rq", "rq_se", "nf", "nf_se", "nrq", "nrq_se"):
        _close(merged[column], merged[f"{column}_r"], column)
    for column in ("cf", "cf_se", "cnrq", "cnrq_se"):
        _close(merged[column], merged[f"{column}_r"], column)
    # The sample with one miR-122 replicate has an RQ but no SE (no replicate SD).
    single = merged.loc[merged["sample_id"].eq("S5") & merged["target"].eq(TARGET)].iloc[0]
    assert math.isfinite(single["rq"]) and math.isnan(single["rq_se"])


def test_a_run_without_calibrators_is_reported_not_passed():
    calibrated, factors = _computed()
    r3 = factors.loc[factors["run_id"].eq("R3")]
    assert len(r3) == 3 and r3["cf"].isna().all()
    assert set(r3["cf_reason"]) == {
        f"run R3 has no inter-run calibrator with an NRQ for {t}" for t in (TARGET, SPIKE, MIR191)
    }
    rows = calibrated.loc[calibrated["run_id"].eq("R3")]
    assert rows["cnrq"].isna().all() and rows["nrq"].notna().all()
    assert rows["cnrq_reason"].str.startswith("run R3 has no inter-run calibrator").all()
    ok = factors.loc[factors["run_id"].isin(["R1", "R2"])]
    assert (ok["n_irc"] == 2).all() and ok["ircs"].eq("IRC1; IRC2").all()


def test_calibrators_are_equal_across_runs_after_calibration():
    calibrated, _ = _computed()
    irc = calibrated.loc[
        calibrated["sample_id"].str.startswith("IRC") & calibrated["run_id"].ne("R3")
    ]
    for target, rows in irc.groupby("target"):
        per_run = rows.groupby("run_id")["cnrq"].apply(lambda v: np.exp(np.log(v).mean()))
        assert per_run.to_numpy() == pytest.approx([1.0, 1.0], rel=1e-12), target


def test_only_calibrators_measured_in_every_run_are_used():
    _, _ = _computed()
    rq = relative_quantities(_summary(WELLS), within=("run_id",))
    nrq = normalised_quantities(rq, references=REFERENCES, by=("run_id", "sample_id"))
    dropped = nrq.loc[~(nrq["run_id"].eq("R2") & nrq["sample_id"].eq("IRC2"))]
    factors = calibration_factors(dropped, irc_samples=["IRC1", "IRC2"])
    used = factors.loc[factors["run_id"].isin(["R1", "R2"])]
    assert used["ircs"].eq("IRC1").all() and (used["n_irc"] == 1).all()
    irc1 = dropped.loc[dropped["sample_id"].eq("IRC1")].set_index(["run_id", "target"])["nrq"]
    for _, row in used.iterrows():
        assert row["cf"] == pytest.approx(irc1[(row["run_id"], row["target"])], rel=1e-12)


def test_nf_needs_every_reference():
    summary = _summary(WELLS.loc[~(WELLS["sample_id"].eq("S1") & WELLS["target"].eq(MIR191))])
    rq = relative_quantities(summary, within=("run_id",))
    factors = normalisation_factors(rq, references=REFERENCES, by=("run_id", "sample_id"))
    s1 = factors.loc[factors["sample_id"].eq("S1")].iloc[0]
    assert math.isnan(s1["nf"]) and s1["nf_reason"] == f"no RQ for reference {MIR191}"
    nrq = normalised_quantities(rq, references=REFERENCES, by=("run_id", "sample_id"))
    row = nrq.loc[nrq["sample_id"].eq("S1") & nrq["target"].eq(TARGET)].iloc[0]
    assert math.isnan(row["nrq"]) and row["nrq_reason"] == f"no RQ for reference {MIR191}"


def test_one_reference_and_a_calibrator_sample_is_pfaffl():
    summary = _summary(WELLS.loc[WELLS["run_id"].eq("R1")]).drop(columns="run_id")
    effs = _efficiencies()
    rq = relative_quantities(summary, efficiencies=effs, calibrator="S1")
    nrq = normalised_quantities(rq, references=[SPIKE]).set_index(["sample_id", "target"])
    cq = summary.set_index(["sample_id", "target"])["mean_cq"]
    for sample in ("S2", "S3", "IRC1", "IRC2"):
        expected = pfaffl_ratio(
            target_cq_control=cq[("S1", TARGET)],
            target_cq_sample=cq[(sample, TARGET)],
            reference_cq_control=cq[("S1", SPIKE)],
            reference_cq_sample=cq[(sample, SPIKE)],
            target_amplification=effs[TARGET].amplification,
            reference_amplification=effs[SPIKE].amplification,
        )
        assert nrq.loc[(sample, TARGET), "nrq"] == pytest.approx(expected, rel=1e-12)
    calibrator = nrq.loc[("S1", TARGET)]
    assert calibrator["rq"] == 1.0 and calibrator["rq_se"] == 0.0


def _delta_frame():
    summary = _summary(WELLS.loc[WELLS["run_id"].eq("R1")]).drop(columns="run_id")
    summary = summary.loc[summary["target"].isin([TARGET, SPIKE])].copy()
    summary["n_wells"] = summary["n_accepted"]
    summary["n_undetermined"] = 0
    return summary


def test_paper_method_is_the_special_case_mean_calibrator():
    """E = 100 %, one reference: log2 NRQ = -ΔCq + (mean Cq target - mean Cq spike-in)."""
    summary = _delta_frame()
    paper = delta_cq(summary, spike_in_target=SPIKE).set_index("sample_id")["delta_cq"]
    nrq = normalised_quantities(relative_quantities(summary), references=[SPIKE])
    ours = nrq.loc[nrq["target"].eq(TARGET)].set_index("sample_id")["log2_nrq"]
    means = summary.groupby("target")["mean_cq"].mean()
    shift = means[TARGET] - means[SPIKE]
    np.testing.assert_allclose(ours.loc[paper.index], -paper + shift, rtol=0, atol=1e-12)


def test_paper_method_with_a_calibrator_sample_is_minus_delta_delta_cq():
    summary = _delta_frame()
    paper = delta_cq(summary, spike_in_target=SPIKE, calibrator_sample_id="S1")
    paper = paper.set_index("sample_id")["delta_delta_cq"]
    nrq = normalised_quantities(relative_quantities(summary, calibrator="S1"), references=[SPIKE])
    ours = nrq.loc[nrq["target"].eq(TARGET)].set_index("sample_id")["log2_nrq"]
    np.testing.assert_allclose(ours.loc[paper.index], -paper, rtol=0, atol=1e-12)


def test_error_terms_add_in_quadrature():
    """Replicate error alone with E exact; the efficiency term grows with |ΔCq|."""
    summary = pd.DataFrame(
        {
            "sample_id": ["a", "b"],
            "target": ["t", "t"],
            "mean_cq": [20.0, 24.0],
            "sd_cq": [0.3, 0.3],
            "n_accepted": [3, 3],
        }
    )
    exact = relative_quantities(summary).set_index("sample_id")
    se_cq = 0.3 / math.sqrt(3)
    assert exact.loc["a", "rq"] == pytest.approx(4.0)
    assert exact.loc["a", "rq_se"] == pytest.approx(4.0 * math.log(2) * se_cq)
    noisy = relative_quantities(summary, efficiencies={"t": (1.9, 0.05)}).set_index("sample_id")
    rq = 1.9**2
    assert noisy.loc["a", "rq_se"] == pytest.approx(
        rq * math.sqrt((math.log(1.9) * se_cq) ** 2 + (2 * 0.05 / 1.9) ** 2)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"efficiencies": {"t": (95, 0.0)}}, "amplification factor 95.0"),
        ({"efficiencies": {"t": (1.9, -1)}}, "efficiency SE"),
    ],
)
def test_bad_efficiencies_are_refused(kwargs, message):
    summary = pd.DataFrame(
        {"sample_id": ["a"], "target": ["t"], "mean_cq": [20.0], "sd_cq": [0.1], "n_accepted": [2]}
    )
    with pytest.raises(ValueError, match=message):
        relative_quantities(summary, **kwargs)


def test_missing_columns_and_duplicates_are_refused():
    with pytest.raises(ValueError, match="lacks column"):
        relative_quantities(pd.DataFrame({"sample_id": [1]}))
    summary = _summary(WELLS).drop(columns="run_id")
    with pytest.raises(ValueError, match="summarise replicates first"):
        relative_quantities(summary)
    with pytest.raises(ValueError, match="reference target\\(s\\) not measured: miR-x"):
        normalisation_factors(relative_quantities(_delta_frame()), references=["miR-x"])
    with pytest.raises(ValueError, match="at least one inter-run calibrator"):
        calibration_factors(
            pd.DataFrame(columns=["run_id", "sample_id", "target", "nrq", "nrq_se"]), irc_samples=[]
        )


def test_calibrator_sample_without_cq_is_a_reason():
    rq = relative_quantities(_delta_frame(), calibrator="nobody")
    assert rq["rq"].isna().all()
    assert rq["rq_reason"].str.startswith("calibrator sample nobody has no Cq").all()
