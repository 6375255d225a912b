"""The QC gate on the demo cohort, end to end: the contaminated-NTC plate, the spike-in
failure and the haemolysed draws are flagged, left out by the default policy and named
in the export and the report; a patient without a PRE draw is counted in the flow and
kept out of Table I; an installed plan gets the gate by migration."""

from __future__ import annotations

import importlib
import io

import pytest
from django.apps import apps as django_apps

from analysis.cohort import read_cohort_csv
from analysis.services import analysis_run, load_cohort
from biobank.models import Well
from tests.factories import PatientFactory, TreatmentFactory

pytestmark = pytest.mark.django_db

CONTAMINATED = "DEMO-QP-0011"


def contaminated_patients() -> set[str]:
    """Worked out from the wells, not from the QC: whose RT products sit on the plate
    whose NTCs amplified."""
    plate_wells = Well.objects.filter(plate__barcode=CONTAMINATED, kind="sample")
    ntc = Well.objects.filter(plate__barcode=CONTAMINATED, kind="ntc")
    assert ntc.count() == 3 and all(12.8 <= w.cq <= 13.3 for w in ntc)
    return set(
        plate_wells.values_list(
            "sample__rna__isolation__aliquot__draw__patient__study_id", flat=True
        )
    )


def test_the_contaminated_plate_fails_in_the_cohort_and_the_export(demo, client, analyst):
    patients = contaminated_patients()
    assert len(patients) == 5
    table = load_cohort().set_index("study_id")
    for study_id in patients:
        for mir in ("mir122", "mir21"):
            statuses = {table.loc[study_id, f"{mir}_pre_qc"], table.loc[study_id, f"{mir}_post_qc"]}
            assert "fail" in statuses
    client.force_login(analyst)
    response = client.get("/api/v1/export/cohort.csv")
    exported = read_cohort_csv(io.BytesIO(b"".join(response.streaming_content)))
    exported = exported.set_index("study_id")
    study_id = sorted(patients)[0]
    failing = [
        c for c in exported.columns if c.endswith("_qc") and exported.loc[study_id, c] == "fail"
    ]
    assert failing
    reasons = exported.loc[study_id, failing[0] + "_reasons"]
    assert f"NTC amplified on plate {CONTAMINATED}" in reasons
    # The measured value is exported as measured: the plan decides.
    assert exported.loc[study_id, failing[0].replace("_qc", "_dcq")] == pytest.approx(
        table.loc[study_id, failing[0].replace("_qc", "_dcq")]
    )


def test_the_default_policy_leaves_the_failures_out_and_the_report_names_them(
    demo, plan, client, analyst
):
    patients = contaminated_patients()
    run = analysis_run(plan=plan, trigger="command")
    assert run.status == "succeeded", run.error
    left_out = {(m["study_id"], m["mir"]) for m in run.qc["excluded_measurements"]}
    assert {(p, "mir122") for p in patients} <= left_out
    assert run.qc["policy"] == "exclude_fail"
    spike = [s for s in run.qc["spike_in"] if s["outlier"]]
    assert len(spike) == 1
    assert (spike[0]["study_id"], "mir21") in left_out
    high = {h["study_id"] for h in run.qc["haemolysis"] if h["status"] == "fail"}
    assert len(high) == 3 and all((p, "mir21") in left_out for p in high)

    # Fig. 1 is the paired test on miR-122: it lost every patient with a value left out.
    lost = {p for p, mir in left_out if mir == "mir122"}
    fig1 = next(r for r in run.rows if r["analysis"] == "Fig. 1")
    assert fig1["n"] == 75 - len(lost)
    everything = next(s for s in run.qc["sensitivity"] if s["policy"] == "include_all")
    assert next(r for r in everything["rows"] if r["analysis"] == "Fig. 1")["n"] == 75

    client.force_login(analyst)
    page = client.get(f"/analysis/runs/{run.pk}/").content.decode()
    assert CONTAMINATED in page
    assert "NTC amplified on plate" in page
    assert sorted(patients)[0] in page
    assert "Sensitivity analyses" in page and "All measurements" in page
    assert "<svg" in run.figures["qc:flow"]


def test_a_patient_without_a_pre_draw_is_counted_in_the_flow_not_in_table_one(demo, plan):
    TreatmentFactory(patient=PatientFactory(study_id="DEMO-9999"), is_initial=True)
    table = load_cohort().set_index("study_id")
    assert len(table) == 76
    assert not table.loc["DEMO-9999", "pre_drawn"]
    run = analysis_run(plan=plan, trigger="command")
    table_one = next(r for r in run.results if r["name"] == "Table I")
    assert table_one["n_rows"] == 75
    flow = {step["step"]: step for step in run.qc["flow"]}
    assert flow["Consent held"]["n"] == 76
    assert {"study_id": "DEMO-9999", "reason": "no baseline assessment"} in (
        flow["Consent held"]["left_out"]
    )
    assert flow["Analysed"]["n"] == 75


def test_the_migration_gives_an_installed_plan_the_gate_and_keeps_a_curators(plan):
    migration = importlib.import_module("analysis.migrations.0005_paper_plan_qc_gate")
    bare = {
        k: v for k, v in plan.spec.items() if k not in ("qc_policy", "inclusion", "sensitivity")
    }
    plan.spec = {**bare, "qc_policy": "include_all"}
    plan.save()
    migration.add_gate(django_apps, None)
    plan.refresh_from_db()
    assert plan.spec["qc_policy"] == "include_all"  # the curator's choice stays
    assert plan.spec["inclusion"] == ["baseline_present", "pre_drawn", "post_drawn"]
    assert [s["name"] for s in plan.spec["sensitivity"]][0] == "All measurements"


def test_the_api_gives_a_runs_gate(demo, plan, client, analyst):
    run = analysis_run(plan=plan, trigger="command")
    client.force_login(analyst)
    body = client.get(f"/api/v1/analysis-runs/{run.pk}/").json()
    assert body["qc"]["policy"] == "exclude_fail"
    assert body["qc"]["flow"][-1]["step"] == "Analysed"
