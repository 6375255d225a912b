"""The run report as a document people read (issue 13): contents, the options used, the
dictionary's labels, Table IV side by side, errors and warnings in place, figures with
alt text, each table as CSV and each figure as SVG, "what changed" with its cause, the
home page panel of curators and analysts, and the run list paging back.

Runs are written directly (no demo cohort, no engine): the report must render whatever
a run stored, including keys that only newer engines write (q, details, figure notes).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html import escape, unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from analysis.models import AnalysisPlan, AnalysisRun, CohortDataset
from analysis.report import fmt_p, slugs
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
FORMULA_LABEL = '=HYPERLINK("http://evil")'
SEPARATION = "complete separation: every event on one side; the HR is not estimable"
EPV = "under-powered: 6.5 events per variable (fewer than 10); estimates are unstable"

DICTIONARY = {
    "time_unit": "days",
    "source": "declared",
    "columns": [
        {"name": "ast_iu_l", "label": "AST", "unit": "IU/l"},
        {"name": "albumin_g_dl", "label": "Albumin", "unit": "g/dl"},
        {"name": "evil", "label": FORMULA_LABEL},
        {"name": "mir122_ratio", "label": "Exo miR-122 ratio"},
        {"name": "liver_background", "label": "Liver background"},
    ],
}
OPTIONS = {
    "preset": "JMP",
    "ties": "breslow",
    "hr_ci": "profile",
    "km_ci": "log-log",
    "median": "r",
    "firth": "auto",
    "multiplicity": "bh",
    "confidence": 0.9,
}


def flat(analysis, variable, statistic, *, p=None, q=None, details=None, warnings=()):
    row = {"analysis": analysis, "variable": variable, "statistic": statistic, "n": 50}
    row |= {"estimate": 1.0, "ci_low": 0.5, "ci_high": 2.0, "p": p, "warnings": list(warnings)}
    if q is not None:
        row["q"] = q
    if details is not None:
        row["details"] = details
    return row


def estimate(variable, hr, p, *, coding="", cutoff=None, warnings=()):
    return {
        "variable": variable,
        "coding": coding or f"{variable} (1) vs (0)",
        "cutoff": cutoff,
        "hr": hr,
        "ci_low": None if hr is None else hr / 2,
        "ci_high": None if hr is None else hr * 2,
        "p": p,
        "ph_p": 0.5,
        "warnings": list(warnings),
    }


def cox_model(*estimates, warnings=()):
    return {"n": 57, "events": 32, "estimates": list(estimates), "warnings": list(warnings)}


RESULTS = [
    {
        "name": "Table II",
        "kind": "correlations",
        "title": "miR-122 and clinical parameters",
        "subgroup": {},
        "n_rows": 70,
        "error": None,
        "result": {
            "expression": "mir122_pre_log10",
            "rows": [
                {
                    "variable": "ast_iu_l",
                    "r": 0.41,
                    "n": 68,
                    "ci_low": 0.2,
                    "ci_high": 0.59,
                    "p": 0.0004,
                },
                {
                    "variable": "albumin_g_dl",
                    "r": 0.2,
                    "n": 68,
                    "ci_low": -0.02,
                    "ci_high": 0.43,
                    "p": 0.07,
                },
                {"variable": "evil", "r": 0.1, "n": 60, "ci_low": -0.1, "ci_high": 0.3, "p": 0.4},
            ],
        },
    },  # fmt: skip
    {
        "name": "Fig. 2",
        "kind": "paired_t_test",
        "title": "miR-21 before and after",
        "subgroup": {},
        "n_rows": 70,
        "error": "ValueError: the same column twice (mir21_pre_log10)",
        "result": None,
    },
    {
        "name": "ANOVA by Child-Pugh",
        "kind": "anova",
        "title": "",
        "subgroup": {},
        "n_rows": 70,
        "error": None,
        "result": {
            "value": "ast_iu_l",
            "group": "child_pugh_grade",
            "groups": [{"group": "A", "n": 40, "mean": 1.0, "sd": 0.2}],
            "df_between": 1,
            "df_within": 68,
            "f": 3.5,
            "p": 0.06,
        },
    },
    {
        "name": "Fig. 3",
        "kind": "kaplan_meier",
        "title": "Survival by miR-122 ratio",
        "subgroup": {"liver_background": "cirrhosis"},
        "n_rows": 57,
        "error": None,
        "result": {
            "split": {"column": "mir122_ratio", "at": "median", "cutoff": 0.793},
            "ci_method": "log-log",
            "groups": [
                {
                    "group": "low",
                    "label": "Exo miR-122 ratio ≤ 0.793",
                    "n": 25,
                    "events": 10,
                    "median": {"median": None, "ci_low": 300.0, "ci_high": None},
                },
                {
                    "group": "high",
                    "n": 25,
                    "events": 18,
                    "median": {"median": 250.0, "ci_low": 200.0, "ci_high": 310.0},
                },
            ],
            "logrank": {"chisq": 10.3, "p": 0.0013},
        },
    },  # fmt: skip
    {
        "name": "Table IV",
        "kind": "cox",
        "title": "Factors associated with survival",
        "subgroup": {},
        "n_rows": 57,
        "error": None,
        "result": {
            "univariate": [
                cox_model(estimate("Age (>60 vs <=60 years)", 0.94, 0.9, cutoff=60.0)),
                cox_model(estimate("Child-Pugh grade (B vs A)", 1.66, 0.162)),
                cox_model(
                    estimate("HBV (positive vs negative)", None, None, warnings=[SEPARATION])
                ),
                cox_model(
                    estimate("DCP (>40 vs <=40 mAU/ml)", 3.1, 0.02, cutoff=40.0)
                    | {"cutoff_source": "pre-specified"}
                )
                | {"firth": True, "firth_reason": "separation detected"},
            ],
            "multivariate": {
                "n": 48,
                "events": 26,
                "events_per_variable": 6.5,
                "concordance": 0.744,
                "lr_p": 0.003,
                "estimates": [estimate("Child-Pugh grade (B vs A)", 2.5, 0.041)],
                "warnings": [EPV],
            },
        },
    },
]
ROWS = [
    flat("Table II", "ast_iu_l", "r", p=0.0004, q=0.0012),
    flat("Table II", "albumin_g_dl", "r", p=0.07, q=0.105),
    flat("Table II", "evil", "r", p=0.4, q=0.4),
    flat(
        "Fig. 3",
        "mir122_ratio",
        "log-rank chi-square",
        p=0.0013,
        details={"cutoff": 0.793, "cutoff_source": "data-derived"},
    ),
    flat(
        "Table IV univariate",
        "Age (>60 vs <=60 years)",
        "HR",
        p=0.9,
        q=0.93,
        details={"cutoff": 60, "cutoff_source": "pre-specified"},
    ),
    flat("Table IV univariate", "Child-Pugh grade (B vs A)", "HR", p=0.162, q=0.31),
    flat("Table IV multivariate", "Child-Pugh grade (B vs A)", "HR", p=0.041),
]
FIGURES = {"Fig. 3": SVG, "Table IV forest": SVG, "qc:flow": SVG}
FIGURE_NOTES = {
    "Fig. 3": {"alt": "Kaplan-Meier curves of the low and high miR-122 ratio groups"},
    "Table IV forest": {"alt": "Forest plot of the hazard ratios"},
    "ANOVA by Child-Pugh": {"error": "ValueError: cannot format a cut-off that is None"},
}
QC = {
    "available": True,
    "policy": "exclude_fail",
    "policy_label": "measurements that failed QC are left out",
    "inclusion": [],
    "flow": [],
    "excluded_patients": [],
    "excluded_measurements": [],
    "sensitivity": [],
}


@pytest.fixture
def plan():
    return AnalysisPlan.objects.get(name="paper-default")


def make_run(plan, **fields) -> AnalysisRun:
    now = timezone.now()
    values = {
        "plan": plan,
        "status": AnalysisRun.Status.SUCCEEDED,
        "trigger": AnalysisRun.Trigger.COMMAND,
        "fingerprint": "f" * 64,
        "started_at": now,
        "finished_at": now,
        "n_patients": 70,
        "results": RESULTS,
        "rows": ROWS,
        "figures": FIGURES,
        "figure_notes": FIGURE_NOTES,
        "options": OPTIONS,
        "dictionary": DICTIONARY,
        "qc": QC,
    }
    return AnalysisRun.objects.create(**{**values, **fields})


def get(client, user, url, status=200):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == status, response.content.decode()[:500]
    return response


def page(client, user, run) -> str:
    return get(client, user, reverse("analysis:run", args=[run.pk])).content.decode()


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<(section|nav) [^>]*id="{section_id}".*?</\1>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(0)


def table_rows(html: str) -> list[list[str]]:
    """The body rows of the first table in `html`, as the text of their cells."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]  # fmt: skip


