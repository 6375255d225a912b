"""Pearson r, Fisher-z CI and P: against the paper's Tables II and III, scipy and numpy."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.stats.correlation import (
    correlate_with_expression,
    fisher_z_ci,
    pearson_correlation,
)

# (variable, r, n, lower, upper, printed P); Table II = miR-122, Table III = miR-21.
# The paper prints trailing zeros away (0.349 means 0.3490). P '<0.001' is stored as None.
TABLE_II = [
    ("Age", -0.1594, 75, -0.3729, 0.0701, 0.172),
    ("HbA1c", 0.1528, 70, -0.0852, 0.3743, 0.206),
    ("AST", 0.3144, 75, 0.0942, 0.5053, 0.006),
    ("ALT", 0.3365, 75, 0.1186, 0.5235, 0.003),
    ("T-Bil", -0.1892, 75, -0.399, 0.0395, 0.104),
    ("ALB", 0.1092, 75, -0.1208, 0.328, 0.351),
    ("PT", 0.2209, 73, -0.0097, 0.4291, 0.060),
    ("Plt", 0.1423, 75, -0.0874, 0.3578, 0.223),
    ("Child-Pugh score", -0.2838, 75, -0.4798, -0.0607, 0.013),
    ("AFP", 0.1893, 75, -0.0394, 0.3991, 0.103),
    ("DCP", 0.2194, 73, -0.0112, 0.4279, 0.062),
    ("Tumor diameter", 0.2933, 75, 0.0711, 0.4878, 0.010),
    ("Tumor number", 0.1461, 75, -0.0837, 0.3611, 0.211),
]
TABLE_III = [
    ("Age", 0.0487, 75, -0.1802, 0.2727, 0.678),
    ("HbA1c", 0.1242, 70, -0.1141, 0.349, 0.305),
    ("AST", 0.1937, 75, -0.0348, 0.403, 0.095),
    ("ALT", 0.2248, 75, -0.0023, 0.4298, 0.052),
    ("T-Bil", -0.1781, 75, -0.3893, 0.051, 0.126),
    ("ALB", 0.1932, 75, -0.0353, 0.4025, 0.096),
    ("PT", 0.3846, 73, 0.1696, 0.5647, None),
    ("Plt", 0.1831, 75, -0.0457, 0.3937, 0.115),
    ("Child-Pugh score", -0.3093, 75, -0.5011, -0.0886, 0.006),
    ("AFP", 0.1495, 75, -0.0802, 0.3641, 0.200),
    ("DCP", 0.1168, 73, -0.1164, 0.3378, 0.325),
    ("Tumor diameter", 0.1263, 75, -0.1036, 0.3434, 0.280),
    ("Tumor number", -0.0639, 75, -0.2867, 0.1655, 0.586),
]
PAPER_ROWS = [("II", *row) for row in TABLE_II] + [("III", *row) for row in TABLE_III]
IDS = [f"table{t}-{name}" for t, name, *_ in PAPER_ROWS]


@pytest.mark.parametrize(("table", "name", "r", "n", "lower", "upper", "p"), PAPER_ROWS, ids=IDS)
def test_fisher_z_reproduces_the_paper_bounds(table, name, r, n, lower, upper, p):
    """All 26 rows. The printed r is itself rounded to 4 decimals, so the printed bounds come
    from an r somewhere in [r - 0.00005, r + 0.00005]: for 17 rows the printed r already gives
    both bounds to 4 decimals, and for every row some r in that interval gives both exactly.
    At the printed r the bounds are within 1e-4 of the printed ones."""
    low, high = fisher_z_ci(r, n)
    assert low == pytest.approx(lower, abs=1e-4)
    assert high == pytest.approx(upper, abs=1e-4)

    candidates = np.linspace(r - 5e-5, r + 5e-5, 2001)
    bounds = np.array([fisher_z_ci(c, n) for c in candidates])
    exact = (np.round(bounds[:, 0], 4) == lower) & (np.round(bounds[:, 1], 4) == upper)
    assert exact.any(), f"no r within rounding of {r} gives ({lower}, {upper})"


@pytest.mark.parametrize(("table", "name", "r", "n", "lower", "upper", "p"), PAPER_ROWS, ids=IDS)
def test_p_value_from_r_and_n_matches_the_paper(table, name, r, n, lower, upper, p):
    """Two-sided t test of r with n - 2 df. The paper's P are neither consistently rounded nor
    truncated to 3 decimals (0.0136 is printed 0.013, 0.1719 is printed 0.172), so within
    0.001; '<0.001' must be below 0.001."""
    x, y = _data_with_correlation(r, n)
    result = pearson_correlation(x, y)
    assert result.r == pytest.approx(r, abs=1e-12)
    if p is None:
        assert result.p < 0.001
    else:
        assert result.p == pytest.approx(p, abs=0.001)
    assert result.ci_low == pytest.approx(lower, abs=1e-4)
    assert result.ci_high == pytest.approx(upper, abs=1e-4)


def _data_with_correlation(r, n, seed=1):
    """x, y with sample Pearson correlation exactly r (orthogonalise, then mix)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n))
    a = (a - a.mean()) / np.linalg.norm(a - a.mean())
    b = b - b.mean()
    b = b - (b @ a) * a
    b = b / np.linalg.norm(b)
    return a, r * a + np.sqrt(1 - r * r) * b


