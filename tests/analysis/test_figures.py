"""The report's figures (analysis/figures.py) as run_plan draws them: each on its own (a
figure that fails is a note, the results stand), Kaplan-Meier axes and labels from the
data dictionary, a forest plot per Cox analysis, a dot/box plot per ANOVA, and alt text
on every figure, in the notes and inside the SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape

import numpy as np
import pandas as pd
import pytest

import analysis.figures as figures
from analysis.dictionary import ColumnInfo, DataDictionary
from analysis.engine import run_plan
from analysis.figures import draw_figures, forest_figure, kaplan_meier_figure

SVG = "{http://www.w3.org/2000/svg}"


def cohort(n: int = 60, seed: int = 1, time: str = "days", event: str = "status") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "study_id": [f"P{i:02d}" for i in range(n)],
            time: rng.exponential(300, n).round() + 1,
            event: (rng.random(n) < 0.6).astype(int),
            "arm": rng.choice(["A", "B", "C"], n),
            "marker": rng.normal(size=n),
            "before": rng.normal(10, 1, n),
            "after": rng.normal(9, 1, n),
        }
    )


DAYS = DataDictionary(
    {
        "days": ColumnInfo("days", role="time", unit="days"),
        "status": ColumnInfo("status", role="event", label="death"),
        "marker": ColumnInfo("marker", label="Marker X", unit="ng/ml"),
        "arm": ColumnInfo("arm", type="categorical", label="Treatment arm"),
    },
    time_unit="days",
)
KM_LEVELS = {
    "kind": "kaplan_meier",
    "name": "KM by arm",
    "split": {"column": "arm", "at": "levels"},
}
KM_MEDIAN = {"kind": "kaplan_meier", "name": "KM by marker",
             "split": {"column": "marker", "at": "median"}}  # fmt: skip
COX = {
    "kind": "cox",
    "name": "Cox",
    "terms": [
        {"column": "marker", "cutoff": 0, "label": "Marker (>0 vs <=0)"},
        {"column": "arm", "level": "B", "label": "Arm (B vs other)"},
        {"column": "marker", "cutoff": 99, "label": "Marker (>99 vs <=99)"},  # nobody above
    ],
    "multivariate": ["Marker (>0 vs <=0)", "Arm (B vs other)"],
}
ANOVA = {"kind": "anova", "name": "Marker by arm", "value": "marker", "group": "arm"}
PAIRED = {"kind": "paired_t_test", "name": "Paired", "before": "before", "after": "after"}


def plan(*analyses, time="days", event="status") -> dict:
    return {"time": time, "event": event, "analyses": list(analyses)}


def svg_desc(svg: str) -> tuple[str, str, str]:
    root = ET.fromstring(svg.split("?>", 1)[-1] if svg.startswith("<?xml") else svg)
    return root.get("aria-label"), root.find(f"{SVG}title").text, root.find(f"{SVG}desc").text


def shown(svg: str) -> list[str]:
    """The texts matplotlib drew (as glyph paths, each announced by a comment)."""
    return [unescape(text) for text in re.findall(r"<!-- (.*?) -->", svg)]


def result_of(outcome, name):
    return next(entry for entry in outcome.results if entry["name"] == name)


class TestIsolation:
    def test_a_split_by_levels_draws_with_the_levels_in_the_legend(self):
        outcome = run_plan(cohort(), plan(KM_LEVELS, COX), dictionary=DAYS)
        assert result_of(outcome, "KM by arm")["error"] is None
        svg = outcome.figures["KM by arm"]
        for level in ("A", "B", "C"):
            assert f"Treatment arm: {level} (n = " in svg
        assert "log-rank P" in svg and "Number at risk" in svg
        assert "error" not in outcome.figure_notes["KM by arm"]
        assert "Cox forest" in outcome.figures

    def test_a_figure_that_raises_leaves_the_results_and_the_other_figures(self, monkeypatch):
        def broken(*args, **kwargs):
            raise RuntimeError("the forest is on fire")

        monkeypatch.setattr(figures, "forest_figure", broken)
        outcome = run_plan(cohort(), plan(KM_LEVELS, COX, ANOVA), dictionary=DAYS)
        assert [entry["error"] for entry in outcome.results] == [None, None, None]
        assert any(row["analysis"] == "Cox multivariate" for row in outcome.rows)
        assert outcome.figure_notes["Cox forest"] == {
            "error": "RuntimeError: the forest is on fire"
        }
        assert "Cox forest" not in outcome.figures
        assert {"KM by arm", "Marker by arm"} <= set(outcome.figures)
        assert figures.plt.get_fignums() == []  # nothing half-drawn left open

    def test_a_paired_test_without_pairs_draws_nothing(self):
        # (A paired test of one column twice is refused by validate_plan.)
        table = cohort().assign(empty=np.nan)
        none = {**PAIRED, "name": "None", "after": "empty"}
        outcome = run_plan(table, plan(none, ANOVA), dictionary=DAYS)
        # No pairs, nothing to draw: neither a figure nor an error.
        assert "None" not in outcome.figures and "None" not in outcome.figure_notes
        assert "Marker by arm" in outcome.figures

    def test_a_broken_qc_figure_is_a_note_too(self, monkeypatch):
        import analysis.qc_figures as qc_figures

        def broken(flow):
            raise ValueError("bad flow")

        monkeypatch.setattr(qc_figures, "patient_flow_svg", broken)
        outcome = run_plan(cohort(), plan(ANOVA), dictionary=DAYS)
        assert outcome.figure_notes["qc:flow"] == {"error": "ValueError: bad flow"}
        assert "Marker by arm" in outcome.figures


class TestKaplanMeier:
    def test_a_dataset_in_days_is_labelled_in_days_with_the_events_label(self):
        svg = run_plan(cohort(), plan(KM_MEDIAN), dictionary=DAYS).figures["KM by marker"]
        assert "Time (days)" in svg and "Months from TACE" not in svg
        assert "Survival probability (event: death)" in svg
        assert "Marker X (ng/ml) ≤ " in svg and "Marker X (ng/ml) &gt; " in svg

    def test_the_papers_columns_keep_the_papers_wording(self):
        table = cohort(time="dss_months", event="dss_event")
        drawn = run_plan(table, plan(KM_MEDIAN, time="dss_months", event="dss_event"))
        svg = drawn.figures["KM by marker"]
        assert "Months from TACE" in svg and "Disease-specific survival" in svg

    def test_the_axis_reaches_the_last_follow_up_not_the_last_tick(self, monkeypatch):
        limits = []
        original = figures.to_svg

        def spy(figure, **kwargs):
            limits.append(figure.axes[0].get_xlim())
            return original(figure, **kwargs)

        monkeypatch.setattr(figures, "to_svg", spy)
        table = cohort()
        spec = {**KM_LEVELS, "times": [0, 100, 200]}
        run_plan(table, plan(spec), dictionary=DAYS, figures=True)
        (left, right), *_ = limits
        assert left == 0 and table["days"].max() <= right <= 1.05 * table["days"].max()

    def test_the_engines_group_labels_and_at_risk_numbers_are_shown(self):
        curve = [
            {"time": 0.0, "survival": 1.0, "ci_low": 1.0, "ci_high": 1.0, "at_risk": 4,
             "events": 0, "censored": 0},
            {"time": 5.0, "survival": 0.75, "ci_low": 0.3, "ci_high": 0.9, "at_risk": 4,
             "events": 1, "censored": 0},
            {"time": 9.0, "survival": 0.75, "ci_low": 0.3, "ci_high": 0.9, "at_risk": 3,
             "events": 0, "censored": 3},
        ]  # fmt: skip
        group = {"n": 4, "events": 1, "median": {"median": None}, "curve": curve, "at_times": []}
        result = {
            "time": "days",
            "event": "status",
            "split": {
                "column": "marker",
                "at": "median",
                "cutoff": 0.793,
                "cutoff_source": "data-derived",
            },
            "groups": [
                {**group, "group": "low", "label": "miR-122 ratio ≤ 0.793"},
                {**group, "group": "high", "label": "miR-122 ratio > 0.793"},
            ],
            "logrank": {"p": 0.0123},
        }
        svg, alt = kaplan_meier_figure(result, "Fig. 3", DAYS)
        assert "miR-122 ratio ≤ 0.793 (n = 4)" in svg and "log-rank P = 0.012" in svg
        assert alt.startswith("Kaplan-Meier curves of survival probability (event: death) for 2")
        assert "median not reached" in alt
        assert alt.endswith("log-rank P = 0.012; cut-off data-derived.")
        assert "cut-off data-derived" in shown(svg)
        # Round ticks 0, 2, 4, 6, 8 up to the last follow-up (9): 4 at risk until the
        # event at 5 leaves 3 (censored at 9).
        texts = shown(svg)
        at_risk = texts[texts.index("Number at risk") + 1 :]
        assert at_risk[:6] == ["miR-122 ratio ≤ 0.793", "4", "4", "4", "3", "3"]

    def test_identical_data_draw_identical_svg(self):
        first = run_plan(cohort(), plan(KM_LEVELS, COX, ANOVA), dictionary=DAYS).figures
        second = run_plan(cohort(), plan(KM_LEVELS, COX, ANOVA), dictionary=DAYS).figures
        assert first == second


class TestForestAndAnova:
    def test_one_forest_plot_per_cox_analysis_with_its_terms_and_a_not_estimable(self):
        outcome = run_plan(cohort(), plan(COX), dictionary=DAYS)
        svg = outcome.figures["Cox forest"]
        for term in COX["terms"]:
            assert term["label"].replace(">", "&gt;").replace("<", "&lt;") in svg
        assert "not estimable" in svg and "Hazard ratio (95% CI, log scale)" in svg
        assert "Univariate" in svg and "Multivariate" in svg
        cox = result_of(outcome, "Cox")["result"]
        first = cox["multivariate"]["estimates"][0]
        assert f"{first['hr']:.2f} ({first['ci_low']:.2f}–{first['ci_high']:.2f})" in svg
        alt = outcome.figure_notes["Cox forest"]["alt"]
        assert "3 terms in univariate Cox models and 2 in the multivariate model" in alt
        assert "1 not estimable" in alt

    def test_a_forest_plot_names_significant_hazard_ratios_in_its_alt_text(self):
        model = {
            "confidence": 0.9,
            "estimates": [{"variable": "Stage (III vs I)", "hr": 2.5, "ci_low": 1.2,
                           "ci_high": 5.1, "p": 0.013}],
        }  # fmt: skip
        svg, alt = forest_figure({"univariate": [model], "multivariate": None}, "T")
        assert "90% CIs" in alt and "Stage (III vs I) (univariate) HR 2.50 (1.20–5.10)" in alt
        assert "Multivariate" not in svg

    def test_a_cox_analysis_without_models_has_no_forest_plot(self):
        assert forest_figure({"univariate": [], "multivariate": None}, "T") == ("", "")

    def test_an_anova_plot_has_n_per_group_and_f_and_p_in_the_title(self):
        table = cohort()
        outcome = run_plan(table, plan(ANOVA), dictionary=DAYS)
        svg = outcome.figures["Marker by arm"]
        anova = result_of(outcome, "Marker by arm")["result"]
        texts = shown(svg)
        ticks = [
            (level, f"(n = {count})")
            for level, count in sorted(table["arm"].value_counts().items())
        ]
        assert [pair for pair in zip(texts, texts[1:], strict=False) if pair in ticks] == ticks
        assert f"F(2, 57) = {anova['f']:.2f}, P = {anova['p']:.3f}" in svg
        assert "Marker X (ng/ml)" in svg and "Treatment arm" in svg
        assert outcome.figure_notes["Marker by arm"]["alt"].startswith(
            "Dot and box plot of Marker X (ng/ml) by Treatment arm for 3 groups"
        )


QC = {
    "flow": [{"step": "Enrolled", "n": 3, "left_out": [{"study_id": "P1", "reason": "x"}]},
             {"step": "Analysed", "n": 2, "left_out": []}],
    "spike_in": [{"batch": "B1", "cq": 17.0}, {"batch": "B1", "cq": 22.0, "outlier": True}],
    "spike_in_limit": 3.5,
    "haemolysis": [{"study_id": "P1", "timepoint": "PRE", "index": 7.5}],
    "haemolysis_limits": {"borderline": 5.0, "high": 7.0},
}  # fmt: skip


class TestAltText:
    def test_every_figure_has_alt_text_in_the_notes_and_inside_the_svg(self):
        table = cohort()
        drawn = run_plan(table, plan(KM_LEVELS, KM_MEDIAN, COX, ANOVA, PAIRED), dictionary=DAYS)
        outcome = drawn
        results = outcome.results
        both = draw_figures(table, plan(KM_LEVELS, KM_MEDIAN, COX, ANOVA, PAIRED), results,
                            dictionary=DAYS, qc=QC)  # fmt: skip
        expected = {"KM by arm", "KM by marker", "Cox forest", "Marker by arm", "Paired",
                    "qc:flow", "qc:spike_in", "qc:haemolysis"}  # fmt: skip
        assert set(both.figures) == expected == set(both.notes)
        for name, svg in both.figures.items():
            alt = both.notes[name]["alt"]
            assert len(alt) > 40 and alt.endswith("."), name
            label, title, desc = svg_desc(svg)
            assert label == desc == alt, name
            assert title
        notes = both.notes
        assert "paired t-test P" in notes["Paired"]["alt"]
        assert "1 outlier (" in notes["qc:spike_in"]["alt"]
        assert "1 above the high line (7)" in notes["qc:haemolysis"]["alt"]
        assert "Enrolled: n = 3; Analysed: n = 2); 1 left out" in notes["qc:flow"]["alt"]

    @pytest.mark.parametrize("hostile", ['<script>"x"</script>', "a & b"])
    def test_alt_text_is_escaped_inside_the_svg(self, hostile):
        svg = figures.with_alt("<svg xmlns='http://www.w3.org/2000/svg'></svg>", alt=hostile)
        label, title, desc = svg_desc(svg)
        assert label == desc == title == hostile and "<script>" not in svg


def test_a_large_paired_plot_draws_a_sample_of_lines_and_says_so():
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"before": rng.normal(size=2500), "after": rng.normal(size=2500)})
    table.loc[7, "after"] = 9.0  # the highest value: its line is always drawn
    result = {"n": 2500, "p": 0.5}
    drawn = figures.paired_figure(table, "before", "after", "Large", result)
    match = re.search(r"Lines drawn for ([\d,]+) of the 2,500 patients", drawn.alt)
    assert match and 2000 <= int(match.group(1).replace(",", "")) <= 2004
    assert "Lines drawn" in unescape(drawn.svg)
    again = figures.paired_figure(table, "before", "after", "Large", result)
    assert again.svg == drawn.svg  # the sample is the same every time
    small = figures.paired_figure(table.head(60), "before", "after", "Small", result)
    assert "Lines drawn" not in small.alt


@pytest.mark.parametrize("name", ["KM by arm", "Cox forest", "Marker by arm"])
def test_one_drawing_is_cropped_to_matplotlibs_tight_box(name):
    """to_svg draws a figure once and crops it to the tight box itself: the same size as
    savefig(bbox_inches="tight"), which draws it twice, and the viewBox starts at the
    box's corner (the picture is not the figure's full page)."""
    import io

    drawn = {}

    def both(figure, *, alt="", title=""):
        buffer = io.StringIO()
        with figures.plt.rc_context({"svg.hashsalt": "exotrack"}):
            figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        drawn["tight"] = buffer.getvalue()
        drawn["ours"] = original(figure, alt=alt, title=title)
        return drawn["ours"]

    original = figures.to_svg
    viewport = r'<svg[^>]* width="([^"]+)" height="([^"]+)" viewBox="([^"]+)"'
    try:
        figures.to_svg = both
        run_plan(cohort(), plan({**KM_LEVELS, "name": name} if "KM" in name else
                                (COX if "Cox" in name else ANOVA)), dictionary=DAYS)  # fmt: skip
    finally:
        figures.to_svg = original
    tight = re.search(viewport, drawn["tight"]).groups()
    ours = re.search(viewport, drawn["ours"]).groups()
    assert ours[:2] == tight[:2]
    assert ours[2].split()[2:] == tight[2].split()[2:] and ours[2] != tight[2]
    assert shown(drawn["ours"]) == shown(drawn["tight"])


def test_censoring_marks_are_one_path_of_ticks_eight_points_tall():
    """Each censoring time gets a vertical tick 8 points tall on the curve (what the "|"
    marker at size 8 drew), all of them one SVG path rather than an element per mark."""
    outcome = run_plan(cohort(), plan({"kind": "kaplan_meier", "name": "KM"}), dictionary=DAYS)
    (group,) = outcome.results[0]["result"]["groups"]
    censored = [point for point in group["curve"] if point["censored"] > 0]
    ticks = []
    for path in re.findall(r'<path d="([^"]*)"', outcome.figures["KM"]):
        moves = re.findall(r"M ([-\d.]+) ([-\d.]+)\s+L ([-\d.]+) ([-\d.]+)", path)
        if len(moves) == len(censored) and path.count("M") == len(censored):
            ticks.append([tuple(map(float, move)) for move in moves])
    assert len(ticks) == 1 and len(censored) > 5
    for x0, y0, x1, y1 in ticks[0]:
        assert x0 == x1 and abs(abs(y1 - y0) - 8.0) < 1e-3