class TestTheDocument:
    def test_contents_link_every_analysis_and_the_qc_section(self, client, analyst, plan):
        html = page(client, analyst, make_run(plan))
        contents = section(html, "contents")
        targets = re.findall(r'href="#([^"]+)"', contents)
        for name in ("Table II", "Fig. 2", "ANOVA by Child-Pugh", "Fig. 3", "Table IV"):
            assert name in contents
        for target in targets:
            assert f'id="{target}"' in html, target  # every link lands somewhere
        assert "data-and-qc" in targets and "qc-details" in targets
        assert {"what-changed", "options", "provenance"} <= set(targets)
        assert len({t for t in targets if t.startswith("analysis-")}) == len(RESULTS)
        # In plan order, after the contents.
        positions = [html.index(f'id="{t}"') for t in targets if t.startswith("analysis-")]
        assert positions == sorted(positions) and positions[0] > html.index('id="contents"')

    def test_the_options_used_are_stated_at_the_top(self, client, analyst, plan):
        html = page(client, analyst, make_run(plan))
        options = section(html, "options")
        for words in ("JMP", "Breslow", "profile likelihood", "log-log", "90 %"):
            assert words in options
        assert html.index('id="options"') < html.index('id="analysis-table-ii"')
        assert "HR (90 % CI)" in section(html, "analysis-table-iv")  # intervals say their level

    def test_a_run_before_options_says_it_used_the_defaults(self, client, analyst, plan):
        html = page(client, analyst, make_run(plan, options={}, dictionary={}))
        assert "predates recorded options" in section(html, "options")
        assert "HR (95 % CI)" in html and "ast_iu_l" in section(html, "analysis-table-ii")

    def test_labels_and_units_come_from_the_dictionary(self, client, analyst, plan):
        html = page(client, analyst, make_run(plan))
        table = section(html, "analysis-table-ii")
        variables = [row[0] for row in table_rows(table)]
        assert variables[:2] == ["AST (IU/l)", "Albumin (g/dl)"]
        assert "ast_iu_l" not in table
        fig3 = section(html, "analysis-fig-3")
        assert "median survival (days)" in fig3  # the dataset's time unit
        groups = [row[0] for row in table_rows(fig3)]
        # The engine's group label where it gives one, else the dictionary's label.
        assert groups == ["Exo miR-122 ratio ≤ 0.793", "Exo miR-122 ratio high"]
        assert "Liver background = cirrhosis" in fig3
        assert "mean" in section(html, "analysis-anova-by-child-pugh")
        assert "One-way ANOVA of AST (IU/l)" in html

    def test_p_beside_q_and_the_median_not_reached(self, client, analyst, plan):
        html = page(client, analyst, make_run(plan))
        ast = table_rows(section(html, "analysis-table-ii"))[0]
        assert ast[-2:] == ["<0.001", "0.001"]  # P, then its BH q-value
        assert "q (BH)" in section(html, "analysis-table-ii")
        low = table_rows(section(html, "analysis-fig-3"))[0]
        assert low[3] == "not reached" and low[4] == "300.0 to not reached"

    def test_cut_offs_carry_their_source(self, client, analyst, plan):
        html = page(client, analyst, make_run(plan))
        assert "cut-off 0.793, data-derived" in section(html, "analysis-fig-3")
        age = table_rows(section(html, "analysis-table-iv"))[0]
        assert "cut-off 60, pre-specified" in age[1]


