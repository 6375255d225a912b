"""The engine's Kaplan-Meier runner: the plan's options, splits at the median, at a number
or by levels, cut-offs identical to Cox's, human labels, and errors that stay local."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.dictionary import ColumnInfo, DataDictionary
from analysis.engine import RunContext, run_plan
from analysis.options import resolve_options
from analysis.plans import PlanError, validate_plan
from analysis.stats.cox import CoxTerm, encode_terms

REFERENCE = json.loads((Path(__file__).parent / "r" / "km_reference.json").read_text())
CASES = {case["name"]: case for case in REFERENCE["cases"]}


@pytest.fixture
def lung():
    """R's lung data: status 1/2 recoded 0/1 (as a declared coding would), ph.ecog with
    its one missing value."""
    case = CASES["lung by ph.ecog"]
    return pd.DataFrame(
        {
            "study_id": range(len(case["data"]["time"])),
            "days": case["data"]["time"],
            "dead": [int(s == 2) for s in case["data"]["status"]],
            "ecog": pd.to_numeric(pd.Series(case["data"]["group"], dtype="object")),
        }
    )


def run(table, analyses, *, options=None, dictionary=None):
    plan = {"time": "days", "event": "dead", "analyses": analyses}
    if options:
        plan["options"] = options
    outcome = run_plan(table, plan, figures=False, dictionary=dictionary)
    return {entry["name"]: entry for entry in outcome.results}, outcome.rows


def km(name, **extra):
    return {"kind": "kaplan_meier", "name": name, **extra}


def test_split_by_levels_runs_k_group_logrank_with_labels(lung):
    dictionary = DataDictionary(
        {"ecog": ColumnInfo("ecog", type="categorical", label="ECOG", levels=(3.0, 2.0, 1.0, 0.0))}
    )
    results, rows = run(
        lung, [km("By ECOG", split={"column": "ecog", "at": "levels"})], dictionary=dictionary
    )
    result = results["By ECOG"]["result"]
    assert results["By ECOG"]["error"] is None
    assert [g["label"] for g in result["groups"]] == ["ECOG: 3", "ECOG: 2", "ECOG: 1", "ECOG: 0"]
    expected = CASES["lung by ph.ecog"]["survdiff"]
    test = result["logrank"]
    assert test["df"] == 3 == expected["df"]
    assert test["chisq"] == pytest.approx(expected["chisq"], rel=1e-9)
    assert result["split"]["at"] == "levels" and result["split"]["cutoff"] is None
    logrank_row = next(r for r in rows if r["statistic"] == "log-rank chi-square")
    assert logrank_row["details"]["df"] == 3
    single = next(r for r in rows if r["details"].get("label") == "ECOG: 3")
    assert single["details"]["ci_high_not_reached"] is True  # one patient: R prints NA
    assert "not reached" in single["details"]["text"]


def test_median_split_is_data_derived_and_labelled(lung):
    dictionary = DataDictionary({"ecog": ColumnInfo("ecog", label="ECOG score")})
    results, rows = run(
        lung,
        [km("Median", split={"column": "ecog"}), km("Fixed", split={"column": "ecog", "at": 0})],
        dictionary=dictionary,
    )
    median = results["Median"]["result"]["split"]
    assert (median["cutoff"], median["cutoff_source"]) == (1.0, "data-derived")
    fixed = results["Fixed"]["result"]
    assert (fixed["split"]["cutoff"], fixed["split"]["cutoff_source"]) == (0.0, "pre-specified")
    assert [g["label"] for g in fixed["groups"]] == ["ECOG score ≤ 0", "ECOG score > 0"]
    fixed_rows = [r for r in rows if r["analysis"] == "Fixed"]
    assert {r["details"]["cutoff_source"] for r in fixed_rows} == {"pre-specified"}
    assert fixed_rows[0]["variable"] == "ecog low"  # stable key for run-to-run diffs


def test_median_cutoff_equals_cox_term_cutoff_with_missing_survival():
    """High marker values are the ones without follow-up: a median over every row (0.9)
    differs from the median over the rows with time and event (0.5), which Cox uses."""
    rng = np.random.default_rng(13)
    n = 60
    marker = np.round(rng.uniform(0, 1, n), 3)
    months = rng.exponential(30, n)
    dead = rng.integers(0, 2, n).astype(float)
    top = np.argsort(marker)[-20:]
    months[top[:12]] = np.nan
    dead[top[12:]] = np.nan
    table = pd.DataFrame({"study_id": range(n), "days": months, "dead": dead, "marker": marker})
    table.loc[3, "marker"] = np.nan
    results, _ = run(table, [km("Split", split={"column": "marker", "at": "median"})])
    km_cutoff = results["Split"]["result"]["split"]["cutoff"]
    _, codings = encode_terms(table, "days", "dead", [CoxTerm("marker", at_median=True)])
    assert km_cutoff == codings["marker"][0]
    assert km_cutoff != pytest.approx(table["marker"].median())


def test_plan_options_choose_band_and_median_rule(lung):
    results, rows = run(lung, [km("All")], options={"preset": "JMP"})
    result = results["All"]["result"]
    assert (result["ci_method"], result["median_definition"]) == ("log-log", "sas")
    assert result["confidence"] == 0.95
    expected = CASES["lung overall"]["fits"]["log-log"][0]
    assert (rows[0]["estimate"], rows[0]["ci_low"], rows[0]["ci_high"]) == (
        expected["median"],
        expected["median_lower"],
        expected["median_upper"],
    )
    r_result, _ = run(lung, [km("All")], options={"preset": "R", "confidence": 0.9})
    assert r_result["All"]["result"]["ci_method"] == "log"
    assert r_result["All"]["result"]["confidence"] == 0.9


def test_default_options_are_r_survival(lung):
    context = RunContext({"analyses": []}, resolve_options({"analyses": []}))
    assert (context.options.km_ci, context.options.median) == ("log", "r")
    _, rows = run(lung, [km("All")])
    expected = CASES["lung overall"]["fits"]["log"][0]
    assert (rows[0]["estimate"], rows[0]["ci_low"], rows[0]["ci_high"]) == (310.0, 285.0, 363.0)
    assert rows[0]["ci_high"] == expected["median_upper"]


def test_zero_usable_rows_is_that_analysis_error_only(lung):
    """A subgroup whose rows have no follow-up time: that analysis fails, naming why;
    the others run. (A text event column never gets this far: validate_plan refuses it.)"""
    no_times = lung.assign(days=lung["days"].where(lung["ecog"] != 3.0), days_ok=lung["days"])
    results, rows = run(
        no_times,
        [
            km("ECOG 3", subgroup={"ecog": 3.0}),
            {"kind": "anova", "name": "ANOVA", "value": "days_ok", "group": "ecog"},
        ],
    )
    assert results["ECOG 3"]["result"] is None
    assert "no usable rows" in results["ECOG 3"]["error"]
    assert results["ANOVA"]["error"] is None and results["ANOVA"]["result"]
    assert not [r for r in rows if r["analysis"] == "ECOG 3"]


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"column": "ecog", "at": "tertiles"}, "'at' must be"),
        ({"column": "study_id", "at": "levels"}, "too many curves"),
        ({"column": "nowhere", "at": "levels"}, "unknown variable 'nowhere'"),
        ({"at": "median"}, "split: an object"),
    ],
)
def test_validation_refuses_splits_that_cannot_run(lung, split, message):
    plan = {"time": "days", "event": "dead", "analyses": [km("KM", split=split)]}
    with pytest.raises(PlanError, match=message):
        validate_plan(plan, lung)


def test_validation_accepts_levels_of_a_text_column_and_checks_times(lung):
    table = lung.assign(arm=np.where(lung["ecog"] > 1, "poor", "good"))
    plan = {"time": "days", "event": "dead",
            "analyses": [km("KM", split={"column": "arm", "at": "levels"}, times=[0, 365])]}  # fmt: skip
    validate_plan(plan, table)
    plan["analyses"][0]["times"] = [-1, "a"]
    with pytest.raises(PlanError, match="times must be a list of numbers >= 0"):
        validate_plan(plan, table)
