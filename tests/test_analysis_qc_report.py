"""The report page's QC sections, on runs made by hand with a QC summary in the engine's
schema (no demo cohort needed): who was left out, the sensitivity analysis beside the
primary result, the download, the dataset without QC columns, and old runs unchanged."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from analysis.models import AnalysisPlan, AnalysisRun
from analysis.qc_figures import draw_qc_figures

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script>"


def row(analysis, variable, statistic, n, estimate, low, high, p):
    return {
        "analysis": analysis,
        "variable": variable,
        "statistic": statistic,
        "n": n,
        "estimate": estimate,
        "ci_low": low,
        "ci_high": high,
        "p": p,
        "warnings": [],
    }


PRIMARY = [
    row(
        "Fig. 1",
        "mir122_post_log10 - mir122_pre_log10",
        "mean difference",
        70,
        -0.25,
        -0.4,
        -0.1,
        0.01,
    ),
    row("Fig. 3", "mir122_ratio", "log-rank chi-square", 70, 4.1, None, None, 0.043),
]


def qc_summary(**changes):
    qc = {
        "available": True,
        "policy": "exclude_fail",
        "policy_label": "measurements that failed QC are left out",
        "inclusion": ["baseline_present", "pre_drawn", "post_drawn"],
        "flow": [
            {
                "step": "Enrolled",
                "n": 73,
                "left_out": [{"study_id": "P-01", "reason": "consent withdrawn"}],
            },
            {
                "step": "Consented",
                "n": 72,
                "left_out": [
                    {"study_id": "P-07", "reason": "no PRE draw"},
                    {"study_id": HOSTILE, "reason": "no PRE draw"},
                ],
            },
            {"step": "Analysed", "n": 70, "left_out": []},
        ],
        "excluded_patients": [
            {"study_id": "P-01", "reason": "consent withdrawn"},
            {"study_id": "P-07", "reason": "no PRE draw"},
            {"study_id": HOSTILE, "reason": "no PRE draw"},
        ],
        "excluded_measurements": [
            {
                "study_id": f"P-{i:02d}",
                "timepoint": "PRE",
                "mir": "mir21",
                "status": "fail",
                "reasons": f"NTC amplified on plate QP-3 (case {i})",
            }
            for i in range(25)
        ],
        "status_counts": {"pass": 280, "warn": 12, "fail": 25},
        "ntc": [
            {
                "plate": "DEMO-QP-0003",
                "target": "hsa-miR-21-5p",
                "n_ntc": 3,
                "n_amplified": 3,
                "cq": 12.9,
                "flag": "NTC amplified (Cq 12.90)",
            },
            {
                "plate": "DEMO-QP-0001",
                "target": "hsa-miR-21-5p",
                "n_ntc": 3,
                "n_amplified": 0,
                "cq": None,
                "flag": "",
            },
        ],
        "spike_in": [
            {
                "batch": "EXO-1",
                "rt_code": "RT-A",
                "study_id": "P-02",
                "timepoint": "PRE",
                "cq": 17.4,
                "z": 0.3,
                "outlier": False,
            },
            {
                "batch": "EXO-1",
                "rt_code": "RT-SPIKE-FAIL",
                "study_id": "P-03",
                "timepoint": "PRE",
                "cq": 23.0,
                "z": 9.1,
                "outlier": True,
            },
        ],
        "spike_in_limit": 3.5,
        "haemolysis": [
            {
                "study_id": "P-CLEAN",
                "timepoint": "PRE",
                "index": 3.1,
                "a414": 0.08,
                "grade": "none",
                "status": "pass",
            },
            {
                "study_id": "P-HAEM",
                "timepoint": "POST",
                "index": 7.6,
                "a414": 0.31,
                "grade": "moderate",
                "status": "fail",
            },
        ],
        "haemolysis_limits": {"borderline": 5.0, "high": 7.0},
        "well_exclusions": [
            {
                "plate": "DEMO-QP-0001",
                "position": "A2",
                "target": "hsa-miR-122-5p",
                "rt_code": "RT-W",
                "reason": "replicate 2 is 0.81 cycles from the group median 30.12 (limit 0.50)",
                "source": "auto",
            },
        ],
        "sensitivity": [
            {
                "name": "Without haemolysed draws",
                "description": "Draws with a haemolysis index above 7 left out.",
                "policy": "exclude_fail",
                "exclude_rules": ["haemolysis"],
                "n_patients": 68,
                "rows": [
                    row(
                        "Fig. 3", "mir122_ratio", "log-rank chi-square", 68, 3.2, None, None, 0.074
                    ),
                    row(
                        "Fig. 1",
                        "mir122_post_log10 - mir122_pre_log10",
                        "mean difference",
                        68,
                        -0.23,
                        -0.39,
                        -0.07,
                        0.012,
                    ),
                ],
            }
        ],
    }
    qc.update(changes)
    return qc


def make_run(qc, **fields):
    plan = AnalysisPlan.objects.get(name="paper-default")
    now = timezone.now()
    values = {
        "plan": plan,
        "status": AnalysisRun.Status.SUCCEEDED,
        "trigger": AnalysisRun.Trigger.COMMAND,
        "fingerprint": "f" * 64,
        "started_at": now,
        "finished_at": now,
        "n_patients": 73,
        "rows": PRIMARY,
        "qc": qc,
        "figures": draw_qc_figures(qc),
    }
    return AnalysisRun.objects.create(**{**values, **fields})


def page(client, user, run, path=""):
    client.force_login(user)
    response = client.get(f"/analysis/runs/{run.pk}/{path}")
    assert response.status_code == 200
    return response.content.decode()


def section(html, section_id):
    """The HTML of <section id=...> (sections do not nest)."""
    match = re.search(rf'<section [^>]*id="{section_id}".*?</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(0)


class TestQcOnTheReport:
    def test_data_and_qc_comes_before_the_analyses_and_names_who_was_left_out(
        self, client, analyst
    ):
        html = page(client, analyst, make_run(qc_summary()))
        top = section(html, "data-and-qc")
        assert html.index('id="data-and-qc"') < html.index('id="provenance"')
        assert "measurements that failed QC are left out" in top
        assert "a serum draw before TACE (PRE)" in top  # inclusion in words
        assert "Enrolled (n = 73)" in top and "Left out: n = 2" in top  # the flow figure
        assert "P-07" in top and "no PRE draw" in top and "consent withdrawn" in top
        # A hostile study id is text everywhere on the page, never markup.
        assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in top

    def test_measurements_beyond_twenty_are_collapsed(self, client, analyst):
        details = section(page(client, analyst, make_run(qc_summary())), "qc-details")
        shown, collapsed = details.split("The other 5 measurements left out")
        assert "(case 19)" in shown and "(case 20)" not in shown
        assert "(case 20)" in collapsed and "(case 24)" in collapsed

    def test_ntc_spike_in_haemolysis_and_wells(self, client, analyst):
        details = section(page(client, analyst, make_run(qc_summary())), "qc-details")
        amplified = re.search(
            r'<tr class="flagged"><td><code>DEMO-QP-0003</code>.*?</tr>', details, re.S
        )
        assert amplified and "NTC amplified (Cq 12.90)" in amplified.group(0)
        assert "<tr><td><code>DEMO-QP-0001</code>" in details  # the clean plate, not flagged
        assert "RT-SPIKE-FAIL" in details and "9.1" in details
        assert "P-HAEM" in details and "7.60" in details and "P-CLEAN" not in details
        assert details.count("<svg") == 2  # spike-in and haemolysis figures
        assert "0.81 cycles from the group median" in details and "1 well excluded" in details

    def test_sensitivity_row_next_to_the_primary_row(self, client, analyst):
        table = section(page(client, analyst, make_run(qc_summary())), "qc-sensitivity")
        assert "Without haemolysed draws" in table and "68 patients (primary: 73)" in table
        rows = re.findall(r"<tr[^>]*>\s*<td>(Fig\. \d)</td>.*?</tr>", table, re.S)
        assert rows == ["Fig. 3", "Fig. 1"]  # the sensitivity's order
        fig3 = re.search(r'<tr class="crossed"><td>Fig\. 3</td>.*?</tr>', table, re.S).group(0)
        # Primary n, estimate and P, then the sensitivity's, on one row; P 0.043 -> 0.074
        # crosses 0.05 so the row is marked.
        cells = re.findall(r"<td[^>]*>(.*?)</td>", fig3, re.S)
        assert cells[3:] == ["70", "4.100", "<strong>0.043</strong>", "68", "3.200", "0.074"]
        fig1 = re.search(r"<tr><td>Fig\. 1</td>.*?</tr>", table, re.S).group(0)
        assert "-0.250 (-0.400 to -0.100)" in fig1 and "-0.230 (-0.390 to -0.070)" in fig1

    def test_the_download_carries_the_qc_sections(self, client, analyst):
        html = page(client, analyst, make_run(qc_summary()), "report.html")
        for section_id in ("data-and-qc", "qc-details", "qc-sensitivity"):
            section(html, section_id)
        assert "/static/" not in html and ".qc-figure svg" in html

    def test_a_dataset_without_qc_columns_says_no_gate_was_applied(self, client, analyst):
        qc = qc_summary(
            available=False,
            excluded_measurements=[],
            ntc=[],
            spike_in=[],
            haemolysis=[],
            well_exclusions=[],
            sensitivity=[],
        )
        html = page(client, analyst, make_run(qc))
        assert "carries no QC columns, so no QC gate was applied" in section(html, "data-and-qc")
        assert 'id="qc-details"' not in html

    def test_an_old_run_without_qc_renders_as_before(self, client, analyst):
        html = page(client, analyst, make_run({}))
        for section_id in ("data-and-qc", "qc-details", "qc-sensitivity"):
            assert f'id="{section_id}"' not in html
        assert "QC policy" not in html and "Provenance" in html

    def test_an_unchanged_run_shows_the_qc_of_the_run_it_matched(self, client, analyst):
        first = make_run(qc_summary())
        unchanged = make_run({}, same_as=first, status=AnalysisRun.Status.UNCHANGED)
        assert "Enrolled (n = 73)" in section(page(client, analyst, unchanged), "data-and-qc")


def test_the_admin_shows_the_qc_gate_read_only(admin_client):
    run = make_run(qc_summary())
    html = admin_client.get(f"/admin/analysis/analysisrun/{run.pk}/change/").content.decode()
    # 3 patients, 25 measurements, 1 sensitivity analysis in the summary above.
    assert (
        "measurements that failed QC are left out; 3 patients and 25 measurements left out; "
        "1 sensitivity analyses." in html
    )
    assert "Enrolled 73 → Consented 72 → Analysed 70" in html
    assert HOSTILE not in html and 'name="qc"' not in html  # shown, never editable