class TestTableFour:
    def test_univariate_and_multivariate_side_by_side(self, client, analyst, plan):
        table = section(page(client, analyst, make_run(plan)), "analysis-table-iv")
        header = re.search(r"<thead>(.*?)</thead>", table, re.S).group(1)
        assert ">Univariate</th>" in header and ">Multivariate</th>" in header
        rows = {row[0]: row for row in table_rows(table)}
        assert list(rows) == [
            "Age (>60 vs <=60 years)",
            "Child-Pugh grade (B vs A)",
            "HBV (positive vs negative)",
            "DCP (>40 vs <=40 mAU/ml)",
        ]
        # variable | coding | n/events | HR (CI) | P | q | PH P | HR (CI) | P | warnings
        child = rows["Child-Pugh grade (B vs A)"]
        assert child[3:9] == [
            "1.66\xa0(0.83–3.32)",
            "0.162",
            "0.310",
            "0.500",
            "2.50\xa0(1.25–5.00)",
            "0.041",
        ]
        assert ">PH P</th>" in header and "cox.zph" in table
        age = rows["Age (>60 vs <=60 years)"]
        assert age[7:9] == ["—", "—"]  # not in the multivariate model

    def test_not_estimable_says_why_and_warnings_sit_beside_the_numbers(
        self, client, analyst, plan
    ):
        table = section(page(client, analyst, make_run(plan)), "analysis-table-iv")
        hbv = next(row for row in table_rows(table) if row[0].startswith("HBV"))
        assert hbv[3] == f"not estimable: {SEPARATION}"
        assert hbv[-1] == ""  # the reason is said once, in the HR's cell
        dcp = next(row for row in table_rows(table) if row[0].startswith("DCP"))
        assert "cut-off 40, pre-specified" in dcp[1]  # the estimate's own cut-off source
        assert dcp[-1] == "Firth-penalised fit (separation detected)"
        # The multivariate model's events-per-variable warning under its table, in words.
        assert "Multivariate model: " + EPV in table
        assert "events per variable = 6.5" in table