def test_fisher_z_textbook_value():
    # r = 0.5, n = 28: z = 0.549306, se = 0.2, z ± 0.391993 = (0.157313, 0.941299),
    # tanh -> (0.1560, 0.7358)
    low, high = fisher_z_ci(0.5, 28)
    assert low == pytest.approx(np.tanh(np.arctanh(0.5) - stats.norm.ppf(0.975) * 0.2))
    assert (round(low, 4), round(high, 4)) == (0.156, 0.7358)


def test_fisher_z_degenerate_inputs():
    assert fisher_z_ci(0.3, 3) == (None, None)
    assert fisher_z_ci(float("nan"), 50) == (None, None)
    assert fisher_z_ci(1.0, 10) == (1.0, 1.0)
    low, high = fisher_z_ci(0.3, 50, confidence=0.99)
    low95, high95 = fisher_z_ci(0.3, 50)
    assert low < low95 and high > high95


@settings(max_examples=50, deadline=None)
@given(n=st.integers(5, 200), seed=st.integers(0, 10_000), slope=st.floats(-2, 2))
def test_pearson_agrees_with_scipy_and_numpy(n, seed, slope):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = slope * x + rng.normal(size=n)
    result = pearson_correlation(x, y)
    ref = stats.pearsonr(x, y)
    assert result.n == n
    assert result.r == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert result.r == pytest.approx(ref.statistic, abs=1e-12)
    assert result.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    # scipy >= 1.9 gives the same Fisher-z interval
    ci = ref.confidence_interval(confidence_level=0.95)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_missing_values_reduce_the_case_number_per_variable():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"expr": rng.normal(size=75), "ast": rng.normal(size=75),
                       "hba1c": rng.normal(size=75)})
    df.loc[:4, "hba1c"] = np.nan
    df.loc[70, "expr"] = np.nan
    table = correlate_with_expression(df, "expr", ["ast", "hba1c"])
    assert [row.n for row in table.rows] == [74, 69]
    frame = table.to_frame()
    assert list(frame["variable"]) == ["ast", "hba1c"]
    assert list(frame.columns) == ["variable", "r", "n", "ci_low", "ci_high", "p", "warnings"]
    json.dumps(table.to_dict(), allow_nan=False)


def test_constant_or_tiny_input_gives_warnings_not_errors():
    constant = pearson_correlation([1, 1, 1, 1], [1, 2, 3, 4], variable="sex")
    assert constant.r is None and constant.p is None
    assert "constant" in constant.warnings[0]
    tiny = pearson_correlation([1, 2], [3, 4])
    assert tiny.r is None and tiny.warnings
    payload = json.dumps(constant.to_dict(), allow_nan=False)
    assert '"r": null' in payload
