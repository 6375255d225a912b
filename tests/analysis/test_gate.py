"""The QC gate (analysis.gate) and its place in run_plan: policies, inclusion criteria,
the patient flow and sensitivity analyses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.engine import run_plan
from analysis.gate import apply_gate, patient_flow
from analysis.plans import PlanError, columns_used
from analysis.qc_figures import patient_flow_svg


def cohort(n: int = 40, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pre = rng.normal(12.0, 1.5, n)
    post = pre + rng.normal(0.6, 0.8, n)
    table = pd.DataFrame(
        {
            "study_id": [f"P{i:02d}" for i in range(n)],
            "baseline_present": True,
            "pre_drawn": True,
            "post_drawn": True,
            "mir122_pre_dcq": pre,
            "mir122_post_dcq": post,
            "mir122_pre_log10": -pre * np.log10(2),
            "mir122_post_log10": -post * np.log10(2),
            "mir122_ratio": post / pre,
            "mir122_fold_change": np.exp2(-(post - pre)),
            "mir122_pre_qc": "pass",
            "mir122_pre_qc_reasons": pd.NA,
            "mir122_pre_qc_rules": pd.NA,
            "mir122_post_qc": "pass",
            "mir122_post_qc_reasons": pd.NA,
            "mir122_post_qc_rules": pd.NA,
            "dss_months": rng.exponential(40, n).round(2),
            "dss_event": rng.random(n) < 0.6,
        }
    )
    table = table.astype(
        {c: "string" for c in table.columns if "_qc" in c} | {"study_id": "string"}
    )
    # P00: NTC failure before TACE; P01: a borderline haemolysis warning after it;
    # P02: a slightly haemolysed draw (warn); P03 has no PRE draw and no baseline.
    table.loc[0, ["mir122_pre_qc", "mir122_pre_qc_reasons", "mir122_pre_qc_rules"]] = [
        "fail", "hsa-miR-122-5p: NTC amplified on plate QP-3 (Cq 12.90)", "ntc",
    ]  # fmt: skip
    table.loc[1, ["mir122_post_qc", "mir122_post_qc_reasons", "mir122_post_qc_rules"]] = [
        "warn", "haemolysis index 6.00 (5-7: borderline)", "haemolysis_index",
    ]  # fmt: skip
    table.loc[2, ["mir122_pre_qc", "mir122_pre_qc_reasons", "mir122_pre_qc_rules"]] = [
        "warn", "tube T thawed 2 times (limit 1)", "freeze_thaw",
    ]  # fmt: skip
    table.loc[3, ["pre_drawn", "baseline_present"]] = False
    table.loc[3, ["mir122_pre_dcq", "mir122_pre_log10", "mir122_ratio", "mir122_fold_change"]] = (
        np.nan
    )
    table.loc[3, "mir122_pre_qc"] = pd.NA
    return table


PAIRED = {"kind": "paired_t_test", "name": "Fig. 1", "before": "mir122_pre_log10",
          "after": "mir122_post_log10"}  # fmt: skip
KM = {"kind": "kaplan_meier", "name": "Fig. 3", "split": {"column": "mir122_ratio", "at": "median"}}
TABLE_I = {"kind": "baseline_table", "name": "Table I", "variables": ["mir122_pre_dcq"]}


def plan(**gate) -> dict:
    return {"time": "dss_months", "event": "dss_event", "analyses": [TABLE_I, PAIRED, KM], **gate}


def test_exclude_fail_leaves_out_failed_values_and_the_ratio_that_needs_them():
    gated = apply_gate(cohort(), policy="exclude_fail")
    row = gated.table.set_index("study_id").loc["P00"]
    assert np.isnan(row["mir122_pre_dcq"]) and np.isnan(row["mir122_pre_log10"])
    assert np.isnan(row["mir122_ratio"]) and np.isnan(row["mir122_fold_change"])
    assert not np.isnan(row["mir122_post_dcq"])  # the POST value passed
    assert gated.excluded_measurements == [
        {"study_id": "P00", "timepoint": "PRE", "mir": "mir122", "status": "fail",
         "reasons": "hsa-miR-122-5p: NTC amplified on plate QP-3 (Cq 12.90)", "rules": "ntc"}
    ]  # fmt: skip
    # The warnings pass under this policy.
    assert not np.isnan(gated.table.set_index("study_id").loc["P01", "mir122_post_dcq"])


def test_exclude_fail_warn_and_include_all():
    strict = apply_gate(cohort(), policy="exclude_fail_warn")
    assert {(m["study_id"], m["timepoint"]) for m in strict.excluded_measurements} == {
        ("P00", "PRE"), ("P01", "POST"), ("P02", "PRE"),
    }  # fmt: skip
    everything = apply_gate(cohort(), policy="include_all")
    assert everything.excluded_measurements == []
    pd.testing.assert_frame_equal(everything.table, cohort())


def test_rule_families_leave_out_whatever_the_status():
    gated = apply_gate(cohort(), policy="include_all", exclude_rules=["haemolysis"])
    assert [(m["study_id"], m["timepoint"]) for m in gated.excluded_measurements] == [
        ("P01", "POST")
    ]


def test_inclusion_criteria_list_who_is_left_out_and_why():
    gated = apply_gate(cohort(), inclusion=["baseline_present", "pre_drawn", "post_drawn"])
    assert "P03" not in set(gated.table["study_id"])
    assert gated.excluded_patients == [
        {"study_id": "P03", "reason": "no baseline assessment", "criterion": "baseline_present"}
    ]
    assert len(gated.table) == 39


def test_the_flow_counts_every_patient_at_every_step():
    table = cohort()
    inclusion = ["baseline_present", "pre_drawn"]
    gated = apply_gate(table, inclusion=inclusion)
    flow = patient_flow(table, gated, inclusion=inclusion, withdrawn=2)
    assert [(s["step"], s["n"]) for s in flow] == [
        ("Enrolled", 42), ("Consent held", 40), ("Baseline recorded", 39), ("PRE drawn", 39),
        ("All measurements passed QC", 38), ("Analysed", 39),
    ]  # fmt: skip
    assert [p["reason"] for p in flow[0]["left_out"]] == ["consent withdrawn"] * 2
    assert flow[1]["left_out"] == [{"study_id": "P03", "reason": "no baseline assessment"}]
    assert flow[3]["left_out"] == [{"study_id": "P00", "reason": "QC: NTC amplified"}]
    assert flow[-1]["note"] == "1 with measurements left out by QC"
    drawn = patient_flow_svg(flow)
    assert "QC: NTC amplified: 1" in drawn and "1 with measurements left out by QC" in drawn


def test_a_patient_without_a_pre_draw_is_out_of_table_one_and_the_paired_test():
    outcome = run_plan(cohort(), plan(inclusion=["pre_drawn"]), figures=False)
    table_one = next(r for r in outcome.results if r["name"] == "Table I")
    assert table_one["n_rows"] == 39
    paired = next(r for r in outcome.rows if r["analysis"] == "Fig. 1")
    assert paired["n"] == 38  # P03 (no PRE draw) and P00 (PRE failed QC)
    assert outcome.qc["excluded_patients"][0]["study_id"] == "P03"
    assert outcome.qc["flow"][-1]["n"] == 39


def test_default_policy_is_exclude_fail_and_is_recorded():
    outcome = run_plan(cohort(), plan(), figures=False)
    assert outcome.qc["policy"] == "exclude_fail"
    assert outcome.qc["available"] is True
    assert outcome.qc["status_counts"] == {"pass": 76, "warn": 2, "fail": 1}
    paired = next(r for r in outcome.rows if r["analysis"] == "Fig. 1")
    assert paired["n"] == 38


def test_a_sensitivity_analysis_equals_the_primary_run_on_the_filtered_cohort():
    table = cohort()
    spec = plan(
        sensitivity=[
            {"name": "All measurements", "qc_policy": "include_all",
             "analyses": ["Fig. 1", "Fig. 3"]},
            {"name": "Without haemolysed draws", "exclude_rules": ["haemolysis"]},
        ]
    )  # fmt: skip
    outcome = run_plan(table, spec, figures=False)
    everything, no_haemolysis = outcome.qc["sensitivity"]
    assert everything["analyses"] == ["Fig. 1", "Fig. 3"]
    alone = run_plan(table, plan(qc_policy="include_all"), figures=False)
    wanted = [r for r in alone.rows if r["analysis"] in ("Fig. 1", "Fig. 3")]
    assert everything["rows"] == wanted
    filtered = apply_gate(table, exclude_rules=["haemolysis"]).table
    by_hand = run_plan(filtered, plan(qc_policy="include_all"), figures=False)
    assert no_haemolysis["rows"] == by_hand.rows
    assert next(r for r in no_haemolysis["rows"] if r["analysis"] == "Fig. 1")["n"] == 37
    primary_fig1 = next(r for r in outcome.rows if r["analysis"] == "Fig. 1")
    assert (primary_fig1["n"], everything["rows"][0]["n"]) == (38, 39)  # P00's PRE is back


def test_a_cohort_without_qc_columns_says_so():
    table = cohort().drop(columns=[c for c in cohort().columns if "_qc" in c])
    outcome = run_plan(table, plan(), figures=False)
    assert outcome.qc["available"] is False
    assert outcome.qc["excluded_measurements"] == []


@pytest.mark.parametrize(
    "gate, message",
    [
        ({"qc_policy": "lenient"}, "qc_policy 'lenient' is not one of"),
        ({"inclusion": ["consented"]}, "inclusion 'consented' is not one of"),
        ({"sensitivity": [{"name": "x", "analyses": ["Fig. 9"]}]}, "analysis 'Fig. 9' is not"),
        ({"sensitivity": [{"name": "x", "qc_policy": "lenient"}]}, "qc_policy 'lenient' is"),
    ],
)
def test_bad_gates_are_refused_by_name(gate, message):
    with pytest.raises(PlanError, match=message):
        run_plan(cohort(), plan(**gate), figures=False)


def test_inclusion_on_a_table_without_the_column_is_refused():
    with pytest.raises(PlanError, match="inclusion 'pre_drawn' needs the column"):
        run_plan(cohort().drop(columns="pre_drawn"), plan(inclusion=["pre_drawn"]), figures=False)


def test_the_fingerprint_covers_the_qc_columns_of_the_values_read():
    used = columns_used(plan(inclusion=["pre_drawn"]), cohort().columns)
    assert {"mir122_pre_qc", "mir122_post_qc", "mir122_pre_qc_rules", "pre_drawn"} <= set(used)
    assert "mir122_pre_qc_reasons" not in used


def test_a_sensitivity_analysis_reuses_the_cox_models_its_gate_left_untouched(monkeypatch):
    """Table IV again under another gate: a model whose columns the gate did not change
    (age) is the primary run's model, one that reads a gated value (the ratio) is fitted
    again; the rows are those of the plan run on its own under that gate."""
    from analysis import engine

    table = cohort().assign(age=np.random.default_rng(5).normal(65, 8, 40).round())
    cox = {"kind": "cox", "name": "Table IV", "terms": [
        {"column": "age", "cutoff": 65, "label": "Age > 65"},
        {"column": "mir122_ratio", "cutoff": "median", "label": "Ratio <= median",
         "low_is_one": True}]}  # fmt: skip
    spec = {**plan(), "analyses": [cox],
            "sensitivity": [{"name": "All measurements", "qc_policy": "include_all"}]}  # fmt: skip
    fitted = []
    real = engine.cox_multivariate
    monkeypatch.setattr(engine, "cox_multivariate",
                        lambda *args, **kwargs: fitted.append(args[3]) or real(*args, **kwargs))  # fmt: skip
    outcome = run_plan(table, spec, figures=False)
    assert [[t.label for t in terms] for terms in fitted] == [
        ["Age > 65"], ["Ratio <= median"], ["Ratio <= median"]
    ]
    alone = run_plan(table, {**spec, "qc_policy": "include_all", "sensitivity": []}, figures=False)
    (sensitivity,) = outcome.qc["sensitivity"]
    assert sensitivity["rows"] == alone.rows
    age = [r for r in outcome.rows + sensitivity["rows"] if r["variable"] == "Age > 65"]
    assert len(age) == 2 and age[0] == age[1]
