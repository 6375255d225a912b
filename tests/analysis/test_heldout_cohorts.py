"""Issue 13's acceptance: public survival datasets in their original codings, imported
with `import_cohort --dictionary` and analysed with `analyse --plan-file --json`, equal
R survival (coefficients to 1e-6, P to 1e-4, Kaplan-Meier medians exactly), under both
presets ("R": Efron ties, Wald HR CIs; "JMP": Breslow ties, profile-likelihood HR CIs).

The fixtures (R's lung, veteran and pbc as CSV, their data dictionaries, one plan per
preset) and the reference numbers are all written by tests/analysis/r/heldout_reference.R,
which computes what each plan reports; tests/fixtures/cohorts/README.md says what is
where. The tests do not run R.

`observed_results` is the one place that knows the shape of `analyse --json`; everything
else compares its answer with the reference.
"""

from __future__ import annotations

import io
import json
import math
import re
from functools import cache
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.models import AnalysisRun, CohortDataset
from analysis.options import resolve_options

pytestmark = pytest.mark.django_db

COHORTS = Path(__file__).resolve().parents[1] / "fixtures" / "cohorts"
REFERENCE = json.loads((COHORTS / "heldout_reference.json").read_text())
DATASETS = sorted(REFERENCE["datasets"])
PRESETS = ("R", "JMP")

COEF_TOLERANCE = 1e-6  # coef, se, and log(HR) and log(CI limits)
STATISTIC_TOLERANCE = 1e-6  # relative: log-rank and likelihood-ratio chi-square, concordance
P_TOLERANCE = 1e-4


# ------------------------------------------------------------------ running ExoTrack


def reference_for(dataset: str) -> dict:
    return REFERENCE["datasets"][dataset]


def import_cohort(dataset: str, *, name: str | None = None) -> None:
    reference = reference_for(dataset)
    call_command(
        "import_cohort",
        str(COHORTS / reference["csv"]),
        "--name",
        name or dataset,
        "--dictionary",
        str(COHORTS / reference["dictionary"]),
        stdout=io.StringIO(),
    )


def plan_path(dataset: str, preset: str) -> Path:
    return COHORTS / reference_for(dataset)["plans"][preset]


def analyse(dataset: str, plan_file: Path) -> dict:
    out = io.StringIO()
    call_command(
        "analyse", "--dataset", dataset, "--plan-file", str(plan_file), "--json", stdout=out
    )
    return json.loads(out.getvalue())


@cache
def heldout_run(dataset: str, preset: str) -> dict:
    """Import the cohort and run its plan once per (dataset, preset): the JSON printed
    and what the stored run kept. Cached as plain data, so the tests of one pair share a
    run (each test's database is rolled back; the printed JSON is all they read)."""
    import_cohort(dataset)
    payload = analyse(dataset, plan_path(dataset, preset))
    run = AnalysisRun.objects.get(pk=payload["run"])
    return {"json": payload, "stored_options": run.options, "stored_dictionary": run.dictionary}


# ------------------------------------------------------------------ the JSON, read once

MODEL_TESTS = {"lr": "LR", "wald": "Wald", "score": "score"}  # reference key -> name
MODEL_TESTS_FIELDS = [f"{test}_{part}" for test in MODEL_TESTS for part in ("chisq", "df", "p")]