class TestErrorsInPlace:
    def test_an_analysis_error_replaces_its_tables(self, client, analyst, plan):
        html = page(client, analyst, make_run(plan))
        fig2 = section(html, "analysis-fig-2")
        assert "This analysis could not be computed." in fig2
        assert "the same column twice (mir21_pre_log10)" in fig2 and "<table" not in fig2
        assert "(error)" in section(html, "contents")
        assert "<table" in section(html, "analysis-table-ii")  # the others stand

    def test_a_figure_error_is_shown_where_the_figure_would_be(self, client, analyst, plan):
        anova = section(page(client, analyst, make_run(plan)), "analysis-anova-by-child-pugh")
        error = re.search(r'<p class="error figure-error" role="alert">(.*?)</p>', anova, re.S)
        assert error and "cannot format a cut-off that is None" in error.group(1)
        assert "<svg" not in anova and "<table" in anova  # its numbers still shown

    def test_every_figure_has_its_alt_text(self, client, analyst, plan):
        html = page(client, analyst, make_run(plan))
        fig3 = section(html, "analysis-fig-3")
        alt = FIGURE_NOTES["Fig. 3"]["alt"]
        assert f'role="img" aria-label="{alt}"' in fig3 and "<figcaption" in fig3
        assert alt in re.search(r"<figcaption.*?</figcaption>", fig3, re.S).group(0)
        # A second figure of an analysis ("Table IV forest") sits in that analysis.
        assert 'aria-label="Forest plot of the hazard ratios"' in section(html, "analysis-table-iv")
        images = re.findall(r'<div class="figure-svg" role="img" aria-label="([^"]*)"', html)
        assert len(images) == 2 and all(images)


