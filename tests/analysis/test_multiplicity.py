"""Benjamini-Hochberg q-values against R's p.adjust(method = "BH").

The expected values are what tests/analysis/r/multiplicity.R printed (R 4.2.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.stats.multiplicity import benjamini_hochberg
from tests.analysis.builders import ANOVA, CORRELATIONS, PAIRED

NA = None

R_CASES = {
    "table2": (
        [0.0004, 0.012, 0.031, 0.049, 0.051, 0.12, 0.2, 0.35, 0.46, 0.5, 0.71, 0.88, 0.97],
        [
            0.0052000000000000006, 0.078, 0.1326, 0.1326, 0.1326, 0.25999999999999995,
            0.37142857142857144, 0.56874999999999998, 0.65000000000000002, 0.65000000000000002,
            0.83909090909090911, 0.95333333333333325, 0.96999999999999997,
        ],
    ),
    "ties": (
        [0.03, 0.01, 0.03, 1, 0.02, 0.01],
        [
            0.035999999999999997, 0.029999999999999999, 0.035999999999999997, 1,
            0.035999999999999997, 0.029999999999999999,
        ],
    ),
    "missing": (
        [0.01, NA, 0.04, 0.03, NA, 0.5],
        [0.040000000000000001, NA, 0.05333333333333333, 0.05333333333333333, NA, 0.5],
    ),
    "large": ([0.9, 0.95, 0.99, 0.8], [0.98999999999999999] * 4),
    "single": ([0.037], [0.036999999999999998]),
}  # fmt: skip


@pytest.mark.parametrize("case", R_CASES)
def test_equals_r_p_adjust_bh(case):
    p_values, expected = R_CASES[case]
    q_values = benjamini_hochberg(p_values)
    assert len(q_values) == len(expected)
    for q, r in zip(q_values, expected, strict=True):
        if r is None:
            assert q is None
        else:
            assert q == pytest.approx(r, rel=1e-12, abs=1e-15)


def test_nan_counts_as_missing_like_none():
    with_none = benjamini_hochberg([0.01, None, 0.04])
    with_nan = benjamini_hochberg([0.01, math.nan, np.float64(0.04)])
    assert with_none == with_nan == [0.02, None, 0.04]


def test_monotone_in_p_and_never_below_p_nor_above_one():
    rng = np.random.default_rng(13)
    p = rng.uniform(0, 1, 200) ** 3
    q = np.array(benjamini_hochberg(p))
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= 0)
    assert np.all(q >= p) and np.all(q <= 1)


def test_empty_and_all_missing_families():
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([None, math.nan]) == [None, None]


def test_a_p_value_outside_0_1_is_refused_with_its_position():
    with pytest.raises(ValueError, match=r"P value 1.2 at position 2"):
        benjamini_hochberg([0.1, 1.2])


# --- families of tests in a run (analysis.engine) -------------------------------------

COX = {
    "kind": "cox",
    "name": "Table IV",
    "terms": [
        {"column": "ast_iu_l", "cutoff": "median", "label": "AST high"},
        {"column": "age_years", "cutoff": 70, "label": "Age > 70"},
        {"column": "sex", "level": "male", "label": "Male"},
    ],
    "multivariate": ["AST high", "Age > 70"],
}


def run(*analyses, **extra):
    from analysis.engine import run_plan
    from tests.analysis.builders import cohort_frame

    spec = {"time": "dss_months", "event": "dss_event", "analyses": list(analyses), **extra}
    return run_plan(cohort_frame(60, seed=5), spec, figures=False)


def rows_of(outcome, analysis):
    return [r for r in outcome.rows if r["analysis"] == analysis]


def test_each_correlations_analysis_is_a_family_in_its_rows_and_its_payload():
    outcome = run(CORRELATIONS, {**CORRELATIONS, "name": "Table III", "variables": ["age_years"]})
    table2 = rows_of(outcome, "Table II")
    assert [r["q"] for r in table2] == benjamini_hochberg([r["p"] for r in table2])
    assert {r["details"]["family"] for r in table2} == {"Table II"}
    (table3,) = rows_of(outcome, "Table III")
    assert table3["q"] == pytest.approx(table3["p"])  # a family of one
    payload = next(e for e in outcome.results if e["name"] == "Table II")
    assert payload["family"] == "Table II"
    assert [r["q"] for r in payload["result"]["rows"]] == [r["q"] for r in table2]


def test_tests_outside_a_family_have_no_q():
    outcome = run(PAIRED, ANOVA)
    assert [r["q"] for r in outcome.rows] == [None, None]
    assert all(e["family"] is None for e in outcome.results)


def test_a_named_family_pools_analyses():
    outcome = run({**PAIRED, "family": "primary"}, {**ANOVA, "family": "primary"})
    p_values = [r["p"] for r in outcome.rows]
    assert None not in p_values
    assert [r["q"] for r in outcome.rows] == benjamini_hochberg(p_values)
    assert None not in [r["q"] for r in outcome.rows]  # neither has a family alone


def test_a_cox_analysis_univariate_models_are_one_family_and_the_multivariate_none():
    outcome = run(COX)
    univariate = rows_of(outcome, "Table IV univariate")
    multivariate = rows_of(outcome, "Table IV multivariate")
    assert len(univariate) == 3 and len(multivariate) == 2
    assert [r["q"] for r in univariate] == benjamini_hochberg([r["p"] for r in univariate])
    assert all(r["q"] is not None for r in univariate)
    assert [r["q"] for r in multivariate] == [None, None]


def test_multiplicity_none_turns_q_values_off():
    outcome = run(CORRELATIONS, COX, options={"multiplicity": "none"})
    assert outcome.options["multiplicity"] == "none"
    assert all(r["q"] is None for r in outcome.rows)
    payload = next(e for e in outcome.results if e["name"] == "Table II")
    assert all(r["q"] is None for r in payload["result"]["rows"])


def test_a_failed_analysis_leaves_its_family_to_the_others():
    one_group = {**ANOVA, "family": "primary", "subgroup": {"sex": "male"}}
    outcome = run({**PAIRED, "family": "primary"}, one_group)
    assert list(outcome.errors) == ["Fig. 2"]
    (paired,) = outcome.rows
    assert paired["q"] == pytest.approx(paired["p"], rel=1e-12)  # a family of one now
