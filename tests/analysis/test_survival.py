"""Kaplan-Meier, medians and log-rank against R's survival package: the `aml` data written
out, and lung, veteran, aml, ovarian and two small sets from tests/analysis/r/km_reference.R."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.options import PRESETS
from analysis.stats.survival import (
    CI_METHODS,
    MEDIAN_DEFINITIONS,
    kaplan_meier,
    logrank,
    r_style_median,
    split_at_median,
)

# R: survival::aml (Embury et al., acute myelogenous leukaemia), + = censored
MAINTAINED = [(9, 1), (13, 1), (13, 0), (18, 1), (23, 1), (28, 0), (31, 1), (34, 1), (45, 0),
              (48, 1), (161, 0)]
NONMAINTAINED = [(5, 1), (5, 1), (8, 1), (8, 1), (12, 1), (16, 0), (23, 1), (27, 1), (30, 1),
                 (33, 1), (43, 1), (45, 1)]


@pytest.fixture
def aml():
    rows = [(t, e, "Maintained") for t, e in MAINTAINED]
    rows += [(t, e, "Nonmaintained") for t, e in NONMAINTAINED]
    return pd.DataFrame(rows, columns=["time", "status", "x"])


def test_logrank_matches_r_survdiff(aml):
    """survdiff(Surv(time, status) ~ x, data = aml): N 11/12, Observed 7/11,
    Expected 10.69/7.31, Chisq = 3.4 on 1 df, p = 0.0653 (chisq 3.3963...)."""
    result = logrank(aml, "time", "status", "x")
    assert result.chisq == pytest.approx(3.3963, abs=1e-4)
    assert result.df == 1
    assert result.p == pytest.approx(0.0653, abs=1e-4)
    groups = result.groups.set_index("group")
    assert groups.loc["Maintained", ["n", "observed"]].tolist() == [11, 7]
    assert groups.loc["Nonmaintained", ["n", "observed"]].tolist() == [12, 11]
    assert groups["expected"].round(2).tolist() == [10.69, 7.31]
    json.dumps(result.to_dict(), allow_nan=False)


def test_km_medians_match_r(aml):
    """print(survfit(Surv(time, status) ~ x, data = aml)):
    Maintained median 31 (0.95LCL 18, UCL NA); Nonmaintained 23 (8, NA)."""
    result = kaplan_meier(aml, "time", "status", group="x", ci_method="log",
                          median_definition="r")
    medians = {g.group: g.median for g in result.groups}
    assert (medians["Maintained"].median, medians["Maintained"].ci_low) == (31.0, 18.0)
    assert medians["Maintained"].ci_high is None
    assert (medians["Nonmaintained"].median, medians["Nonmaintained"].ci_low) == (23.0, 8.0)
    assert medians["Nonmaintained"].ci_high is None


def test_km_medians_lifelines_definition(aml):
    """Same point medians; lifelines' log-log band gives other limits (13 for Maintained)."""
    result = kaplan_meier(aml, "time", "status", group="x", ci_method="log-log",
                          median_definition="lifelines")
    maintained = result.groups[0]
    assert maintained.group == "Maintained"
    lifelines = pytest.importorskip("lifelines")  # only a cross-check; R is the reference
    kmf = lifelines.KaplanMeierFitter().fit(
        [t for t, _ in MAINTAINED], [e for _, e in MAINTAINED]
    )
    assert maintained.median.median == kmf.median_survival_time_ == 31.0
    assert maintained.median.ci_low == 13.0
    assert maintained.median.ci_high is None
    assert result.groups[1].median.median == 23.0


