"""Paired t-test and one-way ANOVA: hand values, scipy and statsmodels as references."""

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from analysis.stats.comparisons import one_way_anova, paired_ttest


def test_paired_ttest_hand_computed():
    # differences after - before: -1, -2, -3, -2  -> mean -2, sd sqrt(2/3)
    df = pd.DataFrame({"pre": [5.0, 6.0, 7.0, 8.0], "post": [4.0, 4.0, 4.0, 6.0]})
    result = paired_ttest(df, "pre", "post")
    sd = np.sqrt(2 / 3)
    assert result.n == 4 and result.df == 3
    assert result.mean_difference == pytest.approx(-2.0)
    assert result.sd_difference == pytest.approx(sd)
    assert result.t == pytest.approx(-2.0 / (sd / 2))  # -4.899
    half = stats.t.ppf(0.975, 3) * sd / 2  # 3.182446 * 0.408248 = 1.299
    assert (result.ci_low, result.ci_high) == pytest.approx((-2 - half, -2 + half))
    assert result.p == pytest.approx(2 * stats.t.sf(4.898979, 3), rel=1e-5)


def test_paired_ttest_matches_scipy_and_drops_incomplete_pairs():
    rng = np.random.default_rng(7)
    pre = rng.normal(-3.5, 0.6, 75)
    post = pre - 0.2 + rng.normal(0, 0.5, 75)
    df = pd.DataFrame({"mir122_pre_log10": pre, "mir122_post_log10": post})
    df.loc[[3, 10], "mir122_post_log10"] = np.nan
    df.loc[20, "mir122_pre_log10"] = np.nan
    result = paired_ttest(df, "mir122_pre_log10", "mir122_post_log10")
    complete = df.dropna()
    ref = stats.ttest_rel(complete["mir122_post_log10"], complete["mir122_pre_log10"])
    ci = ref.confidence_interval(0.95)
    assert result.n == 72 and result.n_dropped == 3
    assert result.t == pytest.approx(ref.statistic)
    assert result.p == pytest.approx(ref.pvalue)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high))
    assert result.mean_before == pytest.approx(complete["mir122_pre_log10"].mean())
    json.dumps(result.to_dict(), allow_nan=False)


def test_paired_ttest_degenerate_data_gives_warnings():
    one = paired_ttest(pd.DataFrame({"a": [1.0, np.nan], "b": [2.0, 3.0]}), "a", "b")
    assert one.n == 1 and one.t is None and one.p is None and one.warnings
    flat = paired_ttest(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0]}), "a", "b")
    assert flat.mean_difference == pytest.approx(1.0)
    assert flat.t is None and "all equal" in flat.warnings[0]
    json.dumps(flat.to_dict(), allow_nan=False)


def _child_pugh_data(seed=11):
    rng = np.random.default_rng(seed)
    grade = np.array(["A"] * 55 + ["B"] * 18 + ["C"] * 2)
    value = np.where(grade == "A", -3.3, np.where(grade == "B", -3.8, -4.0))
    value = value + rng.normal(0, 0.5, len(grade))
    df = pd.DataFrame({"mir122_pre_log10": value, "child_pugh_grade": grade})
    df.loc[[1, 60], "mir122_pre_log10"] = np.nan
    df.loc[5, "child_pugh_grade"] = None
    return df


def test_anova_matches_statsmodels_anova_lm():
    df = _child_pugh_data()
    result = one_way_anova(df, "mir122_pre_log10", "child_pugh_grade")
    data = df.dropna()
    fit = smf.ols("mir122_pre_log10 ~ C(child_pugh_grade)", data=data).fit()
    table = sm.stats.anova_lm(fit, typ=1)
    between, residual = table.loc["C(child_pugh_grade)"], table.loc["Residual"]
    assert result.n == len(data) == 72 and result.n_dropped == 3
    assert result.df_between == int(between["df"]) == 2
    assert result.df_within == int(residual["df"])
    assert result.ss_between == pytest.approx(between["sum_sq"])
    assert result.ss_within == pytest.approx(residual["sum_sq"])
    assert result.f == pytest.approx(between["F"])
    assert result.p == pytest.approx(between["PR(>F)"])
    assert [g.group for g in result.groups] == ["A", "B", "C"]
    assert [g.n for g in result.groups] == [53, 17, 2]
    json.dumps(result.to_dict(), allow_nan=False)


def test_two_group_anova_equals_pooled_t_test():
    df = _child_pugh_data()
    df = df[df["child_pugh_grade"].isin(["A", "B"])]
    result = one_way_anova(df, "mir122_pre_log10", "child_pugh_grade")
    data = df.dropna()
    t = stats.ttest_ind(
        data.loc[data["child_pugh_grade"] == "A", "mir122_pre_log10"],
        data.loc[data["child_pugh_grade"] == "B", "mir122_pre_log10"],
    )
    assert result.f == pytest.approx(t.statistic**2)
    assert result.p == pytest.approx(t.pvalue)


def test_anova_degenerate_data_gives_warnings():
    single = one_way_anova(pd.DataFrame({"v": [1.0, 2.0], "g": ["A", "A"]}), "v", "g")
    assert single.f is None and "at least 2" in single.warnings[0]
    one_each = one_way_anova(pd.DataFrame({"v": [1.0, 2.0], "g": ["A", "B"]}), "v", "g")
    assert one_each.f is None and one_each.warnings
    flat = one_way_anova(pd.DataFrame({"v": [1.0, 1.0, 2.0, 2.0], "g": list("AABB")}), "v", "g")
    assert flat.f is None and flat.eta_squared == pytest.approx(1.0)
