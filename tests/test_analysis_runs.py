"""Plans and runs end to end on the synthetic demo cohort: the report, provenance,
fingerprints, diffs, bad plans, and the export/import round trip."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.cohort import read_cohort_csv
from analysis.models import AnalysisPlan, AnalysisRun, CohortDataset
from analysis.services import analysis_run, cohort_dataset_import, load_cohort
from biobank.models import FollowUp, Patient
from biobank.services.patients import patient_withdraw

pytestmark = pytest.mark.django_db


def small_plan(**analysis):
    return {"time": "dss_months", "event": "dss_event", "analyses": [analysis]}


def run_rows(run):
    return {(r["analysis"], r["variable"], r["statistic"]): r for r in (run.same_as or run).rows}


class TestCohortTable:
    def test_one_row_a_consenting_patient_with_explicit_missing_values(self, demo):
        table = load_cohort()
        assert len(table) == 75 and table["study_id"].is_unique
        assert table["hba1c_percent"].isna().sum() == 5  # missing, never zero
        assert not (table["hba1c_percent"] == 0).any()
        assert set(table["child_pugh_grade"].dropna()) <= {"A", "B"}
        assert table["dss_months"].notna().all() and table["dss_event"].notna().all()
        patient_withdraw(
            patient=Patient.objects.first(), withdrawn_on=dt.date(2016, 1, 1), reason="asked"
        )
        assert len(load_cohort()) == 74

    def test_dss_counts_only_hcc_deaths_as_events(self, demo):
        table = load_cohort().set_index("study_id")
        last = {
            f.patient.study_id: f
            for f in FollowUp.objects.select_related("patient").order_by("contact_date")
        }
        for study_id, follow_up in last.items():
            expected = follow_up.status == "dead" and follow_up.cause_of_death == "hcc"
            assert bool(table.loc[study_id, "dss_event"]) is expected

    def test_the_demo_shows_the_papers_direction_of_effect(self, demo, plan):
        run = analysis_run(plan=plan, trigger="command")
        rows = run_rows(run)
        fig1 = rows[("Fig. 1", "mir122_post_log10 - mir122_pre_log10", "mean difference")]
        assert fig1["estimate"] < 0 and fig1["p"] < 0.05  # miR-122 falls after TACE


class TestRuns:
    def test_default_plan_runs_with_provenance(self, demo, plan):
        run = analysis_run(plan=plan, trigger="command")
        assert run.status == "succeeded", run.error
        assert len(run.fingerprint) == 64 and run.n_patients == 75
        assert {"numpy", "pandas", "scipy"} <= set(run.versions)
        assert {entry["name"] for entry in run.results} >= {
            "Table I",
            "Table II",
            "Fig. 3",
            "Table IV",
        }
        assert not [entry for entry in run.results if entry["error"]]
        assert "Fig. 3" in run.figures and run.figures["Fig. 3"].lstrip().startswith("<?xml")

    def test_unchanged_data_is_not_computed_again(self, demo, plan):
        first = analysis_run(plan=plan, trigger="command")
        second = analysis_run(plan=plan, trigger="command")
        assert second.status == "unchanged" and second.same_as == first
        assert second.results == [] and second.fingerprint == first.fingerprint

    def test_a_follow_up_change_shows_in_the_diff(self, demo, plan):
        first = analysis_run(plan=plan, trigger="command")
        table = load_cohort()
        in_fig3 = table.loc[table["mir122_ratio"].notna(), "study_id"]
        clean = table.loc[
            table["mir122_pre_qc"].eq("pass") & table["mir122_post_qc"].eq("pass"), "study_id"
        ]
        death = FollowUp.objects.filter(
            status="dead",
            cause_of_death="hcc",
            patient__liver_background="cirrhosis",
            patient__study_id__in=set(in_fig3) & set(clean),  # a patient Fig. 3 analyses
        )
        death = death.order_by("patient__study_id").first()
        death.cause_of_death = "other"  # a curator corrects the cause of death
        death.save()
        second = analysis_run(plan=plan, trigger="data_change")
        assert second.status == "succeeded" and second.fingerprint != first.fingerprint
        assert second.previous == first
        moved = {(m["analysis"], m["variable"]) for m in second.diff["moved"]}
        assert ("Median survival", "all patients") in moved or (
            "Table IV univariate",
            "Sex (male vs female)",
        ) in moved
        events_before = run_rows(first)[("Fig. 3", "mir122_ratio", "log-rank chi-square")][
            "estimate"
        ]
        events_after = run_rows(second)[("Fig. 3", "mir122_ratio", "log-rank chi-square")][
            "estimate"
        ]
        assert events_before != events_after

    @pytest.mark.parametrize(
        ("analysis", "message"),
        [
            (
                {
                    "kind": "correlations",
                    "name": "x",
                    "expression": "mir122_pre_log10",
                    "variables": ["no_such"],
                },
                "unknown variable 'no_such'",
            ),
            (
                {"kind": "cox", "name": "x", "terms": [{"column": "etiology", "cutoff": 3}]},
                "'etiology' is not numeric",
            ),
            (
                {
                    "kind": "anova",
                    "name": "x",
                    "value": "mir122_pre_log10",
                    "group": "sex",
                    "subgroup": {"liver_background": "none such"},
                },
                "is empty",
            ),
        ],
        ids=["unknown variable", "cut-off on text", "empty subgroup"],
    )
    def test_bad_plans_fail_with_the_error_on_the_run(self, demo, analysis, message):
        bad = AnalysisPlan.objects.create(name="bad", title="bad", spec=small_plan(**analysis))
        run = analysis_run(plan=bad, trigger="command")
        assert run.status == "failed" and message in run.error

    def test_analyse_command_json(self, demo, capsys):
        call_command("analyse", "--json")
        payload = json.loads(capsys.readouterr().out)
        assert payload["status"] == "succeeded"
        first = payload["results"][0]
        assert set(first) == {
            "analysis",
            "variable",
            "statistic",
            "n",
            "estimate",
            "ci_low",
            "ci_high",
            "p",
            "q",
            "warnings",
            "details",
        }
        assert payload["qc"]["policy"] == "exclude_fail"
        assert payload["qc"]["excluded_measurements"]  # the demo's NTC plate, at least

    def test_analyse_json_gives_everything_the_report_shows(self, demo, plan, capsys):
        call_command("analyse", "--json")
        first = json.loads(capsys.readouterr().out)
        death = FollowUp.objects.filter(status="dead", cause_of_death="hcc").first()
        death.cause_of_death = "other"
        death.save()
        call_command("analyse", "--json")
        payload = json.loads(capsys.readouterr().out)
        stored = AnalysisRun.objects.get(pk=payload["run"])
        assert payload["status"] == "succeeded" and payload["errors"] == {}
        assert payload["analyses_failed"] == 0 and payload["analyses_run"] == len(stored.results)
        assert payload["rows"] == payload["results"] == stored.rows
        assert payload["analyses"] == stored.results  # every payload, with its error
        cox = next(a for a in payload["analyses"] if a["kind"] == "cox")
        assert cox["result"]["univariate"] and cox["error"] is None
        table2 = [r for r in payload["rows"] if r["analysis"] == "Table II"]
        assert len(table2) == 13 and all(r["q"] is not None for r in table2)
        assert all(r["q"] >= r["p"] for r in table2)
        assert all("q" in r for a in payload["analyses"] if a["name"] == "Table II"
                   for r in a["result"]["rows"])  # fmt: skip
        univariate = [r for r in payload["rows"] if r["analysis"] == "Table IV univariate"]
        assert univariate and all(r["details"]["family"] == "Table IV" for r in univariate)
        assert payload["options"] == stored.options and payload["options"]["multiplicity"] == "bh"
        assert payload["dictionary"] == (stored.dictionary or None)
        assert payload["qc"] == stored.qc
        names = [f["name"] for f in payload["figures"]]
        assert "Fig. 3" in names and set(names) >= set(stored.figures)
        assert all(set(f) >= {"name", "alt", "error"} for f in payload["figures"])
        assert "<svg" not in json.dumps(payload["figures"])
        assert payload["previous_run"] == first["run"]
        assert payload["diff"] == stored.diff and "crossed_0_05_by_q" in payload["diff"]
        assert payload["cause"] == {"trigger": "command", "requested_by": None, "parameters": {}}
        assert payload["cause_of_results"] is None and payload["versions"]["numpy"]

    def test_analyse_json_of_a_run_with_a_failing_analysis(self, demo, tmp_path, capsys):
        plan_file = tmp_path / "one-fails.json"
        one_group = {
            "kind": "anova",
            "name": "By sex, men only",
            "value": "mir122_pre_log10",
            "group": "sex",
            "subgroup": {"sex": "M"},
        }
        paired = {
            "kind": "paired_t_test",
            "name": "Fig. 1",
            "before": "mir122_pre_log10",
            "after": "mir122_post_log10",
        }
        plan_file.write_text(json.dumps({**small_plan(**paired), "analyses": [paired, one_group]}))
        call_command("analyse", "--plan-file", str(plan_file), "--json")
        payload = json.loads(capsys.readouterr().out)
        assert payload["status"] == "succeeded" and payload["error"] is None
        assert payload["analyses_failed"] == 1 and payload["analyses_run"] == 2
        (message,) = payload["errors"].values()
        assert list(payload["errors"]) == ["By sex, men only"]
        assert message.startswith("By sex, men only: 'mir122_pre_log10' by 'sex'")
        failed = next(a for a in payload["analyses"] if a["name"] == "By sex, men only")
        assert failed["error"] == message and failed["result"] is None
        assert [r["analysis"] for r in payload["rows"]] == ["Fig. 1"]
        assert payload["rows"][0]["p"] < 0.05

    def test_analyse_summary_says_which_analyses_failed(self, demo, tmp_path, capsys):
        plan_file = tmp_path / "fails.json"
        spec = small_plan(
            kind="anova", name="men", value="age_years", group="sex", subgroup={"sex": "M"}
        )
        plan_file.write_text(json.dumps(spec))
        call_command("analyse", "--plan-file", str(plan_file))
        out = capsys.readouterr().out
        assert "1 of 1 analyses failed:" in out and "men: 'age_years' by 'sex'" in out

    def test_analyse_command_unknown_plan(self, demo):
        with pytest.raises(CommandError, match="No plan named 'nope'"):
            call_command("analyse", "--plan", "nope")


class TestRoundTrip:
    def test_export_then_import_gives_the_same_results(self, demo, plan, tmp_path):
        path = tmp_path / "cohort.csv"
        call_command("export_cohort", "--output", str(path), stderr=io.StringIO())
        text = path.read_text()
        assert (
            text.startswith("# ExoTrack analysis-ready cohort") and "fingerprint: sha256:" in text
        )
        assert "full_name" not in text and "hospital" not in text
        call_command("import_cohort", str(path), "--name", "roundtrip", stdout=io.StringIO())
        live = analysis_run(plan=plan, trigger="command")
        imported = analysis_run(
            plan=plan, trigger="command", dataset=CohortDataset.objects.get(name="roundtrip")
        )
        assert imported.status == "succeeded", imported.error
        assert imported.fingerprint == live.fingerprint
        assert imported.rows == live.rows

    def test_extra_columns_are_kept_and_usable(self, demo, tmp_path):
        table = load_cohort()
        table["smoker"] = [i % 2 for i in range(len(table))]
        buffer = io.StringIO()
        table.to_csv(buffer, index=False)
        # No dictionary in a plain CSV: the inferred one is used once confirmed.
        dataset = cohort_dataset_import(
            name="with-extra", stream=io.StringIO(buffer.getvalue()), confirm=True
        )
        assert dataset.extra_columns == ["smoker"]
        assert dataset.dictionary["source"] == "inferred and confirmed"
        spec = small_plan(kind="anova", name="by smoking", value="mir122_pre_log10", group="smoker")
        custom = AnalysisPlan.objects.create(name="smoking", title="smoking", spec=spec)
        run = analysis_run(plan=custom, trigger="command", dataset=dataset)
        assert run.status == "succeeded", run.error and run.rows[0]["n"] == 74

    def test_a_broken_cohort_file_names_row_and_column(self):
        bad = "study_id,age_years\nP1,70\nP2,seventy\n"
        with pytest.raises(ValueError, match="line 3, column age_years"):
            read_cohort_csv(io.StringIO(bad))


class TestReportPages:
    def test_report_page_and_download(self, demo, plan, client, analyst):
        run = analysis_run(plan=plan, trigger="command")
        assert client.get(f"/analysis/runs/{run.pk}/").status_code == 302  # login first
        client.force_login(analyst)
        page = client.get(f"/analysis/runs/{run.pk}/").content.decode()
        for heading in (
            "Table I",
            "Table II",
            "Table III",
            "Fig. 3",
            "Table IV",
            "Provenance",
            run.fingerprint,
        ):
            assert heading in page
        download = client.get(f"/analysis/runs/{run.pk}/report.html")
        assert "attachment" in download["Content-Disposition"] and b"<svg" in download.content
        assert b"/static/" not in download.content  # self-contained

    def test_curator_reruns_by_hand_analyst_cannot(self, demo, plan, client, analyst, curator):
        run = analysis_run(plan=plan, trigger="command")
        client.force_login(analyst)
        assert (
            "Re-run this plan now" not in client.get(f"/analysis/runs/{run.pk}/").content.decode()
        )
        client.force_login(curator)
        assert "Re-run this plan now" in client.get(f"/analysis/runs/{run.pk}/").content.decode()
        client.force_login(analyst)
        assert client.post(f"/analysis/plans/{plan.name}/rerun/").status_code == 403
        client.force_login(curator)
        response = client.post(f"/analysis/plans/{plan.name}/rerun/")
        assert response.status_code == 302
        assert AnalysisRun.objects.filter(trigger="manual", requested_by=curator).exists()
        assert client.get("/analysis/").status_code == 200

    def test_a_failed_run_shows_its_error(self, demo, client, curator):
        bad = AnalysisPlan.objects.create(name="bad2", title="bad", spec={"analyses": "nope"})
        run = analysis_run(plan=bad, trigger="command")
        client.force_login(curator)
        assert "This run failed" in client.get(f"/analysis/runs/{run.pk}/").content.decode()

    def test_the_plan_spec_is_kept_with_the_run(self, demo, plan):
        run = analysis_run(plan=plan, trigger="command")
        plan.spec = copy.deepcopy(plan.spec)
        plan.spec["analyses"] = plan.spec["analyses"][:1]
        plan.save()
        run.refresh_from_db()
        assert len(run.spec["analyses"]) > 1


def test_chunks_concatenate_to_the_whole_table_and_its_fingerprint(demo):
    import pandas as pd

    from analysis.cohort import Fingerprinter, fingerprint
    from biobank.selectors.cohort import cohort_table, cohort_table_chunks

    whole = cohort_table()
    chunks = list(cohort_table_chunks(chunk_size=20))
    assert len(chunks) == 4
    joined = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole)
    streamed = Fingerprinter()
    for chunk in chunks:
        streamed.update(chunk)
    assert streamed.hexdigest() == fingerprint(whole)


def test_plan_file_on_an_imported_cohort(demo, tmp_path, capsys):
    cohort = tmp_path / "cohort.csv"
    call_command("export_cohort", "--output", str(cohort), stderr=io.StringIO())
    call_command("import_cohort", str(cohort), "--name", "elsewhere", stdout=io.StringIO())
    plan_file = tmp_path / "my-plan.json"
    plan_file.write_text(
        json.dumps(
            small_plan(
                kind="cox",
                name="AFP",
                terms=[{"column": "afp_ng_ml", "cutoff": 100, "label": "AFP > 100"}],
            )
        )
    )
    call_command("analyse", "--plan-file", str(plan_file), "--dataset", "elsewhere", "--json")
    payload = json.loads(capsys.readouterr().out)
    assert payload["plan"] == "my-plan" and payload["status"] == "succeeded"
    assert [r["variable"] for r in payload["results"]] == ["AFP > 100"]
    assert AnalysisRun.objects.get(pk=payload["run"]).dataset.name == "elsewhere"
