"""Cox models: R reference coefficients (rossi), codings, synthetic truth, and warnings."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi

from analysis.stats.cox import CoxTerm, cox_multivariate, cox_univariate, encode_terms

# R: coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi)
# (Efron ties, R's default)
R_ROSSI = {
    "fin": -0.3794222,
    "age": -0.0574377,
    "race": 0.3138998,
    "wexp": -0.1497957,
    "mar": -0.4337039,
    "paro": -0.0848711,
    "prio": 0.0914971,
}


def test_rossi_multivariate_coefficients_match_r():
    model = cox_multivariate(load_rossi(), "week", "arrest", list(R_ROSSI))
    assert model.n == 432 and model.events == 114
    assert model.events_per_variable == pytest.approx(114 / 7)
    assert model.converged
    for name, coef in R_ROSSI.items():
        est = model.estimate(name)
        assert est.coef == pytest.approx(coef, abs=1e-6), name
        assert est.hr == pytest.approx(np.exp(coef), rel=1e-5)
        assert est.ci_low < est.hr < est.ci_high
        assert est.ci_low == pytest.approx(np.exp(est.coef - 1.959964 * est.se), rel=1e-6)
    # R: fin se 0.1914, p 0.0474; prio p 0.0014
    assert model.estimate("fin").se == pytest.approx(0.1914, abs=1e-4)
    assert model.estimate("fin").p == pytest.approx(0.0474, abs=1e-4)
    assert model.estimate("prio").p == pytest.approx(0.0014, abs=1e-4)
    # R: likelihood ratio test = 33.27 on 7 df
    assert model.lr_chisq == pytest.approx(33.27, abs=0.01) and model.lr_df == 7
    assert all(est.ph_p is not None for est in model.estimates)
    # age violates proportional hazards in rossi (a classic example)
    assert model.estimate("age").ph_p < 0.05
    assert any("proportional hazards doubtful" in w for w in model.estimate("age").warnings)
    json.dumps(model.to_dict(), allow_nan=False)


def test_univariate_models_use_their_own_complete_cases():
    df = load_rossi()
    df.loc[:9, "age"] = np.nan
    table = cox_univariate(df, "week", "arrest", ["fin", "age"])
    assert [m.n for m in table.models] == [432, 422]
    frame = table.to_frame()
    assert list(frame["variable"]) == ["fin", "age"]
    assert frame.loc[0, "hr"] == pytest.approx(table.models[0].estimates[0].hr)
    json.dumps(table.to_dict(), allow_nan=False)


def test_codings_cutoff_median_level_and_low_is_one():
    df = pd.DataFrame(
        {
            "t": [1.0, 2, 3, 4, 5, 6],
            "e": [1, 0, 1, 1, 0, 1],
            "afp": [10.0, 25, 20, 300, np.nan, 5],
            "grade": ["A", "B", "A", "B", "A", "A"],
            "ratio": [0.5, 0.9, 0.7, 1.2, 0.8, 0.6],
        }
    )
    design, codings = encode_terms(
        df, "t", "e",
        [CoxTerm("afp", cutoff=20), CoxTerm("grade", level="B"),
         CoxTerm("ratio", at_median=True, low_is_one=True, label="low ratio")],
    )
    assert len(design) == 5  # the row without AFP is out
    assert design["afp"].tolist() == [0, 1, 0, 1, 0]  # '>' 20 = 1; 20 itself is 0
    assert design["grade"].tolist() == [0, 1, 0, 1, 0]
    # median of the complete cases 0.5, 0.9, 0.7, 1.2, 0.6 is 0.7; <= 0.7 -> 1
    assert codings["low ratio"][0] == pytest.approx(0.7)
    assert design["low ratio"].tolist() == [1, 0, 1, 0, 1]
    assert codings["afp"] == (20.0, "afp > 20 (1) vs <= (0)")
    assert codings["low ratio"][1] == "ratio <= 0.7 (median) (1) vs > (0)"


def _synthetic_cohort(n=300, seed=2):
    """The lower group dies three times as fast (true HR 3)."""
    rng = np.random.default_rng(seed)
    ratio = rng.uniform(0.3, 1.5, n)
    low = ratio <= np.median(ratio)
    death = rng.exponential(np.where(low, 10.0, 30.0))
    censor = rng.uniform(10, 60, n)
    return pd.DataFrame(
        {"months": np.minimum(death, censor), "dead": (death <= censor).astype(int),
         "ratio": ratio, "noise": rng.normal(size=n)}
    )


def test_lower_group_with_worse_survival_gives_hr_above_one():
    df = _synthetic_cohort()
    model = cox_multivariate(
        df, "months", "dead", [CoxTerm("ratio", at_median=True, low_is_one=True)]
    )
    est = model.estimates[0]
    assert est.hr > 1 and est.ci_low > 1
    assert est.hr == pytest.approx(3.0, rel=0.35)
    assert est.p < 1e-6
    assert model.lr_p < 1e-6
    assert est.n_exposed == 150
    assert not model.warnings
    # the other coding gives the reciprocal hazard ratio
    flipped = cox_multivariate(df, "months", "dead", [CoxTerm("ratio", at_median=True)])
    assert flipped.estimates[0].hr == pytest.approx(1 / est.hr, rel=1e-6)


def test_under_powered_model_warns_but_reports():
    df = _synthetic_cohort(n=40, seed=3)
    df["dead"] = 0
    df.loc[df.index[:6], "dead"] = 1  # 6 events, 2 variables -> 3 per variable
    model = cox_multivariate(df, "months", "dead", ["ratio", "noise"])
    assert model.events_per_variable == pytest.approx(3.0)
    assert any("under-powered" in w for w in model.warnings)
    assert model.estimate("noise").hr is not None


def test_separation_returns_warnings_not_numbers():
    rng = np.random.default_rng(0)
    group = np.r_[np.zeros(20), np.ones(20)]
    df = pd.DataFrame({"t": rng.exponential(10, 40), "e": (group == 1).astype(int),
                       "high": group, "noise": rng.normal(size=40)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out of the function either
        uni = cox_univariate(df, "t", "e", ["high"])
        multi = cox_multivariate(df, "t", "e", ["high", "noise"])
    est = uni.models[0].estimates[0]
    assert est.hr is None and est.p is None and est.ci_low is None
    assert "complete separation" in est.warnings[0]
    assert not uni.models[0].converged
    assert multi.estimate("high").hr is None
    assert multi.warnings
    json.dumps(uni.to_dict(), allow_nan=False)
    json.dumps(multi.to_dict(), allow_nan=False)


def test_constant_variable_and_too_few_rows_and_no_events():
    df = _synthetic_cohort(n=30)
    df["all_male"] = 1
    model = cox_multivariate(df, "months", "dead", ["all_male", "noise"])
    assert model.estimate("all_male").hr is None
    assert "constant" in model.estimate("all_male").warnings[0]
    assert model.estimate("noise").hr is not None  # fitted without the constant one

    tiny = cox_multivariate(df.head(3), "months", "dead", ["ratio", "noise"])
    assert tiny.estimates[0].hr is None and tiny.warnings

    no_events = cox_multivariate(df.assign(dead=0), "months", "dead", ["ratio"])
    assert no_events.estimates[0].hr is None
    assert any("no events" in w for w in no_events.warnings)

    empty = cox_univariate(df.iloc[0:0], "months", "dead", ["ratio"])
    assert empty.models[0].n == 0 and empty.models[0].warnings


def test_duplicate_term_names_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        cox_multivariate(_synthetic_cohort(), "months", "dead", ["ratio", "ratio"])


def test_level_list_codes_any_of_the_levels():
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 1, 1], "bclc": ["0", "A", "B", "C"]})
    design, codings = encode_terms(df, "t", "e", [CoxTerm("bclc", level=["B", "C"])])
    assert design["bclc"].tolist() == [0, 0, 1, 1]
    assert codings["bclc"][1] == "bclc in ['B', 'C'] (1) vs other (0)"
