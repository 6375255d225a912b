"""Figures for the report, drawn with matplotlib as self-contained SVG text.

Kaplan-Meier curves are drawn from the engine's results (the same numbers the
tables show), with censoring ticks, confidence bands and numbers at risk;
paired expression plots are drawn from the cohort table.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from analysis.plans import subgroup_mask  # noqa: E402

COLOURS = ["#0b6e99", "#c2410c", "#2e7d32", "#6a1b9a"]
# Above this many marks a layer is embedded as a bitmap inside the SVG (vector otherwise).
RASTER_ABOVE = 500


def to_svg(figure) -> str:
    buffer = io.StringIO()
    # A fixed hash salt and no date keep the SVG identical for identical data (without
    # the salt, matplotlib salts its element ids with a new random uuid on every save).
    with plt.rc_context({"svg.hashsalt": "exotrack"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    return buffer.getvalue()


def kaplan_meier_figure(result: Mapping, title: str) -> str:
    groups = result["groups"]
    times = [row["time"] for row in (groups[0]["at_times"] if groups else [])]
    figure, (axis, table_axis) = plt.subplots(
        2, 1, figsize=(6.4, 5.0), gridspec_kw={"height_ratios": [4, 1]}
    )
    split = result.get("split")
    for colour, group in zip(COLOURS, groups, strict=False):
        curve = pd.DataFrame(group["curve"])
        label = str(group["group"])
        if split:
            relation = "<=" if label == "low" else ">"
            label = f"{split['column']} {relation} {split['cutoff']:.3g} (n={group['n']})"
        else:
            label = f"all (n={group['n']})"
        axis.step(curve["time"], curve["survival"], where="post", color=colour, label=label)
        axis.fill_between(
            curve["time"],
            curve["ci_low"].astype(float),
            curve["ci_high"].astype(float),
            step="post",
            color=colour,
            alpha=0.12,
        )
        censored = curve[curve["censored"] > 0]
        axis.plot(censored["time"], censored["survival"], "|", color=colour, markersize=8)
    axis.set_ylim(0, 1.02)
    axis.set_ylabel("Disease-specific survival")
    logrank = result.get("logrank")
    if split and logrank and logrank.get("p") is not None:
        axis.text(
            0.98,
            0.95,
            f"log-rank P = {logrank['p']:.4f}",
            transform=axis.transAxes,
            ha="right",
            va="top",
        )
    axis.legend(loc="lower left", frameon=False, fontsize=8)
    axis.set_title(title, fontsize=10)
    table_axis.set_axis_off()
    table_axis.text(
        0, 1.0, "At risk", transform=table_axis.transAxes, fontsize=8, va="top", ha="right"
    )
    for line, (colour, group) in enumerate(zip(COLOURS, groups, strict=False)):
        for row in group["at_times"]:
            table_axis.text(
                row["time"],
                0.75 - 0.35 * line,
                str(row["at_risk"]),
                color=colour,
                fontsize=8,
                ha="center",
                va="top",
            )
    if times:
        axis.set_xticks(times)
    axis.set_xlabel("Months from TACE")
    table_axis.set_xlim(axis.get_xlim())
    return to_svg(figure)


def paired_figure(table: pd.DataFrame, before: str, after: str, title: str, p: float | None) -> str:
    pairs = table[[before, after]].apply(pd.to_numeric, errors="coerce").dropna()
    figure, axis = plt.subplots(figsize=(3.6, 4.2))
    # One collection for all patients, rasterised when large: a 10,000-patient cohort
    # stays a small SVG that draws in a fraction of a second.
    segments = [[(0, low), (1, high)] for low, high in pairs.itertuples(index=False)]
    axis.add_collection(
        LineCollection(
            segments,
            colors="#9aa7b4",
            linewidths=0.6,
            alpha=0.7,
            rasterized=len(segments) > RASTER_ABOVE,
        )
    )
    axis.boxplot([pairs[before], pairs[after]], positions=[0, 1], widths=0.35, showfliers=False)
    axis.set_xticks([0, 1], ["Pre-TACE", "Post-TACE"])
    axis.set_ylabel("log10 relative expression (2^-ΔCq)")
    shown_p = "< 0.0001" if p is not None and p < 0.0001 else f"= {p:.4f}" if p is not None else ""
    suffix = f"\npaired t-test P {shown_p} (n = {len(pairs)})" if p is not None else ""
    axis.set_title(title + suffix, fontsize=9)
    return to_svg(figure)


def draw_figures(table: pd.DataFrame, plan: Mapping, results: list[dict]) -> dict[str, str]:
    """One SVG per Kaplan-Meier and paired analysis that produced a result."""
    specs = {spec["name"]: spec for spec in plan["analyses"]}
    figures = {}
    for entry in results:
        spec, result = specs[entry["name"]], entry["result"]
        if result is None:
            continue
        title = spec.get("title") or spec["name"]
        if entry["kind"] == "kaplan_meier" and result["groups"]:
            figures[entry["name"]] = kaplan_meier_figure(result, title)
        elif entry["kind"] == "paired_t_test":
            frame = table.loc[subgroup_mask(table, spec.get("subgroup"))]
            figures[entry["name"]] = paired_figure(
                frame, spec["before"], spec["after"], title, result.get("p")
            )
    return figures
