"""QC flags per measurement (analysis.flags): every rule against values worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.flags import QcThresholds, patient_qc
from analysis.pipeline import normalise_wells
from tests.analysis.builders import MIR21, MIR122, SPIKE, WellsBuilder

MIR23A, MIR451A = "hsa-miR-23a-3p", "hsa-miR-451a"
GOOD_SPIKE = [20.0, 20.1, 20.2]


def products(rows: list[dict]) -> pd.DataFrame:
    """One row per RT product, with the defaults of a clean one."""
    base = {
        "draw_id": None, "patient_id": "P01", "timepoint": "PRE", "batch": "B1",
        "aliquot": "T-1", "rt_code": "T-1-RT1", "freeze_thaw_count": 0, "excursions": 0,
        "excursion_minutes": 0, "excursion_peak_c": np.nan, "haemolysis": "none", "a414": np.nan,
        "drawn_at": pd.Timestamp("2020-01-01 08:00"),
        "centrifuged_at": pd.Timestamp("2020-01-01 09:00"),
        "frozen_at": pd.Timestamp("2020-01-01 09:30"),
    }  # fmt: skip
    frame = pd.DataFrame([{**base, "draw_id": row["sample_id"], **row} for row in rows])
    frame["sample_id"] = frame["sample_id"].astype("Int64")
    return frame


def qc_of(wells: WellsBuilder, prods=None, **thresholds):
    result = normalise_wells(wells.frame(), products=prods, thresholds=QcThresholds(**thresholds))
    return result.qc.measurements.set_index(["sample_id", "target"])


def test_a_clean_measurement_passes_with_no_reason():
    qc = qc_of(WellsBuilder().sample(1, mir=[30.0, 30.1, 30.2], spike=GOOD_SPIKE))
    assert qc.loc[(1, MIR122), "qc"] == "pass"
    assert qc.loc[(1, MIR122), "qc_reasons"] == ""


def test_replicate_rules():
    wells = (
        WellsBuilder()
        .sample(1, mir=[30.0, None, None], spike=GOOD_SPIKE)  # one replicate left
        .sample(2, mir=[None, None, 36.0], spike=GOOD_SPIKE)  # none: undetermined / > 35
        .sample(3, mir=[30.0, 30.4, 30.8], spike=GOOD_SPIKE)  # SD 0.4
        .sample(4, mir=[30.0, 30.1, 30.2], spike=[20.0, None, None])  # spike-in on one
    )
    qc = qc_of(wells, replicate_sd_limit=0.3)
    assert qc.loc[(1, MIR122), "qc"] == "warn"
    assert "the mean rests on one replicate (1 of 3)" in qc.loc[(1, MIR122), "qc_reasons"]
    assert qc.loc[(2, MIR122), "qc"] == "fail"
    assert "no accepted replicate (3 of 3 undetermined" in qc.loc[(2, MIR122), "qc_reasons"]
    assert "value" in qc.loc[(2, MIR122), "qc_rules"].split(",")
    assert qc.loc[(3, MIR122), "qc"] == "warn"
    assert "replicate SD 0.40 above 0.30" in qc.loc[(3, MIR122), "qc_reasons"]
    # A finding on the spike-in reaches the miRNA measured against it.
    assert qc.loc[(4, MIR122), "qc"] == "warn"
    assert qc.loc[(4, MIR122), "qc_reasons"].startswith(f"{SPIKE}: the mean rests on one")


def test_ntc_close_to_the_sample_fails_and_far_from_it_warns():
    wells = (
        WellsBuilder()
        .sample(1, mir=[30.0, 30.0, 30.0], spike=GOOD_SPIKE, plate_id=1)
        .ntc(MIR122, [25.0], plate_id=1)  # 5 cycles BEFORE the sample's 30.0
        .sample(2, mir=[28.0, 28.0, 28.0], spike=GOOD_SPIKE, plate_id=2)
        .ntc(MIR122, [34.0], plate_id=2)  # 6 cycles after: a late primer-dimer
        .sample(3, mir=[28.0, 28.0, 28.0], spike=GOOD_SPIKE, plate_id=3)
        .ntc(SPIKE, [21.0], plate_id=3)  # the spike-in's NTC, 0.9 after its 20.1
        .sample(4, mir=[28.0, 28.0, 28.0], spike=GOOD_SPIKE, plate_id=4)
        .ntc(MIR122, [None], plate_id=4)  # clean
    )
    qc = qc_of(wells)
    assert qc.loc[(1, MIR122), "qc"] == "fail"
    assert (
        "NTC amplified on plate 1 (Cq 25.00, 5.00 cycles before the sample)"
        in (qc.loc[(1, MIR122), "qc_reasons"])
    )
    assert qc.loc[(2, MIR122), "qc"] == "warn"
    assert "(Cq 34.00, 6.00 cycles after the sample)" in qc.loc[(2, MIR122), "qc_reasons"]
    assert qc.loc[(3, MIR122), "qc"] == "fail"
    assert (
        f"{SPIKE}: NTC amplified on plate 3 (Cq 21.00, 0.90 cycles after"
        in (qc.loc[(3, MIR122), "qc_reasons"])
    )
    assert qc.loc[(4, MIR122), "qc"] == "pass"


def test_spike_in_outlier_by_modified_z_within_its_batch():
    # Batch B1: spike-in means 17.0 .. 17.8 and 22.0. Median (17.4 + 17.6) / 2 = 17.5;
    # absolute deviations 0.5 0.3 0.1 0.1 0.3 4.5 -> MAD 0.3;
    # z(22.0) = 0.6745 * 4.5 / 0.3 = 10.1175; z(17.0) = 0.6745 * -0.5 / 0.3 = -1.1242.
    wells = WellsBuilder()
    spikes = [17.0, 17.2, 17.4, 17.6, 17.8, 22.0]
    for sample_id, cq in enumerate(spikes, start=1):
        wells.sample(sample_id, mir=[30.0, 30.0, 30.0], spike=[cq] * 3)
    # Batch B2 has 3 products: too few to judge, however far apart.
    for sample_id, cq in zip((7, 8, 9), (17.0, 17.1, 25.0), strict=True):
        wells.sample(sample_id, mir=[30.0, 30.0, 30.0], spike=[cq] * 3)
    prods = products(
        [{"sample_id": i, "batch": "B1"} for i in range(1, 7)]
        + [{"sample_id": i, "batch": "B2"} for i in (7, 8, 9)]
    )
    result = normalise_wells(wells.frame(), products=prods)
    spike = result.qc.spike_in.set_index("sample_id")
    assert spike.loc[6, "z"] == pytest.approx(0.6745 * 4.5 / 0.3)
    assert spike.loc[1, "z"] == pytest.approx(0.6745 * -0.5 / 0.3)
    assert spike["outlier"].sum() == 1 and spike.loc[6, "outlier"]
    assert np.isnan(spike.loc[9, "z"])
    qc = result.qc.measurements.set_index(["sample_id", "target"])
    assert qc.loc[(6, MIR122), "qc"] == "fail"
    assert (
        "Cq 22.00 is 4.50 cycles above its extraction batch B1 (median 17.50"
        in (qc.loc[(6, MIR122), "qc_reasons"])
    )
    assert (qc.drop(index=6, level=0)["qc"] == "pass").all()


def test_haemolysis_index_a414_and_grade_per_draw():
    # index = Cq(miR-23a-3p) - Cq(miR-451a): 30.0 - 22.5 = 7.5 (high risk),
    # 28.0 - 22.0 = 6.0 (borderline), 25.0 - 22.0 = 3.0 (clean).
    wells = WellsBuilder()
    for sample_id, (c23, c451) in enumerate([(30.0, 22.5), (28.0, 22.0), (25.0, 22.0)], 1):
        wells.sample(sample_id, mir=[30.0, 30.0, 30.0], spike=GOOD_SPIKE)
        wells.group(sample_id, MIR23A, [c23] * 2).group(sample_id, MIR451A, [c451] * 2)
    wells.sample(4, mir=[30.0, 30.0, 30.0], spike=GOOD_SPIKE)  # no haemolysis assays
    wells.sample(5, mir=[30.0, 30.0, 30.0], spike=GOOD_SPIKE)
    prods = products(
        [{"sample_id": 1}, {"sample_id": 2}, {"sample_id": 3, "a414": 0.25},
         {"sample_id": 4, "haemolysis": "slight"}, {"sample_id": 5, "haemolysis": "gross"}]
    )  # fmt: skip
    result = normalise_wells(wells.frame(), products=prods)
    table = result.qc.haemolysis.set_index("draw_id")
    assert table.loc[1, "index"] == pytest.approx(7.5)
    assert list(table["status"]) == ["fail", "warn", "pass", "", ""]
    qc = result.qc.measurements.set_index(["sample_id", "target"])
    assert qc.loc[(1, MIR122), "qc"] == "fail"
    assert (
        "haemolysis index ΔCq(hsa-miR-23a-3p − hsa-miR-451a) 7.50 (above 7: high risk)"
        in (qc.loc[(1, MIR122), "qc_reasons"])
    )
    assert qc.loc[(2, MIR122), "qc"] == "warn"
    assert "6.00 (5-7: borderline)" in qc.loc[(2, MIR122), "qc_reasons"]
    assert qc.loc[(3, MIR122), "qc"] == "fail"
    assert "A414 0.250 above 0.2" in qc.loc[(3, MIR122), "qc_reasons"]
    assert qc.loc[(4, MIR122), "qc"] == "warn"
    assert qc.loc[(4, MIR122), "qc_rules"] == "haemolysis_grade"
    assert qc.loc[(5, MIR122), "qc"] == "fail"
    assert "haemolysis graded gross at the draw" in qc.loc[(5, MIR122), "qc_reasons"]


def test_pre_analytical_rules_warn():
    wells = WellsBuilder()
    for sample_id in (1, 2, 3, 4):
        wells.sample(sample_id, mir=[30.0, 30.0, 30.0], spike=GOOD_SPIKE)
    late = pd.Timestamp("2020-01-01 13:00")  # 5 h = 300 min after the 08:00 draw
    prods = products(
        [
            {"sample_id": 1, "freeze_thaw_count": 2, "aliquot": "T-1"},
            {"sample_id": 2, "centrifuged_at": late, "frozen_at": late + pd.Timedelta("3h")},
            {
                "sample_id": 3,
                "excursions": 1,
                "aliquot": "T-3",
                "excursion_minutes": 95,
                "excursion_peak_c": -41.0,
            },
            {"sample_id": 4, "freeze_thaw_count": 1},  # at the limit: fine
        ]
    )
    qc = qc_of(wells, prods)
    assert qc.loc[(1, MIR122), "qc"] == "warn"
    assert "tube T-1 thawed 2 times (limit 1)" in qc.loc[(1, MIR122), "qc_reasons"]
    assert qc.loc[(2, MIR122), "qc"] == "warn"
    assert "draw to centrifugation 300 min (limit 240)" in qc.loc[(2, MIR122), "qc_reasons"]
    assert "centrifugation to freezer 180 min (limit 120)" in qc.loc[(2, MIR122), "qc_reasons"]
    assert qc.loc[(3, MIR122), "qc_rules"] == "excursion"
    assert (
        "tube T-3 was in a freezer temperature excursion (95 min inside, peak -41 °C)"
        in qc.loc[(3, MIR122), "qc_reasons"]
    )
    assert qc.loc[(4, MIR122), "qc"] == "pass"


def test_worst_status_wins_and_every_reason_is_kept():
    wells = (
        WellsBuilder()
        .sample(1, mir=[30.0, None, None], spike=GOOD_SPIKE, plate_id=1)  # warn: one replicate
        .ntc(MIR122, [26.0], plate_id=1)  # fail: NTC 4 cycles before
    )
    qc = qc_of(wells, products([{"sample_id": 1, "freeze_thaw_count": 3}]))
    row = qc.loc[(1, MIR122)]
    assert row["qc"] == "fail"
    assert set(row["qc_rules"].split(",")) == {"ntc", "replicates", "freeze_thaw"}
    assert row["qc_reasons"].index("NTC") < row["qc_reasons"].index("one replicate")


def test_patient_columns_take_the_worst_of_repeated_rt_products():
    measurements = pd.DataFrame(
        {
            "sample_id": [1, 2, 3],
            "patient_id": ["P1", "P1", "P1"],
            "timepoint": ["PRE", "PRE", "POST"],
            "target": [MIR21, MIR21, MIR21],
            "qc": ["pass", "warn", "fail"],
            "qc_reasons": ["", "x: SD high", "y: NTC"],
            "qc_rules": ["", "replicates", "ntc"],
        }
    )
    wide = patient_qc(measurements).set_index("patient_id")
    assert wide.loc["P1", "mir21_pre_qc"] == "warn"
    assert wide.loc["P1", "mir21_pre_qc_reasons"] == "x: SD high"
    assert wide.loc["P1", "mir21_post_qc"] == "fail"
    assert wide.loc["P1", "mir21_post_qc_rules"] == "ntc"


def test_cohort_columns_carry_the_status_of_each_timepoint_and_mirna():
    wells = (
        WellsBuilder()
        .sample(1, mir=[30.0, 30.0, 30.0], spike=GOOD_SPIKE, patient_id="P1", plate_id=1)
        .sample(1, target=MIR21, mir=[28.0, 28.0, 28.0], patient_id="P1", plate_id=1)
        .sample(2, mir=[31.0, 31.0, 31.0], spike=GOOD_SPIKE, patient_id="P1",
                timepoint="POST", plate_id=2)
        .sample(2, target=MIR21, mir=[28.0, 28.0, 28.0], patient_id="P1",
                timepoint="POST", plate_id=2)
        .ntc(MIR21, [12.9], plate_id=2)
    )  # fmt: skip
    wide = normalise_wells(wells.frame()).per_patient.set_index("patient_id")
    assert wide.loc["P1", "mir122_pre_qc"] == "pass"
    assert wide.loc["P1", "mir122_post_qc"] == "pass"
    assert wide.loc["P1", "mir21_pre_qc"] == "pass"
    assert wide.loc["P1", "mir21_post_qc"] == "fail"
    assert wide.loc["P1", "mir21_post_dcq"] == pytest.approx(28.0 - 20.1)  # kept: the gate decides


def test_settings_are_checked_by_name():
    assert QcThresholds.from_settings({"ntc_min_gap": 3}).ntc_min_gap == 3
    with pytest.raises(ValueError, match="unknown QC setting\\(s\\): ntc_gap"):
        QcThresholds.from_settings({"ntc_gap": 3})


def test_qc_derivation_keeps_mir21_unaffected_by_a_mir122_ntc():
    wells = (
        WellsBuilder()
        .sample(1, mir=[30.0, 30.0, 30.0], spike=GOOD_SPIKE)
        .sample(1, target=MIR21, mir=[28.0, 28.0, 28.0])
        .ntc(MIR122, [20.0])
    )
    qc = qc_of(wells)
    assert qc.loc[(1, MIR122), "qc"] == "fail"
    assert qc.loc[(1, MIR21), "qc"] == "pass"
