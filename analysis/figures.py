"""Figures for the report, drawn with matplotlib as self-contained SVG text.

Kaplan-Meier curves and forest plots are drawn from the engine's results (the same
numbers the tables show); paired and ANOVA plots from the gated cohort table the
analyses ran on. Labels, units and the time unit come from the data dictionary, so a
dataset in days is labelled in days.

Every figure carries alt text, a sentence or two with its key numbers: it is returned
in the run's figure notes (for the page) and embedded in the SVG as ``<title>``,
``<desc>`` and ``aria-label`` (so a downloaded SVG keeps it). Each figure is drawn on
its own: one that fails becomes a note ``{"error": ...}`` and the run, its results and
the other figures stand.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from html import escape
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from analysis.dictionary import DataDictionary  # noqa: E402
from analysis.plans import subgroup_mask  # noqa: E402
from analysis.stats.descriptive import format_number  # noqa: E402

logger = logging.getLogger(__name__)

COLOURS = ["#0b6e99", "#c2410c", "#2e7d32", "#6a1b9a", "#b8860b", "#37474f"]
MUTED = "#5b6b7c"
# Above this many marks a layer is embedded as a bitmap inside the SVG (vector otherwise).
RASTER_ABOVE = 500
# A paired plot draws at most this many patients' lines (a fixed-seed sample): beyond a
# few thousand the lines are a grey band whatever their number, and each costs drawing.
PAIRED_LINES_DRAWN = 2000
# The paper's survival columns keep the paper's wording; any other dataset is labelled
# from its dictionary.
PAPER_TIME, PAPER_EVENT = "dss_months", "dss_event"
JITTER = 0.16  # half-width of the ANOVA plot's point cloud, in group widths


class Figure(NamedTuple):
    svg: str
    alt: str


@dataclass
class DrawnFigures:
    """What draw_figures gives the engine: SVG by name, and a note by name
    (``{"alt": ...}`` for a figure drawn, ``{"error": ...}`` for one that failed)."""

    figures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, dict] = field(default_factory=dict)


def with_alt(svg: str, *, alt: str, title: str = "") -> str:
    """The SVG with its alt text inside (``role="img"``, ``aria-label``, ``<title>`` and
    ``<desc>``), so the text travels with a downloaded file."""
    if not alt or not svg:
        return svg
    start = svg.find("<svg")
    end = svg.find(">", start)
    if start < 0 or end < 0:
        return svg
    attributes = f' role="img" aria-label="{escape(alt)}"'
    children = f"<title>{escape(title or alt)}</title><desc>{escape(alt)}</desc>"
    return svg[:end] + attributes + svg[end] + children + svg[end + 1 :]


def to_svg(figure, *, alt: str = "", title: str = "") -> str:
    """The figure as SVG text, cropped to what it draws (matplotlib's tight bounding box
    and padding), with its alt text inside.

    The figure is drawn once. ``savefig(bbox_inches="tight")`` draws it twice (a pass to
    measure, then the drawing, about 40 % of a figure's time); here the tight box is
    measured with the renderer of the one drawing, right after it, and the SVG's
    viewport (width, height, viewBox) is set to that box: the same box and the same
    picture, the coordinates inside shifted by its corner."""
    buffer = io.StringIO()
    measured = {}
    draw = figure.draw

    def draw_and_measure(renderer):
        draw(renderer)
        measured["box"] = figure.get_tightbbox(renderer)

    # A fixed hash salt and no date keep the SVG identical for identical data (without
    # the salt, matplotlib salts its element ids with a new random uuid on every save).
    with plt.rc_context({"svg.hashsalt": "exotrack"}):
        pad = plt.rcParams["savefig.pad_inches"]
        figure.draw = draw_and_measure
        try:
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        finally:
            del figure.draw
    height = figure.get_size_inches()[1]
    plt.close(figure)
    svg = _cropped(buffer.getvalue(), measured["box"].padded(pad), height)
    return with_alt(svg, alt=alt, title=title)


def _points(inches: float) -> str:
    """A length in points as matplotlib's SVG writer prints it (``%f``, zeros stripped)."""
    return f"{inches * 72:f}".rstrip("0").rstrip(".")


_VIEWPORT = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*" viewBox="[^"]*"')


def _cropped(svg: str, box, figure_height: float) -> str:
    """The SVG with its viewport on ``box`` (inches from the figure's lower left; SVG's
    y axis runs down from the top)."""
    width, height = _points(box.width), _points(box.height)
    left, top = _points(box.x0), _points(figure_height - box.y1)
    viewport = (
        f'<svg\\1 width="{width}pt" height="{height}pt" viewBox="{left} {top} {width} {height}"'
    )
    return _VIEWPORT.sub(viewport, svg, count=1)


def plain(text) -> str:
    """Data text for matplotlib: '$' would start mathtext, so it is escaped."""
    return str(text).replace("$", r"\$")


def format_p(p: float | None) -> str:
    """P as the report prints it (analysis.templatetags.report.pvalue): three decimals,
    '< 0.001' below that."""
    if p is None:
        return "P not computed"
    return "P < 0.001" if p < 0.001 else f"P = {p:.3f}"


def counted(number: int, noun: str) -> str:
    """A count and its noun: "1 group", "3 groups"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _number(value, digits: int = 3) -> str:
    return "NA" if value is None else f"{float(value):.{digits}g}"


# Kaplan-Meier ---------------------------------------------------------------------


def time_axis_label(time: str, dictionary: DataDictionary) -> str:
    """The x axis: "Months from TACE" for the paper's time column; otherwise the unit the
    dictionary declares for the column (or the dataset), "Time (days)"."""
    unit = _time_unit(time, dictionary)
    if time == PAPER_TIME and unit == "months":
        return "Months from TACE"
    return f"Time ({unit})"


def _time_unit(time: str, dictionary: DataDictionary) -> str:
    info = dictionary.columns.get(time)
    return (info.unit if info and info.unit else dictionary.time_unit) or "time units"


def survival_label(event: str, dictionary: DataDictionary) -> str:
    """The y axis: the paper's wording for its event column, else the event's label."""
    if event == PAPER_EVENT:
        return "Disease-specific survival"
    info = dictionary.columns.get(event)
    if info and info.label:
        return f"Survival probability (event: {info.label})"
    return "Survival probability"


def group_labels(result: Mapping) -> list[str]:
    """Each curve's label, as the engine wrote it (``groups[i].label``: "miR-122 ratio ≤
    0.793", "Sex: 2", "all patients"): one wording for the figure, the tables and the
    rows, made in one place (analysis.engine._split_groups)."""
    return [str(group["label"]) for group in result["groups"]]


def _at_risk(curve: pd.DataFrame, moment: float) -> int:
    """Patients still at risk at `moment`: the curve's at-risk count at its first time
    at or after it (the curve has a row at every event and censoring time)."""
    times = curve["time"].to_numpy(float)
    index = int(np.searchsorted(times, moment, side="left"))
    return int(curve["at_risk"].iloc[index]) if index < len(times) else 0


def _time_ticks(groups: Sequence[Mapping], last: float) -> list[float]:
    """The times the plan asked numbers for (the table's) and, when they are evenly
    spaced, on in the same steps to the last follow-up; else round ones."""
    asked = sorted({float(r["time"]) for g in groups for r in g.get("at_times") or []})
    ticks = [t for t in asked if 0 <= t <= last]
    if len(ticks) < 2:
        locator = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10])
        return [float(t) for t in locator.tick_values(0, last) if 0 <= t <= last]
    steps = np.diff(ticks)
    if np.allclose(steps, steps[0]):
        while ticks[-1] + steps[0] <= last:
            ticks.append(ticks[-1] + float(steps[0]))
    return ticks


def _split_notes(result: Mapping) -> list[str]:
    """What a split curve's legend and alt text add: the log-rank P and where the cut-off
    came from (the engine's ``split.cutoff_source``, e.g. "data-derived", when given)."""
    split = result.get("split")
    if not split:
        return []
    notes = []
    logrank = result.get("logrank")
    if logrank and logrank.get("p") is not None:
        notes.append(f"log-rank {format_p(logrank['p'])}")
    if split.get("cutoff_source"):
        notes.append(f"cut-off {split['cutoff_source']}")
    return notes


def kaplan_meier_alt(result: Mapping, dictionary: DataDictionary) -> str:
    groups = result["groups"]
    time, event = result.get("time", PAPER_TIME), result.get("event", PAPER_EVENT)
    unit = _time_unit(time, dictionary)
    what = survival_label(event, dictionary)
    what = what[0].lower() + what[1:] if what[1:2].islower() else what
    last = max((max(r["time"] for r in g["curve"]) for g in groups if g["curve"]), default=0)

    def time_of(value) -> str:
        return f"{float(value):.1f}".removesuffix(".0") + f" {unit}"

    def facts(group) -> str:
        value = (group.get("median") or {}).get("median")
        median = "median not reached" if value is None else f"median {time_of(value)}"
        return f"{group['events']} events, {median}"

    follow_up = f"follow-up to {time_of(last)}"
    if len(groups) == 1 and not result.get("split"):
        (group,) = groups
        return (
            f"Kaplan-Meier curve of {what} for all {group['n']} patients ({facts(group)}), "
            f"{follow_up}."
        )
    parts = "; ".join(
        f"{label} (n = {g['n']}, {facts(g)})"
        for label, g in zip(group_labels(result), groups, strict=True)
    )
    text = (
        f"Kaplan-Meier curves of {what} for {counted(len(groups), 'group')} ({parts}), {follow_up}"
    )
    return "; ".join([text, *_split_notes(result)]) + "."


def kaplan_meier_figure(
    result: Mapping, title: str, dictionary: DataDictionary | None = None
) -> Figure:
    dictionary = dictionary or DataDictionary()
    groups = result["groups"]
    curves = [pd.DataFrame(group["curve"]) for group in groups]
    last = max((float(c["time"].max()) for c in curves if len(c)), default=0.0)
    last = last if last > 0 else 1.0
    ticks = _time_ticks(groups, last)
    labels = group_labels(result)

    figure, (axis, table_axis) = plt.subplots(
        2,
        1,
        figsize=(6.4, 4.6 + 0.2 * len(groups)),
        gridspec_kw={"height_ratios": [4, 0.45 + 0.28 * len(groups)], "hspace": 0.3},
    )
    axis.set_ylim(0, 1.02)
    for index, (curve, group, label) in enumerate(zip(curves, groups, labels, strict=True)):
        colour = COLOURS[index % len(COLOURS)]
        axis.step(
            curve["time"],
            curve["survival"],
            where="post",
            color=colour,
            label=plain(f"{label} (n = {group['n']})"),
        )
        axis.fill_between(
            curve["time"],
            curve["ci_low"].astype(float),
            curve["ci_high"].astype(float),
            step="post",
            color=colour,
            alpha=0.12,
        )
        censored = curve[curve["censored"] > 0]
        _censoring_ticks(axis, censored["time"], censored["survival"], colour)
    axis.set_xlim(0, last * 1.02)  # to the last follow-up, not the last tick
    axis.set_xticks(ticks)
    axis.set_ylabel(plain(survival_label(result.get("event", PAPER_EVENT), dictionary)))
    axis.set_xlabel(plain(time_axis_label(result.get("time", PAPER_TIME), dictionary)))
    legend_title = "\n".join(plain(note) for note in _split_notes(result)) or None
    legend = axis.legend(loc="best", frameon=False, fontsize=8, title=legend_title)
    legend.get_title().set_fontsize(8)
    axis.set_title(plain(title), fontsize=10)

    table_axis.set_axis_off()
    table_axis.set_xlim(axis.get_xlim())
    table_axis.set_ylim(0, 1)
    rows = len(groups)
    table_axis.text(0, 1.0, "Number at risk", transform=table_axis.transAxes, fontsize=8,
                    va="top", ha="left", color=MUTED)  # fmt: skip
    for index, (curve, label) in enumerate(zip(curves, labels, strict=True)):
        colour = COLOURS[index % len(COLOURS)]
        height = 0.72 - 0.72 * index / max(rows, 1)
        table_axis.text(-0.06, height, plain(label), transform=table_axis.transAxes,
                        color=colour, fontsize=7.5, ha="right", va="top")  # fmt: skip
        for moment in ticks:
            table_axis.text(moment, height, str(_at_risk(curve, moment)), color=colour,
                            fontsize=8, ha="center", va="top")  # fmt: skip
    alt = kaplan_meier_alt(result, dictionary)
    return Figure(to_svg(figure, alt=alt, title=title), alt)


CENSOR_TICK = 8.0  # points: the height of a censoring mark, matplotlib's "|" marker at size 8


def _censoring_ticks(axis, times: pd.Series, survival: pd.Series, colour: str) -> None:
    """A vertical tick on the curve at each censoring time: what ``plot(..., "|",
    markersize=8)`` draws (8 points tall, 1 point wide, butt ends), as one path. The SVG
    writer draws a marker as an element per point, thousands on a 10,000-patient curve;
    a path of short segments is one element and the same picture. The tick's height is
    in points, so it is set from the axes' height, fixed once the figure is laid out
    (the y limits are set before this is called)."""
    if not len(times):
        return
    bottom, top = axis.get_ylim()
    height = axis.get_position().height * axis.get_figure().get_figheight() * 72
    half = CENSOR_TICK / 2 * (top - bottom) / height
    x = times.to_numpy(float)
    y = survival.to_numpy(float)
    gaps = np.full_like(x, np.nan)
    xs = np.column_stack([x, x, gaps]).ravel()
    ys = np.column_stack([y - half, y + half, gaps]).ravel()
    axis.plot(xs, ys, color=colour, linewidth=plt.rcParams["lines.markeredgewidth"],
              solid_capstyle="butt")  # fmt: skip


# Paired ---------------------------------------------------------------------------


def _paired_names(before: str, after: str, dictionary: DataDictionary) -> tuple[str, str]:
    """The two timepoints' names: the dictionary's labels, or the paper's Pre-/Post-TACE
    for its own expression columns."""
    if before not in dictionary.columns and "_pre_" in before and "_post_" in after:
        return "Pre-TACE", "Post-TACE"
    return dictionary.label(before), dictionary.label(after)


def paired_alt(result: Mapping, names: tuple[str, str]) -> str:
    confidence = round(100 * float(result.get("confidence") or 0.95))
    text = (
        f"Paired plot of {names[0]} and {names[1]} for {result.get('n', 0)} patients, one line "
        f"per patient and a box per timepoint"
    )
    if result.get("mean_difference") is not None:
        text += f"; mean difference {_number(result['mean_difference'])}"
        if result.get("ci_low") is not None and result.get("ci_high") is not None:
            text += (
                f" ({confidence}% CI {_number(result['ci_low'])} to {_number(result['ci_high'])})"
            )
    if result.get("p") is not None:
        text += f", paired t-test {format_p(result['p'])}"
    return text + "."


def paired_figure(
    table: pd.DataFrame,
    before: str,
    after: str,
    title: str,
    result: Mapping,
    dictionary: DataDictionary | None = None,
) -> Figure:
    dictionary = dictionary or DataDictionary()
    pairs = pd.DataFrame(
        {
            "before": pd.to_numeric(table[before], errors="coerce"),
            "after": pd.to_numeric(table[after], errors="coerce"),
        }
    )
    pairs = pairs.replace([np.inf, -np.inf], np.nan).dropna()
    names = _paired_names(before, after, dictionary)
    figure, axis = plt.subplots(figsize=(3.6, 4.2))
    # One collection of lines, rasterised when large, and about PAIRED_LINES_DRAWN of
    # them (a fixed-seed sample with the lowest and highest values, so the axis keeps its
    # range; said in the alt text): a 10,000-patient cohort stays a small SVG that draws
    # in a fraction of a second. The boxes use every pair.
    drawn = pairs
    if len(pairs) > PAIRED_LINES_DRAWN:
        chosen = np.random.default_rng(0).choice(len(pairs), PAIRED_LINES_DRAWN, replace=False)
        values = pairs.to_numpy()
        extremes = [*values.argmin(axis=0), *values.argmax(axis=0)]
        drawn = pairs.iloc[np.union1d(chosen, extremes)]
    segments = [[(0, low), (1, high)] for low, high in drawn.itertuples(index=False)]
    axis.add_collection(
        LineCollection(
            segments,
            colors="#9aa7b4",
            linewidths=0.6,
            alpha=0.7,
            rasterized=len(segments) > RASTER_ABOVE,
        )
    )
    axis.boxplot([pairs["before"], pairs["after"]], positions=[0, 1], widths=0.35,
                 showfliers=False)  # fmt: skip
    axis.set_xticks([0, 1], [plain(name) for name in names])
    paper_columns = before.endswith("_log10") and after.endswith("_log10")
    info = dictionary.columns.get(before)
    if info and info.unit:
        axis.set_ylabel(plain(info.unit))
    elif paper_columns:
        axis.set_ylabel("log10 relative expression (2^-ΔCq)")
    p = result.get("p")
    suffix = f"\npaired t-test {format_p(p)} (n = {len(pairs)})" if p is not None else ""
    axis.set_title(plain(title + suffix), fontsize=9)
    alt = paired_alt(result, names)
    if len(drawn) < len(pairs):
        alt += f" Lines drawn for {len(drawn):,} of the {len(pairs):,} patients, chosen at random."
    return Figure(to_svg(figure, alt=alt, title=title), alt)


# Forest plot (Cox) ----------------------------------------------------------------


def _estimable(estimate: Mapping | None) -> bool:
    hr = (estimate or {}).get("hr")
    return hr is not None and math.isfinite(hr) and hr > 0


def _hr_text(estimate: Mapping | None) -> str:
    if not _estimable(estimate):
        return "not estimable"
    low, high = estimate.get("ci_low"), estimate.get("ci_high")
    interval = f" ({low:.2f}–{high:.2f})" if low is not None and high is not None else ""
    return f"{estimate['hr']:.2f}{interval}, {format_p(estimate.get('p'))}"


def _forest_rows(result: Mapping) -> list[tuple[str, Mapping | None, Mapping | None]]:
    """(term, univariate estimate, multivariate estimate), in the plan's term order."""
    univariate = {
        e["variable"]: e for model in result.get("univariate") or [] for e in model["estimates"]
    }
    multivariate = {
        e["variable"]: e for e in (result.get("multivariate") or {}).get("estimates", [])
    }
    terms = list(univariate) + [t for t in multivariate if t not in univariate]
    return [(term, univariate.get(term), multivariate.get(term)) for term in terms]


def _confidence(result: Mapping) -> int:
    models = [*(result.get("univariate") or []), result.get("multivariate") or {}]
    level = next((m["confidence"] for m in models if m.get("confidence")), 0.95)
    return round(100 * float(level))


def forest_alt(result: Mapping) -> str:
    rows = _forest_rows(result)
    confidence = _confidence(result)
    multivariate = [m for _, _, m in rows if m is not None]
    text = (
        f"Forest plot of hazard ratios with {confidence}% CIs on a log scale for "
        f"{counted(len(rows), 'term')} in univariate Cox models"
    )
    if multivariate:
        text += f" and {len(multivariate)} in the multivariate model"
    notable = [
        f"{term} ({kind}) HR {_hr_text(estimate)}"
        for term, *estimates in rows
        for kind, estimate in zip(("univariate", "multivariate"), estimates, strict=True)
        if _estimable(estimate) and estimate.get("p") is not None and estimate["p"] < 0.05
    ]
    if notable:
        more = f"; and {len(notable) - 4} more" if len(notable) > 4 else ""
        shown = "; ".join(notable[:4]) + more
        text += f". P < 0.05: {shown}"
    else:
        text += ". No hazard ratio with P < 0.05"
    missing = sum(
        1 for _, *estimates in rows for e in estimates if e is not None and not _estimable(e)
    )
    if missing:
        text += f"; {missing} not estimable"
    return text + "."


def _forest_positions(rows) -> list[tuple[float, tuple[float, float]]]:
    """Each term's y (top to bottom) and its two estimates' offsets from it: a term with
    a univariate and a multivariate estimate takes two lines, a term with one takes one."""
    positions, y = [], 0.0
    for _, univariate, multivariate in rows:
        both = univariate is not None and multivariate is not None
        y -= 0.7 if both else 0.5
        positions.append((y, (0.2, -0.2) if both else (0.0, 0.0)))
        y -= 0.7 if both else 0.5
    return positions


def forest_figure(result: Mapping, title: str) -> Figure:
    """Univariate and multivariate hazard ratios of one Cox analysis, term by term, with
    their CIs on a log axis, a line at 1, and the numbers (or "not estimable") beside."""
    rows = _forest_rows(result)
    if not rows:
        return Figure("", "")  # no model, nothing to draw
    positions = _forest_positions(rows)
    bottom = positions[-1][0] - (0.7 if positions[-1][1][0] else 0.5)
    confidence = _confidence(result)
    figure, axis = plt.subplots(figsize=(8.0, 1.3 + 0.3 * -bottom))
    styles = (("Univariate", COLOURS[0], "o"), ("Multivariate", COLOURS[1], "s"))
    values = [1.0]
    for _, *estimates in rows:
        for estimate in estimates:
            if _estimable(estimate):
                values += [v for v in (estimate["hr"], estimate.get("ci_low"),
                                       estimate.get("ci_high")) if v is not None and v > 0]  # fmt: skip
    low, high = max(min(values) / 1.5, 1e-3), min(max(values) * 1.5, 1e3)
    axis.set_xscale("log")
    axis.set_xlim(low, high)
    # Hazard ratios read as 0.5, 1, 2, not as powers of ten.
    axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.axvline(1.0, color=MUTED, lw=0.8, ls="--", zorder=1)
    text_at = axis.get_yaxis_transform()  # x in axes fraction, y in data
    drawn = set()
    for (_, *estimates), (y_term, offsets) in zip(rows, positions, strict=True):
        for offset, estimate, (kind, colour, marker) in zip(
            offsets, estimates, styles, strict=True
        ):
            if estimate is None:
                continue
            y = y_term + offset
            if _estimable(estimate):
                ci_low, ci_high = estimate.get("ci_low"), estimate.get("ci_high")
                if ci_low is not None and ci_high is not None:
                    axis.hlines(y, max(ci_low, low), min(ci_high, high), color=colour, lw=1.4)
                axis.plot([min(max(estimate["hr"], low), high)], [y], marker, color=colour,
                          markersize=5, label=None if kind in drawn else kind)  # fmt: skip
                drawn.add(kind)
            else:
                axis.text(1.0, y, " not estimable", color=colour, fontsize=7.5, va="center",
                          ha="left", style="italic")  # fmt: skip
            axis.text(1.02, y, plain(_hr_text(estimate)), transform=text_at, color=colour,
                      fontsize=7.5, va="center", ha="left")  # fmt: skip
    axis.text(1.02, 1.0, f"HR ({confidence}% CI), P", transform=axis.transAxes, fontsize=8,
              va="bottom", ha="left", color=MUTED)  # fmt: skip
    axis.set_yticks([y for y, _ in positions], [plain(term) for term, *_ in rows])
    axis.set_ylim(bottom, 0)
    axis.tick_params(axis="y", length=0)
    axis.set_xlabel(f"Hazard ratio ({confidence}% CI, log scale)")
    if len(drawn) > 1:
        axis.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False, fontsize=8,
                    ncol=2, borderaxespad=0.2)  # fmt: skip
    axis.set_title(plain(title), fontsize=10, pad=20 if len(drawn) > 1 else 6)
    axis.grid(axis="x", color="#e4eaf0", lw=0.6, which="major")
    alt = forest_alt(result)
    return Figure(to_svg(figure, alt=alt, title=title), alt)


# ANOVA ----------------------------------------------------------------------------


def _anova_groups(table: pd.DataFrame, value: str, group: str) -> list[tuple[object, np.ndarray]]:
    """Values by group over the rows the ANOVA used (both present), in the ANOVA's order
    (analysis.stats.comparisons.one_way_anova groups the same way)."""
    frame = pd.DataFrame(
        {
            "value": pd.to_numeric(table[value], errors="coerce").replace(
                [np.inf, -np.inf], np.nan
            ),
            "group": table[group],
        }
    ).dropna()
    return [
        (level, part["value"].to_numpy(float))
        for level, part in frame.groupby("group", sort=True, observed=True)
    ]


def _anova_statistic(result: Mapping) -> str:
    if result.get("f") is None:
        return "F not computed"
    return f"F({result.get('df_between')}, {result.get('df_within')}) = {result['f']:.2f}, {format_p(result.get('p'))}"


def anova_alt(result: Mapping, groups, names: tuple[str, str]) -> str:
    parts = "; ".join(
        f"{level}: n = {len(values)}, median {format_number(float(np.median(values)))}"
        for level, values in groups
    )
    return (
        f"Dot and box plot of {names[0]} by {names[1]} for {counted(len(groups), 'group')} "
        f"({parts}); "
        f"one-way ANOVA {_anova_statistic(result)}."
    )


def anova_figure(
    table: pd.DataFrame,
    value: str,
    group: str,
    title: str,
    result: Mapping,
    dictionary: DataDictionary | None = None,
) -> Figure:
    """Every value as a point over a box per group. The points are jittered with a fixed
    seed, so identical data draw an identical SVG."""
    dictionary = dictionary or DataDictionary()
    groups = _anova_groups(table, value, group)
    names = (dictionary.label(value), dictionary.label(group))
    figure, axis = plt.subplots(figsize=(min(10.0, max(3.6, 1.6 + 1.1 * len(groups))), 4.2))
    total = sum(len(values) for _, values in groups)
    for position, (_, values) in enumerate(groups):
        offsets = np.random.default_rng(position).uniform(-JITTER, JITTER, len(values))
        axis.scatter(position + offsets, values, s=12, color=COLOURS[0], alpha=0.7,
                     edgecolors="none", zorder=3, rasterized=total > RASTER_ABOVE)  # fmt: skip
    if groups:
        axis.boxplot([values for _, values in groups], positions=range(len(groups)), widths=0.5,
                     showfliers=False, medianprops={"color": COLOURS[1]})  # fmt: skip
    axis.set_xticks(
        range(len(groups)), [plain(f"{level}\n(n = {len(values)})") for level, values in groups]
    )
    axis.set_xlim(-0.6, len(groups) - 0.4)
    axis.set_ylabel(plain(names[0]))
    axis.set_xlabel(plain(names[1]))
    axis.set_title(plain(f"{title}\none-way ANOVA {_anova_statistic(result)}"), fontsize=9)
    axis.grid(axis="y", color="#e4eaf0", lw=0.6)
    axis.set_axisbelow(True)
    alt = anova_alt(result, groups, names)
    return Figure(to_svg(figure, alt=alt, title=title), alt)


# All figures of a run ---------------------------------------------------------------


def _analysed_rows(table: pd.DataFrame, spec: Mapping) -> pd.DataFrame:
    return table.loc[subgroup_mask(table, spec.get("subgroup"))]


def _paired_of(table, spec, result, title, dictionary) -> Figure:
    frame = _analysed_rows(table, spec)
    return paired_figure(frame, spec["before"], spec["after"], title, result, dictionary)


def _anova_of(table, spec, result, title, dictionary) -> Figure:
    frame = _analysed_rows(table, spec)
    return anova_figure(frame, spec["value"], spec["group"], title, result, dictionary)


def _analysis_drawings(
    table: pd.DataFrame, plan: Mapping, results: list[dict], dictionary: DataDictionary
) -> list[tuple[str, Callable[[], Figure]]]:
    """(figure name, how to draw it) for every analysis that has a figure and a result.
    A Cox analysis's forest plot is "<analysis> forest"; the others take the analysis's
    name."""
    specs = {spec["name"]: spec for spec in plan["analyses"]}
    drawings: list[tuple[str, Callable[[], Figure]]] = []
    for entry in results:
        name, kind, result = entry["name"], entry["kind"], entry["result"]
        if result is None:
            continue
        spec = specs[name]
        title = spec.get("title") or name
        if kind == "kaplan_meier" and result.get("groups"):
            drawings.append((name, partial(kaplan_meier_figure, result, title, dictionary)))
        elif kind == "paired_t_test" and result.get("n"):
            drawings.append((name, partial(_paired_of, table, spec, result, title, dictionary)))
        elif kind == "cox":
            drawings.append((f"{name} forest", partial(forest_figure, result, title)))
        elif kind == "anova" and result.get("n"):
            drawings.append((name, partial(_anova_of, table, spec, result, title, dictionary)))
    return drawings


def draw_figures(
    table: pd.DataFrame,
    plan: Mapping,
    results: list[dict],
    *,
    dictionary: DataDictionary | None = None,
    qc: Mapping | None = None,
) -> DrawnFigures:
    """Every figure of a run, each drawn on its own: the analyses' figures (KM, paired,
    forest per Cox analysis, ANOVA) from `table` (the gated table the analyses ran on)
    and `results`, and the QC figures from `qc` (analysis.qc_figures).

    A figure that raises is left out and noted ``{"error": ...}``: a figure is a view of
    a result, and a bug in drawing it must not cost the run its results."""
    from analysis.qc_figures import qc_figure_drawings

    dictionary = dictionary or DataDictionary()
    drawings = [
        *_analysis_drawings(table, plan, results, dictionary),
        *qc_figure_drawings(qc or {}).items(),
    ]
    drawn = DrawnFigures()
    for name, draw in drawings:
        open_before = set(plt.get_fignums())
        try:
            svg, alt = draw()
        except Exception as error:  # noqa: BLE001 - one failed figure must not sink the run
            for number in set(plt.get_fignums()) - open_before:
                plt.close(number)  # a half-drawn figure must not stay in pyplot's registry
            logger.exception("figure %r could not be drawn", name)
            drawn.notes[name] = {"error": f"{type(error).__name__}: {error}"}
            continue
        if svg:
            drawn.figures[name] = svg
            drawn.notes[name] = {"alt": alt}
    return drawn