class TestDownloads:
    def test_each_figure_as_svg(self, client, analyst, plan):
        run = make_run(plan)
        html = page(client, analyst, run)
        url = reverse("analysis:run-figure", args=[run.pk, "fig-3"])
        assert f'href="{url}"' in html
        response = get(client, analyst, url)
        assert response["Content-Type"] == "image/svg+xml"
        assert response.content.decode() == SVG
        assert "attachment" in response["Content-Disposition"]
        assert f"exotrack-run-{run.pk}-fig-3.svg" in response["Content-Disposition"]
        forest = reverse("analysis:run-figure", args=[run.pk, "table-iv-forest"])
        assert get(client, analyst, forest).content.decode() == SVG

    def test_unknown_or_failed_figures_are_404(self, client, analyst, plan):
        run = make_run(plan)
        for slug in ("nope", "anova-by-child-pugh", "qc-flow"):
            get(client, analyst, reverse("analysis:run-figure", args=[run.pk, slug]), 404)
        get(client, analyst, reverse("analysis:run-figure", args=[run.pk + 99, "fig-3"]), 404)

    def test_each_table_as_csv_with_text_neutralised(self, client, analyst, plan):
        run = make_run(plan)
        url = reverse("analysis:run-table", args=[run.pk, "table-ii"])
        assert f'href="{url}"' in page(client, analyst, run)
        response = get(client, analyst, url)
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert f"exotrack-run-{run.pk}-table-ii.csv" in response["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [r["variable"] for r in rows] == [
            "AST (IU/l)",
            "Albumin (g/dl)",
            "'" + FORMULA_LABEL,
        ]
        assert float(rows[0]["r"]) == 0.41 and float(rows[0]["q"]) == 0.0012  # raw numbers
        assert float(rows[1]["ci_low"]) == -0.02  # a negative number is not a formula

    def test_table_four_csv_keeps_both_models(self, client, analyst, plan):
        run = make_run(plan)
        response = get(client, analyst, reverse("analysis:run-table", args=[run.pk, "table-iv"]))
        rows = {r["variable"]: r for r in csv.DictReader(io.StringIO(response.content.decode()))}
        child = rows["Child-Pugh grade (B vs A)"]
        assert float(child["hr"]) == 1.66 and float(child["multi_hr"]) == 2.5
        assert rows["Age (>60 vs <=60 years)"]["multi_hr"] == ""

    def test_unknown_tables_and_errored_analyses_have_no_csv(self, client, analyst, plan):
        run = make_run(plan)
        for slug in ("nope", "fig-2"):
            get(client, analyst, reverse("analysis:run-table", args=[run.pk, slug]), 404)

    def test_downloads_need_the_reports_permission(self, client, plan):
        run = make_run(plan)
        urls = [
            reverse("analysis:run-figure", args=[run.pk, "fig-3"]),
            reverse("analysis:run-table", args=[run.pk, "table-ii"]),
        ]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith("/login/")
        nobody = UserFactory(username="nobody")  # logged in, in no role group
        nobody.save()  # the factory leaves its password unsaved
        for url in urls:
            get(client, nobody, url, 403)

    def test_the_standalone_download_has_no_links_back(self, client, analyst, plan):
        run = make_run(plan)
        html = get(client, analyst, reverse("analysis:run-download", args=[run.pk])).content
        html = html.decode()
        assert "/tables/" not in html and "/figures/" not in html and "/static/" not in html
        assert 'id="contents"' in html and 'aria-label="Forest plot' in html


def test_slugs_are_unique_and_stable():
    first = slugs(["Fig. 1", "Fig 1", "fig-1", "Table IV"])
    assert sorted(first.values()) == ["fig-1", "fig-1-2", "fig-1-3", "table-iv"]
    assert slugs(["Table IV", "fig-1", "Fig 1", "Fig. 1"]) == first  # order does not matter
    assert fmt_p(0.0004) == "<0.001" and fmt_p(None) == "–"