def test_r_log_confidence_band_matches_r_summary(aml):
    """summary(survfit(Surv(time, status) ~ x, data = aml)), Maintained stratum (R default
    conf.type = "log"): survival, lower and upper 95 % CI at the event times."""
    expected = pd.DataFrame(
        [
            (9, 11, 0.909, 0.7541, 1.000),
            (13, 10, 0.818, 0.6192, 1.000),
            (18, 8, 0.716, 0.4884, 1.000),
            (23, 7, 0.614, 0.3769, 0.999),
            (31, 5, 0.491, 0.2549, 0.946),
            (34, 4, 0.368, 0.1549, 0.875),
            (48, 2, 0.184, 0.0359, 0.944),
        ],
        columns=["time", "at_risk", "survival", "ci_low", "ci_high"],
    )
    result = kaplan_meier(aml, "time", "status", group="x", ci_method="log")
    curve = result.groups[0].curve.set_index("time").loc[expected["time"]]
    assert curve["at_risk"].tolist() == expected["at_risk"].tolist()
    assert curve["survival"].round(3).tolist() == expected["survival"].tolist()
    assert curve["ci_low"].round(4).tolist() == expected["ci_low"].tolist()
    assert curve["ci_high"].round(3).tolist() == expected["ci_high"].tolist()


def test_log_log_band_is_lifelines_band(aml):
    maintained = aml[aml["x"] == "Maintained"]
    lifelines = pytest.importorskip("lifelines")
    kmf = lifelines.KaplanMeierFitter().fit(maintained["time"], maintained["status"])
    result = kaplan_meier(maintained, "time", "status", ci_method="log-log")
    curve = result.groups[0].curve
    band = kmf.confidence_interval_survival_function_
    inside = (curve["survival"] > 0) & (curve["survival"] < 1)  # R: NA at S = 0 and 1
    np.testing.assert_allclose(curve["ci_low"][inside], band.iloc[:, 0][inside.to_numpy()])
    np.testing.assert_allclose(curve["ci_high"][inside], band.iloc[:, 1][inside.to_numpy()])
    np.testing.assert_allclose(curve["survival"], kmf.survival_function_.iloc[:, 0])
    assert result.logrank is None


def test_survival_and_numbers_at_risk_at_chosen_times(aml):
    result = kaplan_meier(aml, "time", "status", group="x", times=[0, 12, 24, 36, 200])
    at = result.groups[0].at_times.set_index("time")
    assert at["at_risk"].tolist() == [11, 10, 6, 3, 0]
    assert at["cumulative_events"].tolist() == [0, 1, 4, 6, 7]
    assert at.loc[12.0, "survival"] == pytest.approx(10 / 11)
    assert at.loc[24.0, "survival"] == pytest.approx(10 / 11 * 9 / 10 * 7 / 8 * 6 / 7)
    assert np.isnan(at.loc[200.0, "survival"])  # beyond the last follow-up (161)
    json.dumps(result.to_dict(), allow_nan=False)


def test_r_median_midpoint_rule_on_a_flat_half():
    # S = 0.75, 0.5, 0.25, 0 at t = 1..4: R takes the middle of the flat at 0.5 -> 2.5
    assert r_style_median([1, 2, 3, 4], [1, 1, 1, 1]).median == 2.5
    result = kaplan_meier(pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 1, 1]}), "t", "e",
                          median_definition="lifelines")
    assert result.groups[0].median.median == 2.0  # lifelines: first time S <= 0.5
    # flat at 0.5 up to the end of follow-up: midpoint to the last time
    assert r_style_median([1, 2, 3, 4], [1, 1, 0, 0]).median == pytest.approx(3.0)


def test_median_not_reached_is_none():
    result = kaplan_meier(pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 0, 0, 0]}), "t", "e")
    assert result.groups[0].median.median is None
    assert r_style_median([1, 2, 3, 4], [1, 0, 0, 0]).median is None


def test_split_at_median_puts_ties_low():
    split = split_at_median(pd.Series([0.5, 0.793, 0.9, 1.2, np.nan, 0.793]))
    assert split.cutoff == pytest.approx(0.793)
    assert split.groups.tolist()[:4] == ["low", "low", "high", "high"]
    assert pd.isna(split.groups.iloc[4])
    assert split.groups.iloc[5] == "low"
    assert list(split.groups.cat.categories) == ["low", "high"]


