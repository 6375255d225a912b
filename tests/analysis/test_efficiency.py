"""Standard curves and the efficiency choice (analysis/efficiency.py).

Expected values: tests/analysis/r/quantification_reference.json, written by
``cd tests/analysis/r && Rscript quantification.R`` (R 4.2.2, base R: lm on the wells the
documented rule keeps, the delta-method SE of E written out) on
tests/analysis/data/qpcr_standard_curves.csv.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.efficiency import (
    StandardCurveError,
    choose_efficiency,
    declared_efficiency,
    default_efficiency,
    efficiency_from_slope,
    pooled_efficiency,
    run_efficiency,
    standard_curve,
    standard_curves,
)

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "r" / "quantification_reference.json").read_text())
CURVES = pd.read_csv(HERE / "data" / "qpcr_standard_curves.csv")
TOL = 1e-9


def _curve(target):
    rows = CURVES.loc[CURVES["target"].eq(target)]
    return standard_curve(rows["quantity"], rows["cq"])


@pytest.mark.parametrize("target", ["hsa-miR-122-5p", "cel-miR-39-3p"])
def test_curve_equals_r(target):
    expected = REFERENCE["curves"][target]
    curve = _curve(target)
    for name in (
        "slope", "intercept", "slope_se", "intercept_se", "r_squared", "residual_sd",
        "efficiency", "efficiency_se",
    ):  # fmt: skip
        assert getattr(curve, name) == pytest.approx(expected[name], rel=TOL, abs=TOL), name
    assert curve.n_points == expected["n_points"]
    assert [p["used"] for p in curve.points] == expected["used"]
    assert curve.amplification == pytest.approx(1 + expected["efficiency"], rel=TOL)


def test_linear_range_and_outliers_are_reported():
    curve = _curve("hsa-miR-122-5p")
    # The most dilute level (10 copies) has an undetermined replicate: out of the range.
    assert curve.linear_range == (100.0, 1e6)
    assert curve.n_levels == 5
    low = [level for level in curve.levels if level["quantity"] == pytest.approx(10.0)][0]
    assert low["in_range"] is False
    assert "below the linear range" in low["reason"]
    # The third replicate at 10^4 (25.54 against 24.52/24.58) is the outlier.
    (outlier,) = curve.outliers
    assert outlier["row"] == 9 and outlier["cq"] == 25.54
    assert "from the level's median 24.58" in outlier["reason"]
    assert curve.levels[0]["quantity"] == pytest.approx(1e6)  # most concentrated first
    json.dumps(curve.to_dict(), allow_nan=False)


def test_failed_well_inside_the_range_is_left_out_and_the_level_kept():
    curve = _curve("cel-miR-39-3p")
    failed = [p for p in curve.points if p["cq"] is None]
    assert len(failed) == 1 and "failed well" in failed[0]["reason"]
    assert curve.n_levels == 5 and curve.linear_range == (0.0016, 1.0)


def test_two_replicates_that_disagree_are_flagged_not_dropped():
    q = [1e4, 1e4, 1e3, 1e3, 1e2, 1e2]
    cq = [20.0, 20.8, 23.3, 23.4, 26.7, 26.6]
    curve = standard_curve(q, cq)
    assert curve.n_points == 6
    assert len(curve.flags) == 1 and "differ by 0.80 cycles" in curve.flags[0]


def test_exact_line_gives_textbook_efficiency():
    q = np.repeat([1e5, 1e4, 1e3, 1e2], 2)
    slope = -1 / math.log10(2)  # 100 %
    curve = standard_curve(q, 35 + slope * np.log10(q))
    assert curve.efficiency == pytest.approx(1.0, abs=1e-12)
    assert curve.r_squared == pytest.approx(1.0)
    assert curve.efficiency_se == pytest.approx(0.0, abs=1e-9)


def test_delta_method_matches_a_numerical_derivative():
    slope, se = -3.45, 0.04
    e, e_se = efficiency_from_slope(slope, se)
    h = 1e-6
    numeric = (efficiency_from_slope(slope + h)[0] - efficiency_from_slope(slope - h)[0]) / (2 * h)
    assert e == pytest.approx(10 ** (1 / 3.45) - 1)
    assert e_se == pytest.approx(abs(numeric) * se, rel=1e-7)


@pytest.mark.parametrize(
    ("quantity", "cq", "message"),
    [
        ([1e3, 1e2], [20.0, 23.3], "needs at least 3"),
        ([1e3, 1e3, 1e2, 1e2], [20, 20.1, 23.3, 23.4], "needs at least 3"),
        ([1e3, 1e2, 1e1], [26.6, 23.3, 20.0], "is not negative"),
        ([1e3, float("nan"), 1e1], [20.0, 23.3, 26.6], "row 2: quantity nan"),
        ([1e3, 0, 1e1], [20.0, 23.3, 26.6], "row 2: quantity 0.0"),
        ([1e3, 1e2, 1e1, 1e0], [20.0, 23.3, float("nan"), float("nan")], "2 dilution level"),
        ([1e3, 1e2], [20.0], "2 quantities but 1 Cq"),
    ],
)
def test_refusals_say_what_is_wrong(quantity, cq, message):
    with pytest.raises(StandardCurveError, match=message):
        standard_curve(quantity, cq)


def test_undetermined_above_a_determined_low_level_is_a_failed_well_not_a_range_end():
    q = [1e4, 1e4, 1e3, 1e3, 1e2, 1e2, 1e1, 1e1]
    cq = [20.0, 20.1, 23.4, float("nan"), 26.7, 26.8, 30.1, 30.0]
    curve = standard_curve(q, cq)
    assert curve.n_levels == 4 and curve.linear_range == (10.0, 1e4)


def test_default_reproduces_the_paper():
    choice = default_efficiency()
    assert (choice.efficiency, choice.amplification, choice.se) == (1.0, 2.0, 0.0)
    assert choose_efficiency() == choice


def test_pooled_equals_r():
    curves = [_curve("hsa-miR-122-5p"), _curve("cel-miR-39-3p")]
    pooled = pooled_efficiency(curves)
    assert pooled.efficiency == pytest.approx(REFERENCE["pooled"]["efficiency"], rel=TOL)
    assert pooled.se == pytest.approx(REFERENCE["pooled"]["se"], rel=TOL)
    assert choose_efficiency("pooled", curves=curves) == pooled


def test_run_and_declared_choices():
    curve = _curve("cel-miR-39-3p")
    run = choose_efficiency("run", curve=curve)
    assert run == run_efficiency(curve)
    assert run.se == curve.efficiency_se and "standard curve" in run.source
    declared = choose_efficiency("declared", value=0.93, se=0.01, source="kit insert lot 42")
    assert declared == declared_efficiency(0.93, se=0.01, source="kit insert lot 42")
    assert declared.amplification == pytest.approx(1.93)
    json.dumps(declared.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "declared", "value": 95, "source": "insert"}, "fraction"),
        ({"method": "declared", "value": 0.95, "source": " "}, "needs its source"),
        ({"method": "declared", "value": 0.95, "source": "x", "se": -1}, "SE"),
        ({"method": "run"}, "needs this run's standard curve"),
        ({"method": "pooled", "curves": []}, "needs the runs' standard curves"),
        ({"method": "guess"}, "choose one of default, run, pooled, declared"),
    ],
)
def test_choice_refusals(kwargs, message):
    with pytest.raises(StandardCurveError, match=message):
        choose_efficiency(**kwargs)


def test_pooling_refuses_a_curve_without_error():
    q = np.repeat([1e5, 1e4, 1e3], 2)
    exact = dataclasses.replace(standard_curve(q, 35 - 3.3 * np.log10(q)), efficiency_se=0.0)
    with pytest.raises(StandardCurveError, match="curve 1: efficiency SE"):
        pooled_efficiency([exact])


def test_many_series_at_once_keep_each_outcome():
    wells = pd.concat(
        [
            CURVES.assign(run_id="R1"),
            pd.DataFrame(
                {"target": "bad", "quantity": [1e3, 1e2], "cq": [20.0, 23.3], "run_id": "R1"}
            ),
        ]
    )
    curves = standard_curves(wells, by=("run_id", "target"))
    assert set(curves) == {("R1", "hsa-miR-122-5p"), ("R1", "cel-miR-39-3p"), ("R1", "bad")}
    good = curves[("R1", "cel-miR-39-3p")]
    assert good.slope == pytest.approx(REFERENCE["curves"]["cel-miR-39-3p"]["slope"], rel=TOL)
    assert isinstance(curves[("R1", "bad")], StandardCurveError)
    assert "needs at least 3" in str(curves[("R1", "bad")])
    assert set(standard_curves(CURVES)) == {"hsa-miR-122-5p", "cel-miR-39-3p"}
    with pytest.raises(StandardCurveError, match="lack column"):
        standard_curves(CURVES, by=("run_id",))
