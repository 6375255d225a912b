"""import_cohort with a data dictionary: declared (--dictionary, header), inferred and
confirmed, or refused with nothing saved; runs read a dataset through its dictionary.

lung.csv is R survival's lung dataset (status 1 = censored, 2 = dead; time in days),
from tests/analysis/r/lung_dictionary.R: 165 deaths, median survival 310 days (read as
"every patient died", the median would be 252).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from analysis.dictionary import DictionaryNotConfirmed
from analysis.models import AnalysisPlan, CohortDataset
from analysis.services import analysis_run, cohort_dataset_import, load_cohort

pytestmark = pytest.mark.django_db

LUNG = Path(__file__).parent / "analysis" / "data" / "lung.csv"
LUNG_DICTIONARY = {
    "time_unit": "days",
    "columns": [
        {"name": "time", "type": "numeric", "role": "time", "label": "Survival time"},
        {
            "name": "status",
            "type": "boolean",
            "role": "event",
            "event_values": ["2"],
            "censored_values": ["1"],
        },
        {"name": "sex", "type": "categorical", "levels": ["1", "2"], "label": "Sex"},
    ],
}
MEDIAN_PLAN = {
    "time": "time",
    "event": "status",
    "analyses": [{"kind": "kaplan_meier", "name": "Overall survival"}],
}


def import_cohort(*args) -> str:
    out = io.StringIO()
    call_command("import_cohort", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.fixture
def dictionary_file(tmp_path):
    path = tmp_path / "lung.json"
    path.write_text(json.dumps(LUNG_DICTIONARY))
    return path


def run_median(dataset: CohortDataset):
    plan = AnalysisPlan.objects.create(name="lung-median", title="lung", spec=MEDIAN_PLAN)
    run = analysis_run(plan=plan, trigger="command", dataset=dataset)
    assert run.status == "succeeded", run.error
    return run, next(r for r in run.rows if r["statistic"] == "median survival")


class TestDeclared:
    def test_companion_json_gives_r_events_and_median(self, dictionary_file):
        output = import_cohort(LUNG, "--name", "lung", "--dictionary", dictionary_file)
        assert "Imported 228 patients as 'lung' (dictionary: declared; time in days)" in output
        dataset = CohortDataset.objects.get(name="lung")
        assert dataset.dictionary["time_unit"] == "days"
        table = load_cohort(dataset=dataset)
        assert int(table["status"].sum()) == 165 and table["sex"].dtype == "string"
        run, median = run_median(dataset)
        assert median["estimate"] == 310
        assert run.dictionary["time_unit"] == "days"
        assert run.dictionary["source"] == "declared"

    def test_header_declaration_needs_no_flag(self, tmp_path):
        path = tmp_path / "lung.csv"
        header = (
            "# time_unit: days\n"
            "# column time: numeric role=time\n"
            "# column status: boolean role=event event=2 censored=1\n"
        )
        path.write_text(header + LUNG.read_text())
        import_cohort(path, "--name", "lung")
        dataset = CohortDataset.objects.get(name="lung")
        assert int(load_cohort(dataset=dataset)["status"].sum()) == 165
        assert dataset.dictionary["columns"][0]["name"] == "study_id"  # row numbers as ids

    def test_a_bad_value_is_refused_and_nothing_saved(self, tmp_path, dictionary_file):
        path = tmp_path / "lung.csv"
        path.write_text(LUNG.read_text().replace("\n3,455,2,", "\n3,455,dead,", 1))
        with pytest.raises(CommandError, match=r"line 3, column status: 'dead' is neither"):
            import_cohort(path, "--name", "lung", "--dictionary", dictionary_file)
        assert not CohortDataset.objects.exists()


class TestUndeclared:
    def test_without_dictionary_the_inferred_one_is_shown_and_nothing_saved(self, tmp_path):
        path = tmp_path / "events.csv"
        path.write_text("patient,time_months,event,sex\nA,3,1,1\nB,5,0,2\nC,8,1,2\n")
        out = io.StringIO()
        with pytest.raises(CommandError, match="--confirm") as caught:
            call_command("import_cohort", str(path), "--name", "mine", stdout=out)
        assert "--dictionary FILE.json" in str(caught.value)
        shown = json.loads(out.getvalue())
        assert shown["time_unit"] == "months" and shown["source"] == "inferred"
        assert not CohortDataset.objects.exists()
        import_cohort(path, "--name", "mine", "--confirm")
        dataset = CohortDataset.objects.get(name="mine")
        assert dataset.dictionary["source"] == "inferred and confirmed"
        assert list(load_cohort(dataset=dataset)["event"]) == [True, False, True]

    def test_1_2_event_refused_even_confirmed_with_how_to_declare(self):
        out = io.StringIO()
        with pytest.raises(CommandError) as caught:
            call_command("import_cohort", str(LUNG), "--name", "lung", "--confirm", stdout=out)
        message = str(caught.value)
        assert "column status is the event column but looks 1/2-coded" in message
        assert "event=2 censored=1" in message
        assert json.loads(out.getvalue())["columns"]  # the dictionary to edit
        assert not CohortDataset.objects.exists()

    def test_the_service_error_carries_the_inferred_dictionary(self):
        text = "study_id,time_days,died\nA,3,true\nB,4,false\n"
        with pytest.raises(DictionaryNotConfirmed) as caught:
            cohort_dataset_import(name="mine", stream=io.StringIO(text))
        assert caught.value.dictionary.with_role("event") == ["died"]
        assert not CohortDataset.objects.exists()

    def test_a_plan_on_an_uncoded_event_column_fails_clearly(self, tmp_path):
        # status declared as a plain categorical: a survival plan cannot use it as events
        dictionary = {
            "time_unit": "days",
            "columns": [
                {"name": "time", "type": "numeric", "role": "time"},
                {"name": "status", "type": "categorical", "levels": ["1", "2"]},
            ],
        }
        dataset = cohort_dataset_import(
            name="lung", stream=io.BytesIO(LUNG.read_bytes()), dictionary=dictionary
        )
        plan = AnalysisPlan.objects.create(name="lung-median", title="lung", spec=MEDIAN_PLAN)
        run = analysis_run(plan=plan, trigger="command", dataset=dataset)
        assert run.status == "failed"
        assert "column 'status'" in run.error and "holds '1', '2'" in run.error
        assert "Declare its coding" in run.error


def test_replacing_a_dataset_keeps_its_new_dictionary(tmp_path, dictionary_file):
    copy = tmp_path / "copy.csv"
    shutil.copy(LUNG, copy)
    import_cohort(copy, "--name", "lung", "--dictionary", dictionary_file)
    with pytest.raises(CommandError, match="exists"):
        import_cohort(copy, "--name", "lung", "--dictionary", dictionary_file)
    weeks = {**LUNG_DICTIONARY, "time_unit": "weeks"}
    dictionary_file.write_text(json.dumps(weeks))
    import_cohort(copy, "--name", "lung", "--dictionary", dictionary_file, "--replace")
    assert CohortDataset.objects.get(name="lung").dictionary["time_unit"] == "weeks"


def test_the_live_cohort_runs_with_the_papers_dictionary(demo, plan):
    run = analysis_run(plan=plan, trigger="command")
    assert run.status == "succeeded", run.error
    labels = {c["name"]: c for c in run.dictionary["columns"]}
    assert run.dictionary["source"] == "paper" and run.dictionary["time_unit"] == "months"
    assert labels["ast_iu_l"]["unit"] == "IU/l" and labels["dss_event"]["role"] == "event"


def test_a_plan_without_survival_columns_takes_the_dictionarys_roles(dictionary_file):
    """The dictionary declares time and status as the time and event roles; a plan that
    names neither runs on them (and gives R's median), instead of failing on dss_months."""
    import_cohort(LUNG, "--name", "lung", "--dictionary", dictionary_file)
    dataset = CohortDataset.objects.get(name="lung")
    spec = {"analyses": MEDIAN_PLAN["analyses"]}
    plan = AnalysisPlan.objects.create(name="lung-roles", title="lung", spec=spec)
    run = analysis_run(plan=plan, trigger="command", dataset=dataset)
    assert run.status == "succeeded", run.error
    median = next(r for r in run.rows if r["statistic"] == "median survival")
    assert median["estimate"] == 310 and median["n"] == 228