class TestWhatChanged:
    def test_the_cause_and_the_numbers_that_moved(self, client, analyst, curator, plan):
        earlier = timezone.now() - timedelta(hours=2)
        previous = make_run(plan, started_at=earlier, finished_at=earlier)
        dataset = CohortDataset.objects.create(
            name="pbc-mayo", csv="study_id\n", fingerprint="a" * 64, rows=312
        )
        diff = {
            "moved": [
                {"analysis": "Table II", "variable": "ast_iu_l", "statistic": "r", "old_n": 67}
                | {"new_n": 68, "old_estimate": 0.4, "new_estimate": 0.41, "old_p": 0.06}
                | {"new_p": 0.0004},
            ],
            "crossed_0_05": [
                {"analysis": "Table II", "variable": "ast_iu_l", "statistic": "r"}
                | {"old_p": 0.06, "new_p": 0.0004, "now": "significant"}
            ],
            "crossed_0_05_by_q": [
                {"analysis": "Table II", "variable": "albumin_g_dl", "statistic": "r"}
                | {"old_p": 0.01, "new_p": 0.07, "old_q": 0.04, "new_q": 0.105}
                | {"now": "not significant"}
            ],
            "added": [],
            "removed": [],
        }
        run = make_run(
            plan,
            previous=previous,
            diff=diff,
            dataset=dataset,
            trigger=AnalysisRun.Trigger.DATA_CHANGE,
            parameters={"via": "task", "reasons": {"follow-up changed": 3, "patient added": 1}},
        )
        html = page(client, analyst, run)
        changed = section(html, "what-changed")
        assert html.index('id="what-changed"') < html.index('id="contents"')
        assert "Data changed: follow-up changed (3×), patient added" in changed
        assert "pbc-mayo" in changed and "312 patients" in changed
        assert f"What changed against run #{previous.pk}" in changed
        assert f'href="{reverse("analysis:run", args=[previous.pk])}"' in changed
        assert "1 number moved; 1 P value crossed 0.05; 1 q-value crossed 0.05" in changed
        assert "Albumin (g/dl) (r): q 0.0400 → 0.1050 (P 0.0100 → 0.0700)" in changed
        assert "0.0600 → 0.0004, now <strong>significant</strong>" in changed
        assert "Table II · AST (IU/l) (r)" in changed  # the dictionary's label
        assert "67 → 68" in changed
        # Admin pages are linked for staff only (an analyst cannot open them).
        admin_url = reverse("admin:analysis_cohortdataset_change", args=[dataset.pk])
        assert admin_url not in changed
        assert admin_url in section(page(client, curator, run), "what-changed")

    def test_a_manual_run_names_who_asked(self, client, analyst, curator, plan):
        run = make_run(plan, trigger=AnalysisRun.Trigger.MANUAL, requested_by=curator)
        changed = section(page(client, analyst, run), "what-changed")
        assert "By hand by cura" in changed and "Data: the live database" in changed
        assert "No earlier successful run of this plan to compare with" in changed

    def test_the_edits_a_data_change_run_answered_are_linked(self, client, curator, plan):
        earlier = timezone.now() - timedelta(hours=1)
        previous = make_run(
            plan, started_at=earlier, finished_at=earlier, trigger=AnalysisRun.Trigger.DATA_CHANGE
        )
        patient = PatientFactory(study_id="P-EDITED")
        run = make_run(plan, previous=previous, trigger=AnalysisRun.Trigger.DATA_CHANGE)
        changed = section(page(client, curator, run), "what-changed")
        url = reverse("admin:biobank_patient_change", args=[patient.pk])
        assert f'<a href="{url}">P-EDITED</a> added' in changed
        # An edit before the previous run started is not this run's cause.
        assert "P-EDITED" not in section(page(client, curator, previous), "what-changed")


class TestHomePage:
    def latest(self, plan) -> AnalysisRun:
        earlier = timezone.now() - timedelta(hours=1)
        previous = make_run(plan, started_at=earlier, finished_at=earlier)
        crossed = {"analysis": "Fig. 3", "variable": "mir122_ratio", "statistic": "log-rank"}
        crossed |= {"old_p": 0.04, "new_p": 0.09, "now": "not significant"}
        return make_run(
            plan,
            previous=previous,
            trigger=AnalysisRun.Trigger.DATA_CHANGE,
            parameters={"reasons": {"follow-up changed": 2}},
            diff={"moved": [{}, {}], "crossed_0_05": [crossed]},
        )

    @pytest.mark.parametrize("role", ["curator", "analyst"])
    def test_curators_and_analysts_see_the_latest_run_and_what_changed(
        self, client, plan, role, request
    ):
        run = self.latest(plan)
        html = get(client, request.getfixturevalue(role), reverse("home")).content.decode()
        panel = section(html, "latest-analyses")
        assert f'href="{reverse("analysis:run", args=[run.pk])}"' in panel
        assert escape(plan.title) in panel
        assert "Data changed: follow-up changed (2×)" in panel
        assert "2 numbers moved, 1 P value crossed 0.05" in panel
        assert "Fig. 3 · Exo miR-122 ratio: P 0.0400 → 0.0900, now <strong>not significant" in panel
        assert reverse("analysis:plans") in html

    def test_technicians_keep_the_bench_home(self, client, technician, plan):
        self.latest(plan)
        html = get(client, technician, reverse("home")).content.decode()
        assert 'id="latest-analyses"' not in html

    def test_only_active_plans_and_only_their_latest_finished_run(self, client, analyst, plan):
        run = self.latest(plan)
        make_run(plan, status=AnalysisRun.Status.QUEUED, results=[], started_at=None)
        inactive = AnalysisPlan.objects.create(
            name="old", title="An old plan", spec={}, is_active=False
        )
        make_run(inactive)
        panel = section(get(client, analyst, reverse("home")).content.decode(), "latest-analyses")
        assert "An old plan" not in panel
        assert re.findall(r"run #(\d+)", panel)[0] == str(run.pk)

    def test_no_run_yet(self, client, analyst):
        panel = section(get(client, analyst, reverse("home")).content.decode(), "latest-analyses")
        assert "No analysis has run yet." in panel