def test_median_split_logrank_on_synthetic_cohort():
    """Fig. 3 style: the low-ratio group dies faster -> small log-rank P."""
    rng = np.random.default_rng(5)
    ratio = rng.uniform(0.3, 1.5, 200)
    hazard = np.where(ratio <= np.median(ratio), 1 / 15, 1 / 60)
    death = rng.exponential(1 / hazard)
    censor = rng.uniform(20, 80, 200)
    df = pd.DataFrame({"months": np.minimum(death, censor), "dead": death <= censor,
                       "ratio": ratio})
    df["ratio_group"] = split_at_median(df["ratio"]).groups
    result = kaplan_meier(df, "months", "dead", group="ratio_group", times=[12, 24, 36])
    assert [g.group for g in result.groups] == ["low", "high"]
    assert [g.n for g in result.groups] == [100, 100]
    assert result.logrank.p < 1e-4
    low, high = result.groups
    assert low.median.median < (high.median.median or np.inf)


def test_awkward_inputs_do_not_raise():
    df = pd.DataFrame({"t": [1.0, 2.0, np.nan, 4.0], "e": [0, 0, 1, 0], "g": ["a", "a", "b", "b"]})
    result = kaplan_meier(df, "t", "e", group="g")
    assert result.n_dropped == 1 and result.warnings
    assert result.logrank.p is None and "no events" in result.logrank.warnings[0]
    single = logrank(df.assign(g="a"), "t", "e", "g")
    assert single.chisq is None and single.warnings
    json.dumps(result.to_dict(), allow_nan=False)


# --- R survival reference values (tests/analysis/r/km_reference.R -> km_reference.json) ---

REFERENCE = json.loads((Path(__file__).parent / "r" / "km_reference.json").read_text())
CASES = {case["name"]: case for case in REFERENCE["cases"]}


def reference_frame(case) -> pd.DataFrame:
    """The R dataset in its original coding, the event read as R's Surv() reads it."""
    data = case["data"]
    status = pd.Series(data["status"], dtype="float")
    frame = pd.DataFrame(
        {
            "time": pd.Series(data["time"], dtype="float"),
            "event": (status == case["event_value"]).astype(float).where(status.notna()),
        }
    )
    if data["group"] is not None:
        frame["group"] = pd.Series(data["group"], dtype="object")
    return frame


def fit_reference(case, ci_method, median_definition="r"):
    grouped = case["data"]["group"] is not None
    return kaplan_meier(
        reference_frame(case),
        "time",
        "event",
        group="group" if grouped else None,
        times=case["times"],
        ci_method=ci_method,
        median_definition=median_definition,
    )


