"""No silent errors (issue 13): an analysis with nothing to compute on is an error that
names the analysis and its variables; a plan that cannot mean what it says is refused;
one analysis's failure (in its runner, its rows or a sensitivity analysis) never touches
another's results, and the outcome says which analyses failed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import engine
from analysis.engine import diff_rows, row, run_plan
from analysis.plans import PlanError, validate_plan
from tests.analysis.builders import ANOVA, CORRELATIONS, PAIRED, cohort_frame

BASELINE = {"kind": "baseline_table", "name": "Table I", "variables": ["age_years", "sex"]}
KM = {"kind": "kaplan_meier", "name": "Median survival"}


def plan(*analyses, **extra) -> dict:
    return {"time": "dss_months", "event": "dss_event", "analyses": list(analyses), **extra}


def outcome_of(table, *analyses, **extra):
    return run_plan(table, plan(*analyses, **extra), figures=False)


def entry(outcome, name) -> dict:
    return next(r for r in outcome.results if r["name"] == name)


class TestNothingToComputeIsAnError:
    def test_a_paired_test_without_complete_pairs(self):
        table = cohort_frame(mir122_post_log10=np.nan)
        outcome = outcome_of(table, PAIRED, ANOVA)
        error = entry(outcome, "Fig. 1")["error"]
        assert error.startswith("Fig. 1: 0 complete pair(s)")
        assert "'mir122_pre_log10'" in error and "'mir122_post_log10'" in error
        assert outcome.errors == {"Fig. 1": error}
        assert not [r for r in outcome.rows if r["analysis"] == "Fig. 1"]
        assert entry(outcome, "Fig. 2")["error"] is None  # the other analysis is intact
        assert [r["analysis"] for r in outcome.rows] == ["Fig. 2"]

    def test_correlations_where_every_variable_has_fewer_than_three_pairs(self):
        table = cohort_frame(ast_iu_l=np.nan, albumin_g_dl=np.nan)
        table.loc[2:, "age_years"] = np.nan  # two pairs left
        outcome = outcome_of(table, CORRELATIONS)
        error = outcome.errors["Table II"]
        assert "Table II: no variable has the 3 complete pairs" in error
        assert "'mir122_pre_log10'" in error and "'age_years' n=2" in error
        assert outcome.rows == []

    def test_correlations_with_one_usable_variable_still_run(self):
        outcome = outcome_of(cohort_frame(ast_iu_l=np.nan, albumin_g_dl=np.nan), CORRELATIONS)
        assert outcome.errors == {}
        by_variable = {r["variable"]: r for r in outcome.rows}
        assert by_variable["age_years"]["n"] == 40 and by_variable["ast_iu_l"]["n"] == 0
        assert by_variable["ast_iu_l"]["warnings"]  # the missing variable says why

    def test_an_anova_with_one_group(self):
        outcome = outcome_of(cohort_frame(sex="male"), ANOVA)
        error = outcome.errors["Fig. 2"]
        assert error.startswith("Fig. 2: 'mir122_pre_log10' by 'sex' has 40 usable row(s)")
        assert "in 1 group(s)" in error

    def test_an_anova_without_values(self):
        outcome = outcome_of(cohort_frame(mir122_pre_log10=np.nan), ANOVA)
        assert "has 0 usable row(s) in 0 group(s)" in outcome.errors["Fig. 2"]

    def test_a_baseline_table_whose_values_are_all_missing(self):
        table = cohort_frame(age_years=np.nan, sex=pd.Series([None] * 40, dtype="object"))
        outcome = outcome_of(table, BASELINE, PAIRED)
        error = outcome.errors["Table I"]
        assert error == "Table I: every value of 'age_years', 'sex' is missing in its 40 rows"
        assert entry(outcome, "Fig. 1")["result"]["p"] is not None

    def test_a_baseline_table_on_no_rows(self):
        outcome = outcome_of(cohort_frame().iloc[:0], BASELINE)
        assert outcome.errors["Table I"].startswith("Table I: no rows to describe (0 rows")

    def test_a_run_where_all_succeed_has_no_errors(self):
        outcome = outcome_of(cohort_frame(), BASELINE, PAIRED, CORRELATIONS, ANOVA, KM)
        assert outcome.errors == {}
        assert all(r["error"] is None for r in outcome.results)


class TestPlansThatCannotMeanWhatTheySay:
    def test_a_paired_test_of_a_column_with_itself_is_refused(self):
        same = {**PAIRED, "after": "mir122_pre_log10"}
        with pytest.raises(PlanError) as caught:
            validate_plan(plan(same), cohort_frame())
        assert caught.value.problems == [
            "analysis 1 (Fig. 1): 'before' and 'after' are both 'mir122_pre_log10'; "
            "a paired t-test compares two different columns"
        ]

    @pytest.mark.parametrize(
        ("values", "shown"),
        [
            ([1, 2] * 20, "1, 2"),
            (["dead", "alive"] * 20, "'alive', 'dead'"),
            ([1.0, 2.0, np.nan, 1.0] * 10, "1.0, 2.0"),
        ],
        ids=["R's 1/2", "text", "1/2 with missing"],
    )
    def test_an_event_column_that_is_not_boolean_or_0_1_is_refused(self, values, shown):
        with pytest.raises(PlanError) as caught:
            validate_plan(plan(KM), cohort_frame(dss_event=values))
        (problem,) = caught.value.problems
        assert problem.startswith(
            f"survival event: column 'dss_event' (read by Median survival) holds {shown};"
        )
        assert "booleans or 0/1" in problem and "data dictionary" in problem

    @pytest.mark.parametrize(
        "values",
        [
            [0, 1] * 20,
            [0.0, 1.0, np.nan, 1.0] * 10,
            pd.array([True, False, None, True] * 10, dtype="boolean"),
            [True, False] * 20,
        ],
        ids=["0/1", "0/1 floats with missing", "nullable boolean", "bool"],
    )
    def test_booleans_and_0_1_are_events(self, values):
        validate_plan(plan(KM), cohort_frame(dss_event=values))

    def test_the_event_column_is_only_checked_when_survival_is_analysed(self):
        validate_plan(plan(PAIRED), cohort_frame(dss_event=["dead", "alive"] * 20))

    def test_a_family_must_be_a_name(self):
        with pytest.raises(PlanError, match=r"analysis 1 \(Fig. 1\): family 3 must be a name"):
            validate_plan(plan({**PAIRED, "family": 3}), cohort_frame())


class TestOneFailureStaysInItsAnalysis:
    def test_an_unexpected_exception_names_the_analysis_and_its_variables(self, monkeypatch):
        def broken(spec, frame, context):
            raise KeyError("boom")

        monkeypatch.setitem(engine.RUNNERS, "anova", broken)
        outcome = outcome_of(cohort_frame(), PAIRED, ANOVA, CORRELATIONS)
        assert outcome.errors == {
            "Fig. 2": "Fig. 2 (anova of mir122_pre_log10, sex): KeyError: 'boom'"
        }
        assert {r["analysis"] for r in outcome.rows} == {"Fig. 1", "Table II"}

    def test_rows_that_fail_while_being_built_are_the_analysis_error(self, monkeypatch):
        def lazy_rows(spec, frame, context):
            def rows():
                yield row(spec["name"], "first", "r", p=0.5)
                raise ValueError("the second row could not be made")

            return {"rows": []}, rows()

        monkeypatch.setitem(engine.RUNNERS, "correlations", lazy_rows)
        outcome = outcome_of(cohort_frame(), CORRELATIONS, PAIRED)
        assert "ValueError: the second row could not be made" in outcome.errors["Table II"]
        assert entry(outcome, "Table II")["result"] is None
        assert [r["analysis"] for r in outcome.rows] == ["Fig. 1"]  # no half of Table II

    def test_a_failing_sensitivity_analysis_leaves_the_primary_and_the_others(self, monkeypatch):
        real = engine._sensitivity

        def sometimes_broken(table, context, other, **gate):
            if other["name"] == "broken":
                raise RuntimeError("the gate could not be applied")
            return real(table, context, other, **gate)

        monkeypatch.setattr(engine, "_sensitivity", sometimes_broken)
        sensitivity = [{"name": "broken"}, {"name": "everyone", "qc_policy": "include_all"}]
        outcome = outcome_of(cohort_frame(), PAIRED, sensitivity=sensitivity)
        broken, everyone = outcome.qc["sensitivity"]
        assert broken["error"] == (
            "sensitivity analysis 'broken': RuntimeError: the gate could not be applied"
        )
        assert broken["rows"] == [] and broken["errors"] == {}
        assert everyone["error"] is None and everyone["rows"][0]["analysis"] == "Fig. 1"
        assert outcome.errors == {} and outcome.rows[0]["p"] is not None

    def test_a_sensitivity_analysis_reports_its_own_analysis_errors(self):
        table = cohort_frame()
        table.loc[:, "mir122_post_log10"] = np.nan
        sensitivity = [{"name": "again", "qc_policy": "include_all"}]
        outcome = outcome_of(table, PAIRED, ANOVA, sensitivity=sensitivity)
        (again,) = outcome.qc["sensitivity"]
        assert again["errors"]["Fig. 1"].startswith("Fig. 1: 0 complete pair(s)")
        assert [r["analysis"] for r in again["rows"]] == ["Fig. 2"]


class TestDiffByQ:
    def r(self, p, q=None, *, estimate=0.3, with_q=True):
        made = row("Table II", "ast_iu_l", "r", n=40, estimate=estimate, p=p, q=q)
        if not with_q:
            del made["q"]
        return made

    def test_a_q_value_that_crossed_0_05_is_reported_beside_the_p_crossings(self):
        diff = diff_rows([self.r(0.01, 0.04)], [self.r(0.012, 0.06)])
        assert diff["crossed_0_05"] == []  # P stayed below 0.05
        (crossed,) = diff["crossed_0_05_by_q"]
        assert crossed == {
            "analysis": "Table II",
            "variable": "ast_iu_l",
            "statistic": "r",
            "old_p": 0.01,
            "new_p": 0.012,
            "old_q": 0.04,
            "new_q": 0.06,
            "now": "not significant",
        }
        (moved,) = diff["moved"]
        assert moved["old_q"] == 0.04 and moved["new_q"] == 0.06

    def test_a_p_crossing_carries_the_q_values(self):
        diff = diff_rows([self.r(0.04, 0.2)], [self.r(0.06, 0.3)])
        (crossed,) = diff["crossed_0_05"]
        assert crossed["now"] == "not significant"
        assert (crossed["old_q"], crossed["new_q"]) == (0.2, 0.3)
        assert diff["crossed_0_05_by_q"] == []

    def test_a_q_that_moved_alone_is_a_moved_number(self):
        diff = diff_rows([self.r(0.01, 0.03)], [self.r(0.01, 0.02)])
        assert len(diff["moved"]) == 1 and diff["crossed_0_05_by_q"] == []

    def test_rows_of_a_run_before_q_values_are_not_flagged(self):
        diff = diff_rows([self.r(0.01, with_q=False)], [self.r(0.01, 0.04)])
        assert diff["moved"] == [] and diff["crossed_0_05_by_q"] == []
        assert set(diff) == {"moved", "crossed_0_05", "crossed_0_05_by_q", "added", "removed"}
