"""Replicate QC: undetermined cut-off, median-distance exclusion, manual overrides, NTCs."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.qc import apply_replicate_qc, ntc_contamination, summarise_replicates
from tests.analysis.builders import MIR21, MIR122, SPIKE, WellsBuilder


def qc(builder, **kw):
    return apply_replicate_qc(builder.frame(), **kw)


def test_outlier_replicate_is_excluded_with_its_distance_in_the_reason():
    wells = qc(WellsBuilder().group(1, MIR122, [24.0, 24.1, 24.92]))
    assert wells["excluded"].tolist() == [False, False, True]
    assert wells.loc[2, "exclusion_reason"] == (
        "replicate 3 is 0.82 cycles from the group median 24.10 (limit 0.50)"
    )
    assert wells["exclusion_source"].tolist() == ["", "", "auto"]
    assert wells["exclusion_reason"].tolist()[:2] == ["", ""]


def test_replicate_exactly_at_the_limit_is_kept_despite_float_noise():
    # 24.6 - 24.1 == 0.5000000000000036 in binary floating point
    wells = qc(WellsBuilder().group(1, MIR122, [24.1, 24.1, 24.6]))
    assert not wells["excluded"].any()


def test_max_distance_is_a_parameter():
    builder = WellsBuilder().group(1, MIR122, [24.0, 24.1, 24.4])
    assert not qc(builder)["excluded"].any()
    assert qc(builder, max_distance=0.25)["excluded"].tolist() == [False, False, True]
    reason = qc(builder, max_distance=0.25).loc[2, "exclusion_reason"]
    assert reason.endswith("(limit 0.25)")


def test_cq_above_cutoff_counts_as_undetermined():
    builder = WellsBuilder().group(1, MIR122, [34.8, 35.4, None])
    wells = qc(builder)
    assert wells["undetermined"].tolist() == [False, True, True]
    assert wells["excluded"].tolist() == [False, True, True]
    assert wells.loc[1, "exclusion_reason"] == "undetermined: Cq 35.40 above the cut-off 35.00"
    assert wells.loc[2, "exclusion_reason"] == "undetermined (no Cq)"
    relaxed = qc(builder, cq_cutoff=36.0)
    assert relaxed["undetermined"].tolist() == [False, False, True]
    assert relaxed["excluded"].tolist() == [False, False, True]


def test_undetermined_wells_do_not_enter_the_median():
    # Without the NaN/above-cut-off wells the median is 24.15, so both remain.
    wells = qc(WellsBuilder().group(1, MIR122, [24.1, 24.2, 38.0, None]))
    assert wells["median_cq"].iloc[0] == pytest.approx(24.15)
    assert wells["excluded"].tolist() == [False, False, True, True]


def test_groups_are_per_sample_and_target():
    builder = (
        WellsBuilder()
        .group(1, MIR122, [24.0, 24.1, 24.2])
        .group(1, SPIKE, [20.0, 20.1, 20.2])
        .group(2, MIR122, [30.0, 30.1, 30.2])
    )
    wells = qc(builder)
    assert not wells["excluded"].any()
    assert wells["median_cq"].tolist() == pytest.approx([24.1] * 3 + [20.1] * 3 + [30.1] * 3)


def test_manual_exclusion_wins_and_keeps_the_curators_reason():
    builder = WellsBuilder().group(
        1, MIR122, [24.0, 24.1, 24.2], manual=[None, True, None],
        reasons=[None, "bubble in well", None],
    )
    wells = qc(builder)
    assert wells["excluded"].tolist() == [False, True, False]
    assert wells.loc[1, "exclusion_reason"] == "bubble in well"
    assert wells.loc[1, "exclusion_source"] == "manual"
    assert not wells.loc[1, "auto_excluded"]


def test_manual_restore_wins_over_automatic_exclusion():
    builder = WellsBuilder().group(
        1, MIR122, [24.0, 24.1, 24.92], manual=[None, None, False],
        reasons=[None, None, "amplification curve checked: fine"],
    )
    wells = qc(builder)
    assert wells["excluded"].tolist() == [False, False, False]
    assert wells.loc[2, "auto_excluded"]
    assert wells.loc[2, "auto_reason"].startswith("replicate 3 is 0.82 cycles")
    assert wells.loc[2, "exclusion_reason"] == "amplification curve checked: fine"
    assert wells.loc[2, "exclusion_source"] == "manual"


def test_manual_decision_without_reason_gets_a_default_reason():
    builder = WellsBuilder().group(1, MIR122, [24.0, 24.1, 24.2], manual=[True, None, None])
    wells = qc(builder)
    assert wells.loc[0, "exclusion_reason"] == "excluded by curator"


def test_manually_excluded_well_does_not_set_the_median():
    # The curator removes 26.0; the median is then 24.05 and 24.0/24.1 are both kept.
    builder = WellsBuilder().group(1, MIR122, [24.0, 24.1, 26.0], manual=[None, None, True])
    wells = qc(builder)
    assert wells["median_cq"].iloc[0] == pytest.approx(24.05)
    assert wells["excluded"].tolist() == [False, False, True]


def test_missing_manual_columns_mean_no_manual_decision():
    frame = WellsBuilder().group(1, MIR122, [24.0, 24.1, 24.92]).frame()
    wells = apply_replicate_qc(frame.drop(columns=["manual_excluded", "manual_reason"]))
    assert wells["excluded"].tolist() == [False, False, True]


def test_manual_column_as_plain_object_with_none_is_accepted():
    frame = WellsBuilder().group(1, MIR122, [24.0, 24.1, 24.92]).frame()
    frame["manual_excluded"] = pd.Series([None, None, True], dtype=object)
    frame["manual_reason"] = pd.Series([None, None, "pipetting error"], dtype=object)
    wells = apply_replicate_qc(frame)
    assert wells["excluded"].tolist() == [False, False, True]
    assert wells["exclusion_source"].tolist() == ["", "", "manual"]
    assert wells.loc[2, "exclusion_reason"] == "pipetting error"


def test_input_frame_is_not_modified():
    frame = WellsBuilder().group(1, MIR122, [24.0, 24.1, 24.92]).frame()
    before = frame.copy()
    apply_replicate_qc(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_missing_required_column_is_reported():
    frame = WellsBuilder().group(1, MIR122, [24.0]).frame().drop(columns=["cq"])
    with pytest.raises(ValueError, match="cq"):
        apply_replicate_qc(frame)


def test_summary_uses_accepted_replicates_only():
    builder = (
        WellsBuilder()
        .group(1, MIR122, [24.0, 24.2, 24.92], patient_id="P07", timepoint="POST")
        .group(1, SPIKE, [20.0, 20.1, 20.2], patient_id="P07", timepoint="POST")
    )
    summary = summarise_replicates(qc(builder)).set_index("target")
    row = summary.loc[MIR122]
    assert row["mean_cq"] == pytest.approx(24.1)
    assert row["sd_cq"] == pytest.approx(np.std([24.0, 24.2], ddof=1))
    assert (row["n_wells"], row["n_accepted"], row["n_excluded"]) == (3, 2, 1)
    assert row["flag"] == ""
    assert (row["patient_id"], row["timepoint"], row["role"], row["kind"]) == (
        "P07", "POST", "target", "sample"
    )
    assert summary.loc[SPIKE, "role"] == "spike_in"
    assert summary["sample_id"].dtype == "Int64"


def test_group_with_fewer_than_two_accepted_replicates_is_flagged():
    builder = (
        WellsBuilder()
        .group(1, MIR122, [30.0, None, 36.0])
        .group(2, MIR122, [None, None, None])
    )
    summary = summarise_replicates(qc(builder)).set_index("sample_id")
    assert summary.loc[1, "flag"] == "fewer than 2 accepted replicates (1 of 3)"
    assert summary.loc[1, "mean_cq"] == pytest.approx(30.0)
    assert np.isnan(summary.loc[1, "sd_cq"])
    assert summary.loc[2, "flag"] == "fewer than 2 accepted replicates (0 of 3)"
    assert np.isnan(summary.loc[2, "mean_cq"])
    assert summary.loc[2, "n_undetermined"] == 3


def test_restored_well_counts_as_accepted():
    builder = WellsBuilder().group(1, MIR122, [30.0, 35.6, None], manual=[None, False, None])
    summary = summarise_replicates(qc(builder))
    assert summary.loc[0, "n_accepted"] == 2
    assert summary.loc[0, "mean_cq"] == pytest.approx(32.8)
    assert summary.loc[0, "flag"] == ""


def test_calibrator_wells_are_grouped_like_samples():
    builder = WellsBuilder().group(99, MIR122, [25.0, 25.1, 25.2], kind="calibrator")
    summary = summarise_replicates(qc(builder))
    assert summary.loc[0, "kind"] == "calibrator"
    assert pd.isna(summary.loc[0, "patient_id"])
    assert summary.loc[0, "mean_cq"] == pytest.approx(25.1)


def test_amplified_ntc_flags_its_plate_and_target_only():
    builder = (
        WellsBuilder()
        .group(1, MIR122, [24.0, 24.1, 24.2], plate_id=1)
        .group(1, MIR21, [26.0, 26.1, 26.2], plate_id=1)
        .group(2, MIR122, [24.0, 24.1, 24.2], plate_id=2)
        .ntc(MIR122, [33.1, None], plate_id=1)
        .ntc(MIR21, [None], plate_id=1)
        .ntc(MIR122, [36.5], plate_id=2)  # above the cut-off: undetermined, no flag
    )
    wells = qc(builder)
    ntc = ntc_contamination(wells).set_index(["plate_id", "target"])
    assert ntc.loc[(1, MIR122), "flag"] == "NTC amplified (Cq 33.10)"
    assert ntc.loc[(1, MIR122), "cq"] == pytest.approx(33.1)
    assert ntc.loc[(1, MIR122), "n_ntc"] == 2
    assert ntc.loc[(1, MIR122), "n_amplified"] == 1
    assert ntc.loc[(1, MIR21), "flag"] == ""
    assert ntc.loc[(2, MIR122), "flag"] == ""
    assert np.isnan(ntc.loc[(2, MIR122), "cq"])
    # NTC wells are reported, not excluded
    assert not wells.loc[wells["kind"] == "ntc", "excluded"].any()

    summary = summarise_replicates(wells).set_index(["sample_id", "target"])
    assert summary.loc[(1, MIR122), "ntc_contaminated"]
    assert summary.loc[(1, MIR122), "flag"] == "NTC amplified on the plate"
    assert not summary.loc[(1, MIR21), "ntc_contaminated"]
    assert not summary.loc[(2, MIR122), "ntc_contaminated"]


def test_curator_excluded_ntc_does_not_flag_but_is_counted():
    builder = WellsBuilder().ntc(MIR122, [33.1], manual=[True])
    ntc = ntc_contamination(qc(builder))
    assert ntc.loc[0, "flag"] == ""
    assert ntc.loc[0, "n_manually_excluded"] == 1


def test_no_ntc_gives_an_empty_table_with_columns():
    ntc = ntc_contamination(qc(WellsBuilder().group(1, MIR122, [24.0, 24.1])))
    assert ntc.empty
    assert list(ntc.columns)[:4] == ["plate_id", "target", "cq", "n_ntc"]


@settings(max_examples=60, deadline=None)
@given(
    cqs=st.lists(st.floats(15.0, 30.0), min_size=2, max_size=6),
    shift=st.floats(-5.0, 5.0),
)
def test_exclusions_do_not_depend_on_the_absolute_cq_level(cqs, shift):
    """Shifting a whole replicate group moves its median with it: same decisions."""
    base = qc(WellsBuilder().group(1, MIR122, cqs))
    moved = qc(WellsBuilder().group(1, MIR122, [c + shift for c in cqs]))
    # Distances within ~1e-9 of the limit could flip through rounding; skip those draws.
    near_limit = (base["distance"] - 0.5).abs() < 1e-6
    assert (base["excluded"] == moved["excluded"])[~near_limit].all()
