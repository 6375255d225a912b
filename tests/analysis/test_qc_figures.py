"""The report's QC figures (analysis/qc_figures.py) and what the page makes of the QC
summary (analysis/qc_report.py): well-formed, escaped SVG with the numbers of the input,
and sensitivity rows paired with the primary rows by (analysis, variable, statistic)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from analysis.qc_figures import (
    BAD,
    draw_qc_figures,
    haemolysis_svg,
    patient_flow_svg,
    spike_in_svg,
)
from analysis.qc_report import (
    analysis_figure,
    haemolysis_flagged,
    inclusion_in_words,
    qc_context,
    qc_figures,
    sensitivity_side_by_side,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script>"

FLOW = [
    {
        "step": "Enrolled",
        "n": 76,
        "left_out": [{"study_id": "P-01", "reason": "consent withdrawn"}],
    },
    {"step": "Consented", "n": 75, "left_out": []},
    {
        "step": "Baseline present",
        "n": 75,
        "left_out": [
            {"study_id": "P-07", "reason": "no PRE draw"},
            {"study_id": HOSTILE, "reason": "no PRE draw"},
            {"study_id": "P-09", "reason": "no POST draw & <lost>"},
        ],
    },
    {"step": "Analysed", "n": 72, "left_out": []},
]


def texts(svg: str) -> list[str]:
    return ["".join(node.itertext()) for node in ET.fromstring(svg).iter(f"{SVG}text")]


def uses_filled(svg: str, colour: str) -> int:
    """Scatter points matplotlib drew in `colour` (one <use> per marker)."""
    return len(re.findall(rf'<use [^>]*style="fill: {colour}"', svg))


class TestPatientFlow:
    def test_one_box_per_step_with_label_and_n(self):
        svg = patient_flow_svg(FLOW)
        root = ET.fromstring(svg)  # well-formed
        assert root.tag == f"{SVG}svg" and root.get("viewBox").startswith("0 0 640 ")
        shown = texts(svg)
        for step in ("Enrolled (n = 76)", "Consented (n = 75)", "Baseline present (n = 75)"):
            assert step in shown
        assert "Analysed (n = 72)" in shown
        assert len(root.findall(f".//{SVG}g[@class='flow-step']")) == 4

    def test_a_side_box_only_where_patients_were_left_out_with_reasons_counted(self):
        svg = patient_flow_svg(FLOW)
        boxes = ET.fromstring(svg).findall(f".//{SVG}g[@class='flow-left-out']")
        assert len(boxes) == 2  # after Enrolled (1) and Baseline present (3)
        first = ["".join(t.itertext()) for t in boxes[0].iter(f"{SVG}text")]
        second = ["".join(t.itertext()) for t in boxes[1].iter(f"{SVG}text")]
        assert first == ["Left out: n = 1", "consent withdrawn: 1"]
        # Counted by reason, the more frequent first.
        assert second == ["Left out: n = 3", "no PRE draw: 2", "no POST draw & <lost>: 1"]

    def test_data_text_is_escaped(self):
        svg = patient_flow_svg(
            [{"step": "<b>Enrolled</b>", "n": 2, "left_out": [{"study_id": HOSTILE}]}]
        )
        root = ET.fromstring(svg)
        assert "<script>" not in svg and "&lt;script&gt;" in svg
        assert not [node for node in root.iter() if node.tag.endswith("script")]
        assert "<b>Enrolled</b> (n = 2)" in texts(svg)
        # The study id is in the side box's tooltip, as text.
        tooltip = root.find(f".//{SVG}g[@class='flow-left-out']/{SVG}title").text
        assert HOSTILE in tooltip and "no reason given" in tooltip

    def test_many_reasons_show_the_six_most_frequent_and_count_the_rest(self):
        left_out = [{"study_id": f"P{i}", "reason": "common"} for i in range(4)] + [
            {"study_id": f"Q{i}", "reason": f"rare {i}"} for i in range(8)
        ]
        svg = patient_flow_svg(
            [{"step": "A", "n": 20, "left_out": left_out}, {"step": "B", "n": 8}]
        )
        box = ET.fromstring(svg).find(f".//{SVG}g[@class='flow-left-out']")
        lines = ["".join(t.itertext()) for t in box.iter(f"{SVG}text")]
        # 12 left out: "common" ×4, then rare 0..4 (ties alphabetical), then 3 more reasons.
        assert lines == [
            "Left out: n = 12",
            "common: 4",
            "rare 0: 1",
            "rare 1: 1",
            "rare 2: 1",
            "rare 3: 1",
            "rare 4: 1",
            "… 3 more reasons: 3",
        ]

    def test_boxes_do_not_overlap_and_fit_the_view_box(self):
        root = ET.fromstring(patient_flow_svg(FLOW))
        height = float(root.get("viewBox").split()[3])
        boxes = sorted(
            (float(r.get("y")), float(r.get("y")) + float(r.get("height")), float(r.get("x")))
            for r in root.iter(f"{SVG}rect")
        )
        for column in {x for _, _, x in boxes}:
            same = [(top, bottom) for top, bottom, x in boxes if x == column]
            assert all(b[0] > a[1] for a, b in zip(same, same[1:], strict=False))
        assert max(bottom for _, bottom, _ in boxes) <= height

    def test_no_flow_no_figure(self):
        assert patient_flow_svg([]) == ""


SPIKE = [
    {"batch": "EXO-1", "rt_code": f"R1-{i}", "study_id": f"P{i}", "cq": 17.0 + 0.1 * i}
    for i in range(5)
] + [
    {"batch": "EXO-2", "rt_code": "R2-0", "study_id": "P9", "cq": 17.2},
    {"batch": "EXO-2", "rt_code": HOSTILE, "study_id": "P8", "cq": 22.4, "outlier": True},
    {"batch": "EXO-2", "rt_code": "R2-none", "study_id": "P7", "cq": None},
]


class TestSpikeIn:
    def test_outliers_in_red_and_named_by_rt_code_escaped(self):
        svg = spike_in_svg(SPIKE, 3.5)
        ET.fromstring(svg)  # well-formed
        assert uses_filled(svg, BAD) == 1  # the one outlier; the point without Cq is not drawn
        assert "&lt;script&gt;" in svg and "<script>" not in svg
        assert "EXO-1" in svg and "EXO-2" in svg and "1 of 7 outliers" in svg

    def test_identical_data_draw_identical_svg(self):
        assert spike_in_svg(SPIKE, 3.5) == spike_in_svg(SPIKE, 3.5)

    def test_no_cq_no_figure(self):
        assert spike_in_svg([{"batch": "B", "cq": None}], 3.5) == ""


HAEM = [
    {"study_id": "P1", "timepoint": "PRE", "index": 3.1, "status": "pass"},
    {"study_id": "P2", "timepoint": "PRE", "index": 5.6, "status": "warn"},
    {"study_id": HOSTILE, "timepoint": "POST", "index": 7.9, "status": "fail"},
    {"study_id": "P4", "timepoint": "POST", "index": None, "status": "pass"},
]


class TestHaemolysis:
    def test_lines_labelled_and_points_by_band(self):
        svg = haemolysis_svg(HAEM, 5.0, 7.0)
        ET.fromstring(svg)
        assert "borderline (5)" in svg and "high risk (Blondal et al. 2013) (7)" in svg
        assert uses_filled(svg, BAD) == 1 and uses_filled(svg, "#b35c00") == 1
        assert "PRE" in svg and "POST" in svg and "1 of 3 above the high line" in svg
        assert "<script>" not in svg and "&lt;script&gt;" in svg  # the named draw

    def test_no_index_no_figure(self):
        assert haemolysis_svg([{"study_id": "P1", "index": None}], 5.0, 7.0) == ""


class TestDrawQcFigures:
    def test_a_figure_only_for_data_present(self):
        assert set(draw_qc_figures({"flow": FLOW, "spike_in": [], "haemolysis": []})) == {"qc:flow"}
        qc = {
            "flow": FLOW,
            "spike_in": SPIKE,
            "spike_in_limit": 3.5,
            "haemolysis": HAEM,
            "haemolysis_limits": {"borderline": 5.0, "high": 7.0},
        }
        assert set(draw_qc_figures(qc)) == {"qc:flow", "qc:spike_in", "qc:haemolysis"}
        assert draw_qc_figures({}) == {}


def row(analysis, variable, statistic, n, estimate, p, low=None, high=None):
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


class TestReportContext:
    def test_sensitivity_rows_meet_their_primary_rows(self):
        primary = [
            row("Fig. 1", "miR-122", "mean difference", 70, -0.2, 0.01),
            row("Fig. 3", "miR-122", "log-rank chi-square", 70, 4.1, 0.04),
        ]
        sensitivity = [
            {
                "name": "Without haemolysed draws",
                "rows": [
                    row("Fig. 3", "miR-122", "log-rank chi-square", 66, 3.0, 0.08),
                    row("Fig. 1", "miR-122", "mean difference", 66, -0.21, 0.02),
                    row("Fig. 9", "x", "r", 66, 0.1, 0.5),
                ],
            }
        ]
        (table,) = sensitivity_side_by_side(primary, sensitivity)
        assert table["name"] == "Without haemolysed draws"
        fig3, fig1, fig9 = table["rows"]
        assert fig3["primary"]["n"] == 70 and fig3["sensitivity"]["n"] == 66
        assert fig3["crossed"] is True  # 0.04 -> 0.08
        assert fig1["primary"]["estimate"] == -0.2 and fig1["crossed"] is False
        assert fig9["primary"] is None and fig9["crossed"] is False

    def test_qc_figures_are_kept_apart_from_the_analyses(self):
        figures = {"Fig. 3": "<svg>km</svg>", "qc:flow": "<svg>flow</svg>", "qc:spike_in": ""}
        assert qc_figures(figures) == {"flow": "<svg>flow</svg>"}
        assert analysis_figure(figures, "Fig. 3") == "<svg>km</svg>"
        assert analysis_figure(figures, "qc:flow") is None

    def test_inclusion_in_words_and_unknown_codes_readable(self):
        assert inclusion_in_words(["pre_drawn", "tumour_size_known"]) == [
            "a serum draw before TACE (PRE)",
            "tumour size known",
        ]

    @pytest.mark.parametrize(
        ("draw", "flagged"),
        [
            ({"index": 4.9, "status": "pass"}, False),
            ({"index": 5.1, "status": "pass"}, True),
            ({"index": None, "status": "warn"}, True),  # flagged by A414 or the grade
            ({"index": 3.0, "status": "fail"}, True),
        ],
    )
    def test_haemolysis_draws_listed(self, draw, flagged):
        qc = {"haemolysis": [draw], "haemolysis_limits": {"borderline": 5.0, "high": 7.0}}
        assert bool(haemolysis_flagged(qc)) is flagged

    def test_empty_qc_gives_empty_context(self):
        context = qc_context({}, {"Fig. 3": "<svg/>"}, [])
        assert context["qc"] == {} and context["qc_figures"] == {}
        assert context["qc_sensitivity"] == [] and context["qc_available"] is True