class TestRunList:
    def test_the_run_list_pages_back_newest_first(self, client, analyst, plan):
        now = timezone.now()
        runs = [make_run(plan, results=[], rows=[]) for _ in range(30)]
        for age, run in enumerate(reversed(runs)):  # the last made is the newest
            AnalysisRun.objects.filter(pk=run.pk).update(created_at=now - timedelta(minutes=age))
        url = reverse("analysis:plan-runs", args=[plan.name])
        assert f'href="{url}"' in get(client, analyst, reverse("analysis:plans")).content.decode()
        first = get(client, analyst, url).content.decode()
        shown = [int(pk) for pk in re.findall(r">#(\d+)</a>", first)]
        assert shown == [run.pk for run in reversed(runs)][:25]
        assert "Page 1 of 2" in first and 'href="?page=2"' in first
        second = get(client, analyst, f"{url}?page=2").content.decode()
        assert [int(pk) for pk in re.findall(r">#(\d+)</a>", second)] == [
            r.pk for r in runs[:5][::-1]
        ]
        assert "Page 2 of 2" in get(client, analyst, f"{url}?page=99").content.decode()

    def test_the_plan_list_shows_the_ten_newest(self, client, analyst, plan):
        runs = [make_run(plan, results=[], rows=[]) for _ in range(12)]
        html = get(client, analyst, reverse("analysis:plans")).content.decode()
        card = section_div(html, f"plan-{plan.name}")
        assert [int(pk) for pk in re.findall(r">#(\d+)</a>", card)] == [
            r.pk for r in runs[::-1][:10]
        ]


def section_div(html: str, div_id: str) -> str:
    start = html.index(f'id="{div_id}"')
    return html[start : html.index("</div>\n", html.index("</table>", start))]


def test_not_reached_follows_the_engines_flags(client, analyst, plan):
    """R's NA: a median or upper limit never reached; a lower limit missing for another
    reason is a dash, not "not reached"."""
    km = next(entry for entry in RESULTS if entry["name"] == "Fig. 3")
    details = {"median_not_reached": True, "ci_low_not_reached": False}
    details |= {"ci_high_not_reached": True}
    rows = [r for r in ROWS if r["analysis"] != "Fig. 3"] + [
        flat("Fig. 3", "mir122_ratio low", "median survival", details=details)
    ]
    group = {"group": "low", "n": 25, "events": 3}
    group["median"] = {"median": None, "ci_low": None, "ci_high": None}
    result = {**km["result"], "groups": [group]}
    run = make_run(plan, rows=rows, results=[{**km, "result": result}])
    low = table_rows(section(page(client, analyst, run), "analysis-fig-3"))[0]
    assert low[3:5] == ["not reached", "– to not reached"]


def test_figures_belong_to_the_analysis_that_owns_their_name():
    from analysis.report import figure_owner

    analyses = ["ANOVA", "ANOVA miR-21", "Fig. 1", "Table IV"]
    assert figure_owner("Table IV forest", analyses) == "Table IV"
    assert figure_owner("ANOVA miR-21", analyses) == "ANOVA miR-21"  # the longest name
    assert figure_owner("ANOVA box", analyses) == "ANOVA"
    assert figure_owner("Fig. 10", analyses) is None  # not Fig. 1's
    assert figure_owner("qc:flow", analyses) is None