def group_key(value) -> str:
    """A Kaplan-Meier group as the reference names it: a level as R prints it ("1",
    "0.5", "adeno"), or "low" / "high" for a median split (<= / > the cut-off)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return f"{value:.15g}"
    text = str(value).strip()
    try:
        return f"{float(text):.15g}"
    except ValueError:
        pass
    if text.lower() == "low" or "≤" in text or "<=" in text:
        return "low"
    if text.lower() == "high" or ">" in text:
        return "high"
    return text


def observed_results(payload: dict) -> dict:
    """What `analyse --json` says, in the reference's terms.

    - ``errors``: analysis name -> its error (None when it ran);
    - ``kaplan_meier``: name -> n, cutoff, logrank {chisq, df, p} and groups
      {key: {n, events, median, ci_low, ci_high}}, from the per-analysis payload
      (``analyses``);
    - ``cox_terms``: (analysis, "univariate" | "multivariate", term label) -> coef, se,
      hr, ci_low, ci_high, p, n, cutoff, from the flat rows (``results``: HR rows; coef,
      se and cutoff in ``details``);
    - ``cox_models``: (analysis, "univariate", term label) or (analysis, "multivariate")
      -> n, events, the likelihood-ratio, Wald and score tests ({test}_chisq, _df, _p)
      and concordance, from ``analyses``;
    - ``figure_errors``: figure name -> its error (None when it was drawn).
    """
    entries = payload["analyses"]
    if isinstance(entries, dict):
        entries = [{"name": name, **entry} for name, entry in entries.items()]
    observed = {"errors": {}, "kaplan_meier": {}, "cox_terms": {}, "cox_models": {}}
    figures = payload.get("figures") or []
    if isinstance(figures, dict):
        figures = [{"name": name, **note} for name, note in figures.items()]
    observed["figure_errors"] = {figure["name"]: figure.get("error") for figure in figures}
    cox_names = set()
    for entry in entries:
        observed["errors"][entry["name"]] = entry.get("error")
        result = entry.get("result")
        if result is None:
            continue
        if entry["kind"] == "kaplan_meier":
            groups = {}
            for group in result["groups"]:
                median = group["median"]
                groups[group_key(group["group"])] = {
                    "n": group["n"],
                    "events": group["events"],
                    "median": median["median"],
                    "ci_low": median["ci_low"],
                    "ci_high": median["ci_high"],
                }
            logrank = result.get("logrank")
            observed["kaplan_meier"][entry["name"]] = {
                "n": result["n"],
                "cutoff": (result.get("split") or {}).get("cutoff"),
                "groups": groups,
                "logrank": logrank and {k: logrank[k] for k in ("chisq", "df", "p")},
            }
        elif entry["kind"] == "cox":
            cox_names.add(entry["name"])
            models = [("univariate", m) for m in result["univariate"]]
            if result.get("multivariate"):
                models.append(("multivariate", result["multivariate"]))
            for which, model in models:
                key = (entry["name"], which)
                if which == "univariate":
                    key += (model["variables"][0],)
                observed["cox_models"][key] = {
                    k: model.get(k) for k in ("n", "events", "concordance", *MODEL_TESTS_FIELDS)
                }
    for row in payload["results"]:
        if row["statistic"] != "HR":
            continue
        name, _, which = row["analysis"].rpartition(" ")
        if name not in cox_names:
            continue
        details = row.get("details") or {}
        observed["cox_terms"][(name, which, row["variable"])] = {
            "coef": details.get("coef"),
            "se": details.get("se"),
            "cutoff": details.get("cutoff"),
            "hr": row["estimate"],
            "ci_low": row["ci_low"],
            "ci_high": row["ci_high"],
            "p": row["p"],
            "n": row["n"],
        }
    return observed


# ------------------------------------------------------------------ comparing


class Mismatches(list):
    """Every difference from R, so one failing run lists them all."""

    def exact(self, where: str, got, want):
        if got != want:
            self.append(f"{where}: {got!r}, R says {want!r}")

    def close(self, where: str, got, want, *, absolute=None, relative=None):
        if want is None or got is None:
            self.exact(where, got, want)
            return
        limit = absolute if absolute is not None else relative * max(1.0, abs(want))
        if not math.isfinite(got) or abs(got - want) > limit:
            self.append(f"{where}: {got!r}, R says {want!r} (differs by {got - want:.3g})")

    def close_log(self, where: str, got, want):
        """Hazard ratios and their limits: log(HR) is a coefficient."""
        if want is None or got is None or got <= 0:
            self.exact(where, got, want)
        elif abs(math.log(got) - math.log(want)) > COEF_TOLERANCE:
            difference = math.log(got) - math.log(want)
            self.append(f"{where}: {got!r}, R says {want!r} (log differs by {difference:.3g})")


def resolved_options(dataset: str, preset: str):
    plan = json.loads(plan_path(dataset, preset).read_text())
    options = resolve_options(plan)
    assert options.preset == preset
    return options


def km_mismatches(dataset: str, preset: str) -> Mismatches:
    options = resolved_options(dataset, preset)
    observed = observed_results(heldout_run(dataset, preset)["json"])
    wrong = Mismatches()
    rules = sorted(reference_for(dataset)["kaplan_meier_median_rules"])
    if options.median not in rules:
        wrong.append(f"options.median is {options.median!r}; the reference has {rules}")
        return wrong
    for name, want in reference_for(dataset)["kaplan_meier"].items():
        got = observed["kaplan_meier"].get(name)
        if got is None:
            wrong.append(f"{name}: no result (error: {observed['errors'].get(name)!r})")
            continue
        wrong.exact(f"{name}: n", got["n"], want["n"])
        if want["cutoff"] is not None:
            wrong.close(f"{name}: cut-off", got["cutoff"], want["cutoff"], relative=1e-12)
        wanted_groups = {g["group"]: g for g in want["groups"]}
        wrong.exact(f"{name}: groups", sorted(got["groups"]), sorted(wanted_groups))
        for key, group in wanted_groups.items():
            mine = got["groups"].get(key)
            if mine is None:
                continue
            where = f"{name} [{key}]"
            wrong.exact(f"{where} n", mine["n"], group["n"])
            wrong.exact(f"{where} events", mine["events"], group["events"])
            median = group["median"][options.median][options.km_ci]
            how = f"{options.median} rule, {options.km_ci} band"
            for field in ("median", "ci_low", "ci_high"):
                wrong.exact(f"{where} {field} ({how})", mine[field], median[field])
        if want["logrank"] is None:
            continue
        logrank = got["logrank"] or {}
        wrong.close(
            f"{name}: log-rank chi-square",
            logrank.get("chisq"),
            want["logrank"]["chisq"],
            relative=STATISTIC_TOLERANCE,
        )
        wrong.exact(f"{name}: log-rank df", logrank.get("df"), want["logrank"]["df"])
        wrong.close(
            f"{name}: log-rank P", logrank.get("p"), want["logrank"]["p"], absolute=P_TOLERANCE
        )
    return wrong


def _model_mismatches(wrong, where, got_model, got_terms, reference_model, options):
    """One model of one ties method: n, events, LR/Wald/score tests and concordance, then each term
    (coef, se, HR, the preset's HR interval, Wald P)."""
    want = reference_model["ties"][options.ties]
    if got_model is None:
        wrong.append(f"{where}: no model in the payload")
    else:
        wrong.exact(f"{where}: n", got_model["n"], want["n"])
        wrong.exact(f"{where}: events", got_model["events"], want["events"])
        for test, shown in MODEL_TESTS.items():
            r, name = want[test], f"{where}: {shown}"
            mine = {part: got_model[f"{test}_{part}"] for part in ("chisq", "df", "p")}
            wrong.close(
                f"{name} chi-square", mine["chisq"], r["chisq"], relative=STATISTIC_TOLERANCE
            )
            wrong.exact(f"{name} df", mine["df"], r["df"])
            wrong.close(f"{name} P", mine["p"], r["p"], absolute=P_TOLERANCE)
        wrong.close(
            f"{where}: concordance",
            got_model["concordance"],
            want["concordance"],
            absolute=STATISTIC_TOLERANCE,
        )
    interval = "wald_ci" if options.hr_ci == "wald" else "profile_ci"
    for estimate in want["estimates"]:
        term = f"{where} / {estimate['term']}" if len(want["estimates"]) > 1 else where
        got = got_terms.get(estimate["term"])
        if got is None:
            wrong.append(f"{term}: no HR row")
            continue
        wrong.exact(f"{term}: n", got["n"], want["n"])
        if estimate["cutoff"] is not None:
            wrong.close(f"{term}: cut-off", got["cutoff"], estimate["cutoff"], relative=1e-12)
        wrong.close(f"{term}: coef", got["coef"], estimate["coef"], absolute=COEF_TOLERANCE)
        wrong.close(f"{term}: se", got["se"], estimate["se"], absolute=COEF_TOLERANCE)
        wrong.close_log(f"{term}: HR", got["hr"], estimate["hr"])
        low, high = estimate[interval]
        wrong.close_log(f"{term}: HR CI low ({options.hr_ci})", got["ci_low"], low)
        wrong.close_log(f"{term}: HR CI high ({options.hr_ci})", got["ci_high"], high)
        wrong.close(f"{term}: Wald P", got["p"], estimate["p"], absolute=P_TOLERANCE)


def cox_mismatches(dataset: str, preset: str) -> Mismatches:
    options = resolved_options(dataset, preset)
    observed = observed_results(heldout_run(dataset, preset)["json"])
    wrong = Mismatches()
    for name, want in reference_for(dataset)["cox"].items():
        if observed["errors"].get(name, "missing") is not None:
            wrong.append(f"{name}: no result (error: {observed['errors'].get(name)!r})")
            continue
        for label, model in want["univariate"].items():
            key = (name, "univariate", label)
            _model_mismatches(
                wrong,
                f"{name} univariate {label}",
                observed["cox_models"].get(key),
                {label: observed["cox_terms"][key]} if key in observed["cox_terms"] else {},
                model,
                options,
            )
        terms = {
            key[2]: value
            for key, value in observed["cox_terms"].items()
            if key[:2] == (name, "multivariate")
        }
        _model_mismatches(
            wrong,
            f"{name} multivariate",
            observed["cox_models"].get((name, "multivariate")),
            terms,
            want["multivariate"],
            options,
        )
    return wrong


# ------------------------------------------------------------------ the tests

PAIRS = [(dataset, preset) for dataset in DATASETS for preset in PRESETS]


@pytest.mark.parametrize(("dataset", "preset"), PAIRS)
def test_the_run_succeeds_with_every_analysis_and_its_options(dataset, preset):
    run = heldout_run(dataset, preset)
    payload = run["json"]
    assert payload["status"] == "succeeded", payload.get("error")
    observed = observed_results(payload)
    plan = json.loads(plan_path(dataset, preset).read_text())
    assert observed["errors"] == {a["name"]: None for a in plan["analyses"]}
    # every figure drawn, the KM curves split by levels among them (they used to sink the run)
    assert all(error is None for error in observed["figure_errors"].values()), observed[
        "figure_errors"
    ]
    kaplan_meier = {a["name"] for a in plan["analyses"] if a["kind"] == "kaplan_meier"}
    assert kaplan_meier <= set(observed["figure_errors"])
    options = resolved_options(dataset, preset).to_dict()
    assert {k: payload["options"].get(k) for k in options} == options
    assert {k: run["stored_options"].get(k) for k in options} == options
    dictionary = json.loads((COHORTS / reference_for(dataset)["dictionary"]).read_text())
    assert run["stored_dictionary"]["time_unit"] == dictionary["time_unit"] == "days"
    stored_columns = {c["name"]: c for c in run["stored_dictionary"]["columns"]}

    def as_text(value):  # codes are compared as text: 2 and "2" are one code
        return [str(v) for v in value] if isinstance(value, list) else value

    for column in dictionary["columns"]:
        declared = {k: as_text(v) for k, v in column.items() if v not in ("", [])}
        stored = stored_columns[column["name"]]
        assert {k: as_text(stored.get(k)) for k in declared} == declared


@pytest.mark.parametrize(("dataset", "preset"), PAIRS)
def test_kaplan_meier_and_log_rank_equal_r(dataset, preset):
    wrong = km_mismatches(dataset, preset)
    assert not wrong, f"{len(wrong)} differences from R:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("dataset", "preset"), PAIRS)
def test_cox_models_equal_r(dataset, preset):
    wrong = cox_mismatches(dataset, preset)
    assert not wrong, f"{len(wrong)} differences from R:\n" + "\n".join(wrong)


def test_an_event_column_coded_1_2_without_a_dictionary_is_refused():
    """R's lung codes status 1 = censored, 2 = dead: read as 0/1 "truthy" values it
    makes every patient die (median 252 instead of 310). Without a declared coding the
    import must stop and say which column and which coding."""
    with pytest.raises(CommandError) as refused:
        call_command(
            "import_cohort", str(COHORTS / "lung.csv"), "--name", "lung-raw", stdout=io.StringIO()
        )
    message = str(refused.value)
    assert re.search(r"\bstatus\b", message), message
    assert re.search(r"\b1\s*(/|and|or|,)\s*2\b", message), message
    assert not CohortDataset.objects.filter(name="lung-raw").exists()


# Institution 33 has two patients, neither with meal.cal: both analyses pass validation
# and have zero usable rows, which is an error, not a success (issue 13). inst is
# categorical, so its values are text codes.
BROKEN = [
    {
        "kind": "kaplan_meier",
        "name": "Institution 33 by meal calories",
        "subgroup": {"inst": "33"},
        "split": {"column": "meal.cal", "at": "median"},
    },
    {
        "kind": "cox",
        "name": "Institution 33, meal calories",
        "subgroup": {"inst": "33"},
        "terms": [{"column": "meal.cal", "label": "Meal calories (per kcal)"}],
    },
]


def test_a_broken_analysis_leaves_every_other_result_intact(tmp_path):
    """An analysis that cannot run is that analysis's error: the run succeeds and every
    other analysis (among them two KM splits by levels, which used to fail the whole run
    in the figures) reports exactly what it reports without it."""
    clean = heldout_run("lung", "R")["json"]
    plan = json.loads(plan_path("lung", "R").read_text())
    plan["analyses"][2:2] = BROKEN
    broken = {b["name"] for b in BROKEN}
    plan_file = tmp_path / "lung-with-broken-analyses.json"
    plan_file.write_text(json.dumps(plan))
    import_cohort("lung", name="lung-broken")
    payload = analyse("lung-broken", plan_file)

    assert payload["status"] == "succeeded", payload.get("error")
    observed = observed_results(payload)
    for name in broken:
        assert observed["errors"].pop(name), f"{name}: zero usable rows must be an error"
    assert observed["errors"] == {
        a["name"]: None for a in plan["analyses"] if a["name"] not in broken
    }
    others = [r for r in payload["results"] if r["analysis"].split(" univariate")[0] not in broken]
    assert others == clean["results"]
    assert {k: v for k, v in observed.items() if k != "errors"} == {
        k: v for k, v in observed_results(clean).items() if k != "errors"
    }
