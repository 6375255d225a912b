"""What the report page shows of a run's QC summary (AnalysisRun.qc), prepared for the
template: the QC figures apart from the analyses' figures, the inclusion criteria in words,
and each sensitivity analysis paired row by row with the primary result.

Pure: dicts in, dicts out, so the views stay thin and the pairing is tested without a page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "QC_FIGURE_PREFIX",
    "analysis_figure",
    "inclusion_in_words",
    "qc_context",
    "qc_figures",
    "sensitivity_side_by_side",
]

QC_FIGURE_PREFIX = "qc:"

# The plan's inclusion criteria as a reader of the methods section would say them; a code
# not listed here is shown with its underscores as spaces rather than hidden.
# The inclusion criteria of analysis.gate.INCLUSION, in words.
INCLUSION_WORDS = {
    "baseline_present": "baseline data recorded",
    "pre_drawn": "a serum draw before TACE (PRE)",
    "post_drawn": "a serum draw after TACE (POST)",
}

RowKey = tuple[str, str, str]


def analysis_figure(figures: Mapping[str, str], name: str) -> str | None:
    """An analysis's figure by its name; never a QC figure, even for an analysis whose
    name happens to start like one."""
    if name.startswith(QC_FIGURE_PREFIX):
        return None
    return figures.get(name)


def qc_figures(figures: Mapping[str, str]) -> dict[str, str]:
    """The QC figures stored with the run's figures ("qc:flow" -> "flow")."""
    return {
        name.removeprefix(QC_FIGURE_PREFIX): svg
        for name, svg in figures.items()
        if name.startswith(QC_FIGURE_PREFIX) and svg
    }


def inclusion_in_words(codes: Iterable[str]) -> list[str]:
    return [INCLUSION_WORDS.get(code, str(code).replace("_", " ")) for code in codes or []]


def _key(row: Mapping) -> RowKey:
    return (str(row.get("analysis")), str(row.get("variable")), str(row.get("statistic")))


def _significant(row: Mapping | None) -> bool | None:
    p = (row or {}).get("p")
    return None if p is None else p < 0.05


def sensitivity_side_by_side(
    primary_rows: Iterable[Mapping], sensitivity: Iterable[Mapping]
) -> list[dict]:
    """Each sensitivity analysis with its rows next to the primary row of the same
    (analysis, variable, statistic).

    The rows follow the sensitivity's own order (it re-runs only the analyses the plan
    chose); a row the primary run does not have gets ``primary`` None. ``crossed`` marks a
    row whose P is below 0.05 in one result and not in the other: the finding a reader must
    not miss.
    """
    primary = {_key(row): row for row in primary_rows or []}
    tables = []
    for analysis in sensitivity or []:
        rows = []
        for row in analysis.get("rows") or []:
            match = primary.get(_key(row))
            before, after = _significant(match), _significant(row)
            rows.append(
                {
                    "analysis": row.get("analysis"),
                    "variable": row.get("variable"),
                    "statistic": row.get("statistic"),
                    "primary": match,
                    "sensitivity": row,
                    "crossed": before is not None and after is not None and before != after,
                }
            )
        tables.append({**analysis, "rows": rows})
    return tables


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def haemolysis_flagged(qc: Mapping) -> list[Mapping]:
    """Draws a reader should look at: index above the borderline line, or flagged by the
    engine (a high A414 or a haemolysis grade recorded at the draw)."""
    borderline = (qc.get("haemolysis_limits") or {}).get("borderline")
    flagged = []
    for draw in qc.get("haemolysis") or []:
        index = draw.get("index")
        above = _finite(index) and _finite(borderline) and index > borderline
        if above or draw.get("status") in ("warn", "fail"):
            flagged.append(draw)
    return flagged


def qc_context(qc: Mapping, figures: Mapping[str, str], primary_rows: Iterable[Mapping]) -> dict:
    """Everything the report's QC sections read, under the names the template uses."""
    qc = qc or {}
    return {
        "qc": qc,
        # Unsaid means available: only a cohort without QC columns says False.
        "qc_available": bool(qc.get("available", True)),
        "qc_figures": qc_figures(figures or {}),
        "qc_inclusion": inclusion_in_words(qc.get("inclusion") or []),
        "qc_sensitivity": sensitivity_side_by_side(primary_rows, qc.get("sensitivity") or []),
        "qc_spike_in_outliers": [p for p in qc.get("spike_in") or [] if p.get("outlier")],
        "qc_haemolysis_flagged": haemolysis_flagged(qc),
    }
