"""ΔCq / 2^-ΔΔCq normalisation against hand calculations and Livak & Schmittgen (2001)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.normalise import delta_cq, patient_expression, target_prefix
from analysis.qc import apply_replicate_qc, summarise_replicates
from tests.analysis.builders import MIR21, MIR122, SPIKE, WellsBuilder


def normalised(builder, **kw):
    return delta_cq(summarise_replicates(apply_replicate_qc(builder.frame())), **kw)


def summary_rows(rows):
    """A replicate summary written by hand: (sample_id, target, mean, sd, kind)."""
    frame = pd.DataFrame(rows, columns=["sample_id", "target", "mean_cq", "sd_cq", "kind"])
    frame["patient_id"] = pd.NA
    frame["timepoint"] = pd.NA
    frame["role"] = np.where(frame["target"] == "GAPDH", "spike_in", "target")
    frame["n_wells"] = 3
    frame["n_accepted"] = 3
    frame["n_undetermined"] = 0
    frame["flag"] = ""
    return frame


def test_hand_computed_delta_cq():
    # miR-122 mean (30.1 + 30.3 + 30.2) / 3 = 30.2; spike-in (20.0 + 20.2 + 20.1) / 3 = 20.1
    result = normalised(
        WellsBuilder().sample(1, mir=[30.1, 30.3, 30.2], spike=[20.0, 20.2, 20.1])
    )
    row = result.iloc[0]
    assert row["target"] == MIR122
    assert row["mir_cq"] == pytest.approx(30.2)
    assert row["spike_in_cq"] == pytest.approx(20.1)
    assert row["delta_cq"] == pytest.approx(10.1)
    assert row["relative_expression"] == pytest.approx(2 ** -10.1)
    # 2^-10 · 2^-0.1 = 0.0009765625 · 0.9330330 = 0.00091117
    assert row["relative_expression"] == pytest.approx(9.1117e-4, rel=1e-4)
    assert row["log10_expression"] == pytest.approx(math.log10(2 ** -10.1))
    assert row["log10_expression"] == pytest.approx(-3.0404, abs=1e-4)
    assert row["delta_cq_sd"] == pytest.approx(math.sqrt(0.1**2 + 0.1**2))
    assert row["reason"] == ""
    assert len(result) == 1  # the spike-in itself is not normalised


def test_spike_in_is_paired_on_the_same_rt_product():
    result = normalised(
        WellsBuilder()
        .sample(1, mir=[30.0, 30.0], spike=[20.0, 20.0])
        .sample(2, mir=[30.0, 30.0], spike=[22.0, 22.0])
    ).set_index("sample_id")
    assert result.loc[1, "delta_cq"] == pytest.approx(10.0)
    assert result.loc[2, "delta_cq"] == pytest.approx(8.0)


def test_livak_schmittgen_2001_table_3_c_myc_kidney_vs_brain():
    """Livak & Schmittgen, Methods 25:402 (2001), Table 3: c-myc normalised to GAPDH, brain as
    the calibrator. Brain: c-myc 30.72 ± 0.21, GAPDH 23.70 ± 0.09, ΔCt 7.02 ± 0.23, ΔΔCt 0,
    amount 1.0 (0.9-1.2). Kidney: c-myc 27.04 ± 0.06, GAPDH 22.76 ± 0.05, ΔCt 4.28 ± 0.08,
    ΔΔCt -2.74 ± 0.08, amount 6.7 (6.3-7.0). The range is 2^-(ΔΔCt ± s) and
    s = sqrt(s_target² + s_reference²). (The kidney upper limit computes to 7.05; the table
    prints 7.0, so it is checked against the computed value, not the printed one.)"""
    summary = summary_rows(
        [
            (1, "c-myc", 30.72, 0.21, "calibrator"),
            (1, "GAPDH", 23.70, 0.09, "calibrator"),
            (2, "c-myc", 27.04, 0.06, "sample"),
            (2, "GAPDH", 22.76, 0.05, "sample"),
        ]
    )
    result = delta_cq(summary, spike_in_target="GAPDH", calibrator_sample_id=1)
    result = result.set_index("sample_id")
    brain, kidney = result.loc[1], result.loc[2]
    assert round(brain["delta_cq"], 2) == 7.02
    assert round(brain["delta_cq_sd"], 2) == 0.23
    assert brain["delta_delta_cq"] == pytest.approx(0.0)
    assert brain["calibrated_expression"] == pytest.approx(1.0)
    assert round(kidney["delta_cq"], 2) == 4.28
    assert round(kidney["delta_cq_sd"], 2) == 0.08
    assert round(kidney["delta_delta_cq"], 2) == -2.74
    assert round(kidney["calibrated_expression"], 1) == 6.7
    s = kidney["delta_cq_sd"]
    low = 2 ** -(kidney["delta_delta_cq"] + s)
    high = 2 ** -(kidney["delta_delta_cq"] - s)
    assert round(low, 1) == 6.3
    assert high == pytest.approx(2 ** (2.74 + math.hypot(0.06, 0.05)), abs=1e-9)  # 7.05
    s = brain["delta_cq_sd"]
    assert (round(2 ** -s, 1), round(2**s, 1)) == (0.9, 1.2)
    assert kidney["log10_calibrated_expression"] == pytest.approx(
        math.log10(kidney["calibrated_expression"])
    )


def test_hand_computed_delta_delta_cq_against_a_calibrator():
    result = normalised(
        WellsBuilder()
        .sample(1, mir=[31.0, 31.0], spike=[21.0, 21.0])  # ΔCq 10
        .sample(9, mir=[28.0, 28.0], spike=[20.0, 20.0], kind="calibrator"),  # ΔCq 8
        calibrator_sample_id=9,
    ).set_index("sample_id")
    assert result.loc[1, "delta_delta_cq"] == pytest.approx(2.0)
    assert result.loc[1, "calibrated_expression"] == pytest.approx(0.25)
    assert result.loc[9, "calibrated_expression"] == pytest.approx(1.0)
    assert result.loc[1, "calibration_reason"] == ""


def test_missing_calibrator_gives_nan_with_reason():
    result = normalised(
        WellsBuilder().sample(1, mir=[31.0, 31.0], spike=[21.0, 21.0]), calibrator_sample_id=42
    )
    assert np.isnan(result.loc[0, "calibrated_expression"])
    assert result.loc[0, "calibration_reason"] == (
        f"calibrator RT product 42 has no ΔCq for {MIR122}"
    )


def test_missing_spike_in_gives_nan_never_zero():
    result = normalised(WellsBuilder().sample(1, mir=[30.0, 30.1]))
    row = result.iloc[0]
    assert np.isnan(row["delta_cq"])
    assert np.isnan(row["relative_expression"])
    assert np.isnan(row["log10_expression"])
    assert row["reason"] == f"no {SPIKE} spike-in measured on this RT product"


def test_undetermined_spike_in_gives_nan_with_reason():
    result = normalised(WellsBuilder().sample(1, mir=[30.0, 30.1], spike=[None, 36.0, None]))
    assert np.isnan(result.loc[0, "relative_expression"])
    assert result.loc[0, "reason"] == f"{SPIKE} undetermined"


def test_undetermined_mirna_gives_nan_with_reason():
    result = normalised(WellsBuilder().sample(1, mir=[None, 35.5, None], spike=[20.0, 20.1]))
    row = result.iloc[0]
    assert np.isnan(row["relative_expression"])
    assert row["relative_expression"] != 0
    assert row["reason"] == f"{MIR122} undetermined"


def test_all_replicates_manually_excluded_is_not_called_undetermined():
    builder = WellsBuilder().group(1, MIR122, [30.0, 30.1], manual=[True, True]).group(
        1, SPIKE, [20.0, 20.1]
    )
    result = normalised(builder)
    assert result.loc[0, "reason"] == f"no accepted {MIR122} replicate"


def test_both_missing_reasons_are_joined():
    result = normalised(WellsBuilder().sample(1, mir=[None, None]))
    assert result.loc[0, "reason"] == (
        f"{MIR122} undetermined; no {SPIKE} spike-in measured on this RT product"
    )


def test_replicate_flags_are_carried_into_qc_flag():
    result = normalised(WellsBuilder().sample(1, mir=[30.0, None, None], spike=[20.0, 20.1]))
    assert result.loc[0, "qc_flag"] == f"{MIR122}: fewer than 2 accepted replicates (1 of 3)"
    assert result.loc[0, "delta_cq"] == pytest.approx(30.0 - 20.05)


@settings(max_examples=80, deadline=None)
@given(
    mir=st.lists(st.floats(22.0, 30.0), min_size=3, max_size=3),
    spike=st.lists(st.floats(16.0, 24.0), min_size=3, max_size=3),
    shift=st.floats(-4.0, 4.0),
)
def test_shifting_every_cq_of_a_sample_leaves_delta_cq_unchanged(mir, spike, shift):
    """A uniform shift (e.g. more input RNA in one RT product) cancels in ΔCq, through the
    whole QC -> summary -> ΔCq chain."""
    base = normalised(WellsBuilder().sample(1, mir=mir, spike=spike))
    moved = normalised(
        WellsBuilder().sample(1, mir=[c + shift for c in mir], spike=[c + shift for c in spike])
    )
    a, b = base.loc[0, "delta_cq"], moved.loc[0, "delta_cq"]
    if np.isnan(a):
        assert np.isnan(b)
    else:
        assert b == pytest.approx(a, abs=1e-9)


@pytest.mark.parametrize(
    ("target", "prefix"),
    [
        ("hsa-miR-122-5p", "mir122"),
        ("hsa-miR-21-5p", "mir21"),
        ("cel-miR-39-3p", "mir39"),
        ("hsa-let-7a-5p", "let7a"),
        ("hsa-miR-199a-3p", "mir199a"),
        ("miR-16", "mir16"),
    ],
)
def test_target_prefix(target, prefix):
    assert target_prefix(target) == prefix


def test_target_prefix_keeps_the_arm_on_request():
    assert target_prefix("hsa-miR-122-3p", keep_arm=True) == "mir122_3p"


def paired_builder():
    return (
        WellsBuilder()
        # P01: miR-122 ΔCq 12 before, 9 after; miR-21 ΔCq 10 before, 11 after
        .sample(1, mir=[32.0, 32.0], spike=[20.0, 20.0], patient_id="P01", timepoint="PRE")
        .group(1, MIR21, [30.0, 30.0], patient_id="P01", timepoint="PRE")
        .sample(2, mir=[30.0, 30.0], spike=[21.0, 21.0], patient_id="P01", timepoint="POST")
        .group(2, MIR21, [32.0, 32.0], patient_id="P01", timepoint="POST")
        # P02: PRE only
        .sample(3, mir=[33.0, 33.0], spike=[20.0, 20.0], patient_id="P02", timepoint="PRE")
    )


def test_patient_expression_wide_table():
    wide = patient_expression(normalised(paired_builder())).set_index("patient_id")
    p1 = wide.loc["P01"]
    assert p1["mir122_pre_dcq"] == pytest.approx(12.0)
    assert p1["mir122_post_dcq"] == pytest.approx(9.0)
    assert p1["mir122_pre_rel"] == pytest.approx(2.0**-12)
    assert p1["mir122_pre_log10"] == pytest.approx(-12 * math.log10(2))
    assert p1["mir122_ratio"] == pytest.approx(9.0 / 12.0)
    assert p1["mir122_fold_change"] == pytest.approx(8.0)  # 2^-(9 - 12)
    assert p1["mir21_ratio"] == pytest.approx(1.1)
    assert p1["mir21_fold_change"] == pytest.approx(0.5)
    assert p1["mir122_change_reason"] == ""
    p2 = wide.loc["P02"]
    assert p2["mir122_pre_dcq"] == pytest.approx(13.0)
    assert np.isnan(p2["mir122_post_dcq"])
    assert np.isnan(p2["mir122_ratio"])
    assert p2["mir122_post_reason"] == "no POST result"
    assert p2["mir122_change_reason"] == "needs both a PRE and a POST ΔCq"
    expected = [
        f"mir122_{tp}_{s}" for tp in ("pre", "post") for s in ("dcq", "rel", "log10", "reason")
    ]
    assert [c for c in wide.columns if c.startswith("mir122_")][:8] == expected


def test_patient_expression_ignores_calibrators_and_spike_in():
    builder = paired_builder().sample(
        9, mir=[28.0, 28.0], spike=[20.0, 20.0], kind="calibrator"
    )
    wide = patient_expression(normalised(builder))
    assert list(wide["patient_id"]) == ["P01", "P02"]
    assert not any(c.startswith("mir39") for c in wide.columns)


def test_repeated_rt_products_are_averaged_on_the_dcq_scale():
    builder = (
        WellsBuilder()
        .sample(1, mir=[32.0, 32.0], spike=[20.0, 20.0], patient_id="P01", timepoint="PRE")
        .sample(5, mir=[31.0, 31.0], spike=[20.0, 20.0], patient_id="P01", timepoint="PRE")
    )
    wide = patient_expression(normalised(builder))
    assert wide.loc[0, "mir122_pre_dcq"] == pytest.approx(11.5)
    assert wide.loc[0, "mir122_pre_reason"] == "mean ΔCq of 2 of 2 RT products"


def test_zero_pre_dcq_gives_no_ratio():
    builder = (
        WellsBuilder()
        .sample(1, mir=[20.0, 20.0], spike=[20.0, 20.0], patient_id="P01", timepoint="PRE")
        .sample(2, mir=[21.0, 21.0], spike=[20.0, 20.0], patient_id="P01", timepoint="POST")
    )
    wide = patient_expression(normalised(builder))
    assert np.isnan(wide.loc[0, "mir122_ratio"])
    assert wide.loc[0, "mir122_fold_change"] == pytest.approx(0.5)
    assert wide.loc[0, "mir122_change_reason"] == "ΔCq before TACE is 0: ratio undefined"