def as_nan(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("ci_method", CI_METHODS)
@pytest.mark.parametrize("name", list(CASES))
def test_medians_equal_r_exactly(name, ci_method):
    case = CASES[name]
    result = fit_reference(case, ci_method)
    expected = case["fits"][ci_method]
    assert [str(g.group) for g in result.groups] == [s["group"] for s in expected]
    for group, stratum in zip(result.groups, expected, strict=True):
        median = group.median
        assert (group.n, group.events) == (stratum["n"], stratum["events"])
        assert (median.median, median.ci_low, median.ci_high) == (
            stratum["median"],
            stratum["median_lower"],
            stratum["median_upper"],
        ), f"{name} {group.group} ({ci_method})"
        assert median.median_not_reached == (stratum["median"] is None)
        assert median.ci_high_not_reached == (stratum["median_upper"] is None)


@pytest.mark.parametrize("ci_method", CI_METHODS)
@pytest.mark.parametrize("name", list(CASES))
def test_survival_band_and_numbers_at_risk_equal_r_summary(name, ci_method):
    case = CASES[name]
    result = fit_reference(case, ci_method)
    for group, stratum in zip(result.groups, case["fits"][ci_method], strict=True):
        at = group.at_times.set_index("time").loc[stratum["times"]]
        assert at["at_risk"].tolist() == stratum["n_risk"]
        np.testing.assert_allclose(at["survival"], stratum["survival"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(at["ci_low"], as_nan(stratum["lower"]), rtol=0, atol=1e-6)
        np.testing.assert_allclose(at["ci_high"], as_nan(stratum["upper"]), rtol=0, atol=1e-6)
        json.dumps(group.to_dict(), allow_nan=False)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c["survdiff"]])
def test_logrank_equals_r_survdiff(name):
    case = CASES[name]
    expected = case["survdiff"]
    test = logrank(reference_frame(case), "time", "event", "group")
    assert test.df == expected["df"]
    assert test.chisq == pytest.approx(expected["chisq"], rel=1e-6)
    assert test.p == pytest.approx(expected["p"], rel=1e-6, abs=1e-4)
    assert [str(g) for g in test.groups["group"]] == expected["groups"]
    np.testing.assert_allclose(test.groups["observed"], expected["observed"])
    np.testing.assert_allclose(test.groups["expected"], expected["expected"], rtol=1e-6)


def test_k_group_logrank_has_k_minus_one_df():
    result = fit_reference(CASES["veteran by celltype"], "log")
    assert len(result.groups) == 4 and result.logrank.df == 3
    assert result.logrank.p == pytest.approx(1.2712e-05, rel=1e-3)


def test_one_two_coded_event_is_refused_not_read_as_all_deaths():
    case = CASES["lung by sex"]
    raw = reference_frame(case).assign(event=case["data"]["status"])  # 1 = alive, 2 = dead
    with pytest.raises(ValueError, match=r"'event'.*2 .*neither 0 \(censored\) nor 1"):
        kaplan_meier(raw, "time", "event", group="group")


def test_upper_limit_not_reached_where_curve_ends_at_zero_under_every_rule():
    """Arm B dies out (S = 0 at 12): R's band is NA there, so the upper limit is not
    reached; the lifelines rule used to read the band's 0 as reaching one half."""
    case = CASES["not reached by arm"]
    for rule in MEDIAN_DEFINITIONS:
        for ci_method in CI_METHODS:
            arm_b = fit_reference(case, ci_method, rule).groups[1].median
            assert arm_b.ci_high is None and arm_b.ci_high_not_reached, (rule, ci_method)
    arm_a = fit_reference(case, "log").groups[0].median
    assert arm_a.median_not_reached
    assert arm_a.describe() == "not reached (11 to not reached)"
    assert arm_a.to_dict()["median_not_reached"] is True


def test_sas_rule_equals_r_except_a_curve_ending_on_one_half():
    """JMP follows SAS PROC LIFETEST: the same midpoint, but no median when S stays at
    exactly one half to the last follow-up (R then takes the midpoint to that time)."""
    for case in CASES.values():
        r_fit = fit_reference(case, "log-log", "r")
        sas_fit = fit_reference(case, "log-log", "sas")
        for r_group, sas_group in zip(r_fit.groups, sas_fit.groups, strict=True):
            r_median, sas_median = r_group.median, sas_group.median
            assert (sas_median.median, sas_median.ci_low, sas_median.ci_high) == (
                r_median.median,
                r_median.ci_low,
                r_median.ci_high,
            ), case["name"]
    flat_to_end = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 0]})
    assert kaplan_meier(flat_to_end, "t", "e").groups[0].median.median == 3.0
    sas = kaplan_meier(flat_to_end, "t", "e", median_definition="sas").groups[0].median
    assert sas.median is None and sas.median_not_reached


def test_plain_band_is_truncated_to_zero_and_one():
    case = CASES["aml by x"]
    curve = fit_reference(case, "plain").groups[1].curve  # Nonmaintained dies out at 45
    assert curve["ci_low"].min() == 0.0 and curve["ci_high"].max() == 1.0
    assert np.isnan(curve["ci_low"].iloc[-1])  # S = 0: R's plain band is NaN there


def test_unknown_ci_method_and_median_rule_are_refused(aml):
    with pytest.raises(ValueError, match="ci_method"):
        kaplan_meier(aml, "time", "status", ci_method="arcsin")
    with pytest.raises(ValueError, match="median_definition"):
        kaplan_meier(aml, "time", "status", median_definition="spss")


def test_jmp_preset_gives_sas_proc_lifetest_medians():
    """PROC LIFETEST (whose conventions JMP's Survival platform follows) on R's kidney
    data by sex: medians 22 (12 to 30) and 130 (58 to 185), as quoted in analysis/options.py."""
    jmp = PRESETS["JMP"]
    result = fit_reference(CASES["kidney by sex"], jmp.km_ci, jmp.median)
    medians = [(g.median.median, g.median.ci_low, g.median.ci_high) for g in result.groups]
    assert medians == [(22.0, 12.0, 30.0), (130.0, 58.0, 185.0)]
