"""QC figures for the report: the patient flow, the spike-in per extraction batch and the
haemolysis index per draw, as self-contained SVG text.

Pure: they read the run's QC summary (the dict stored in AnalysisRun.qc) and nothing else.
The flow diagram is written as SVG by hand, since boxes and arrows need no plotting library
and hand-written text stays crisp and searchable at any zoom; the two scatter plots use
matplotlib through analysis.figures (imported inside the functions, so that the report page
and the flow diagram never pay for loading matplotlib).

Every text that comes from data (step labels, reasons, study ids, RT codes, batch names) is
escaped: a study id such as ``<script>`` must reach the page as text, never as markup.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from html import escape

__all__ = [
    "draw_qc_figures",
    "haemolysis_alt",
    "haemolysis_svg",
    "patient_flow_alt",
    "patient_flow_svg",
    "qc_figure_drawings",
    "spike_in_alt",
    "spike_in_svg",
]

# Flow diagram geometry (px in the viewBox; the SVG scales to its container).
WIDTH = 640
MARGIN = 12
MAIN_X, MAIN_W = MARGIN, 300
SIDE_X = MAIN_X + MAIN_W + 36
SIDE_W = WIDTH - SIDE_X - MARGIN
BOX_H = 34
LINE_H = 15
PAD = 8
MIN_GAP = 26
MAX_REASONS = 6  # REMARK diagrams name the few main reasons; the tables list every patient
MAX_CHARS_MAIN = 44  # ~12 px text in a 300 px box
MAX_CHARS_SIDE = 36
MAX_IDS_IN_TOOLTIP = 40
MAX_LABELS = 12  # outliers named on a scatter; the QC tables name all of them

INK, MUTED, LINE, BAD, WARN = "#1d2733", "#5b6b7c", "#9fb3c8", "#b00020", "#b35c00"


def _short(text: str, limit: int) -> str:
    """Cut a label to fit its box (SVG text does not wrap); the tooltip keeps the whole."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _count(value) -> str:
    return "?" if value is None else f"{value:,}".replace(",", " ")  # thin grouping, no commas


def _reason_lines(left_out: list[Mapping]) -> list[str]:
    """Reasons counted, most frequent first (then alphabetical, so the SVG is stable)."""
    counts = Counter(str(item.get("reason") or "no reason given") for item in left_out)
    ordered = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    lines = [f"{reason}: {count}" for reason, count in ordered[:MAX_REASONS]]
    if len(ordered) > MAX_REASONS:
        rest = sum(count for _, count in ordered[MAX_REASONS:])
        lines.append(f"… {len(ordered) - MAX_REASONS} more reasons: {rest}")
    return lines


def _tooltip(left_out: list[Mapping]) -> str:
    ids = [
        f"{item.get('study_id') or '?'}: {item.get('reason') or 'no reason given'}"
        for item in left_out[:MAX_IDS_IN_TOOLTIP]
    ]
    if len(left_out) > MAX_IDS_IN_TOOLTIP:
        ids.append(f"… and {len(left_out) - MAX_IDS_IN_TOOLTIP} more")
    return "\n".join(ids)


def _text(x: float, y: float, text: str, *, anchor="start", weight="normal", fill=INK) -> str:
    return (
        f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}" font-weight="{weight}" '
        f'fill="{fill}">{escape(text)}</text>'
    )


def patient_flow_alt(flow: list[dict]) -> str:
    """The diagram in one sentence: every step with its n, and how many were left out."""
    if not flow:
        return ""
    steps = "; ".join(f"{s.get('step')}: n = {_count(s.get('n'))}" for s in flow)
    left_out = sum(len(s.get("left_out") or []) for s in flow)
    return f"Patient flow diagram in {len(flow)} steps ({steps}); {_count(left_out)} left out."


def patient_flow_svg(flow: list[dict]) -> str:
    """A REMARK-style patient-flow diagram (McShane et al. 2005; Altman et al. 2012): one
    box per step, top to bottom, with "label (n = N)"; beside the arrow leaving a step, a
    box "Left out: n = k" with the reasons counted, when anyone was left out there.

    Each step's ``left_out`` are the patients lost between it and the next step, so their
    box sits beside the arrow to the next box (after the last step: beside a short stub).
    """
    if not flow:
        return ""
    parts: list[str] = []
    y = MARGIN
    for index, step in enumerate(flow):
        label = str(step.get("step") or f"Step {index + 1}")
        left_out = list(step.get("left_out") or [])
        title = f"{label} (n = {_count(step.get('n'))})"
        note = str(step.get("note") or "")
        height = BOX_H + (LINE_H if note else 0)
        parts.append(
            f'<g class="flow-step"><title>{escape(title)}</title>'
            f'<rect x="{MAIN_X}" y="{y}" width="{MAIN_W}" height="{height}" rx="4" '
            f'fill="#eef2f6" stroke="{LINE}"/>'
            + _text(
                MAIN_X + MAIN_W / 2,
                y + BOX_H / 2 + 4.5,
                _short(title, MAX_CHARS_MAIN),
                anchor="middle",
                weight="600",
            )
            + (
                _text(MAIN_X + MAIN_W / 2, y + BOX_H / 2 + 4.5 + LINE_H,
                      _short(note, MAX_CHARS_MAIN), anchor="middle", fill=MUTED)
                if note
                else ""
            )
            + "</g>"
        )  # fmt: skip
        y += height
        last = index == len(flow) - 1
        if last and not left_out:
            break
        lines = _reason_lines(left_out) if left_out else []
        side_h = PAD * 2 + LINE_H * (1 + len(lines)) if left_out else 0
        gap = max(MIN_GAP, side_h + 16)
        centre_x = MAIN_X + MAIN_W / 2
        if last:
            # Patients lost after the last step: a stub (no arrowhead, nothing below).
            parts.append(
                f'<line x1="{centre_x}" y1="{y}" x2="{centre_x}" y2="{y + gap / 2}" '
                f'stroke="{MUTED}"/>'
            )
        else:
            parts.append(
                f'<line x1="{centre_x}" y1="{y}" x2="{centre_x}" y2="{y + gap - 1}" '
                f'stroke="{MUTED}" marker-end="url(#flow-arrow)"/>'
            )
        if left_out:
            side_y = y + (gap - side_h) / 2
            middle = side_y + side_h / 2
            parts.append(
                f'<g class="flow-left-out"><title>{escape(_tooltip(left_out))}</title>'
                f'<line x1="{centre_x}" y1="{middle:g}" x2="{SIDE_X - 1}" y2="{middle:g}" '
                f'stroke="{MUTED}" marker-end="url(#flow-arrow)"/>'
                f'<rect x="{SIDE_X}" y="{side_y:g}" width="{SIDE_W}" height="{side_h}" rx="4" '
                f'fill="#fff" stroke="{LINE}"/>'
            )
            text_y = side_y + PAD + 11
            parts.append(
                _text(SIDE_X + PAD, text_y, f"Left out: n = {_count(len(left_out))}", weight="600")
            )
            for line in lines:
                text_y += LINE_H
                parts.append(_text(SIDE_X + PAD, text_y, _short(line, MAX_CHARS_SIDE), fill=MUTED))
            parts.append("</g>")
        y += gap
    height = math.ceil(y + MARGIN)
    alt = escape(patient_flow_alt(flow))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="qc-flow" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{alt}" '
        'font-family="system-ui, -apple-system, \'Segoe UI\', sans-serif" font-size="12">'
        f"<title>Patient flow</title><desc>{alt}</desc>"
        '<defs><marker id="flow-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{MUTED}"/></marker></defs>'
        + "".join(parts)
        + "</svg>"
    )


def _plain(text) -> str:
    """Data text for matplotlib: '$' would start mathtext, so it is escaped."""
    return str(text).replace("$", r"\$")


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _spread(count: int, width: float = 0.5) -> list[float]:
    """Evenly spaced x offsets for the points of one category: a strip plot without random
    jitter, so the same data always draw the same SVG."""
    if count <= 1:
        return [0.0] * count
    step = width / (count - 1)
    return [-width / 2 + step * i for i in range(count)]


def _group(points: list[dict], key: str, missing: str) -> dict[str, list[dict]]:
    """Points by `key`, the groups in order of first appearance (batches and timepoints
    come sorted from the QC summary, and PRE before POST is more telling than
    alphabetical); a point without the key falls in `missing`."""
    groups: dict[str, list[dict]] = {}
    for p in points:
        groups.setdefault(str(p.get(key) or missing), []).append(p)
    return groups


def _outlier_rule(limit: float | None) -> str:
    return f"|robust z| > {limit:g}" if _finite(limit) else "flagged"


def spike_in_alt(spike_in: list[dict], limit: float | None) -> str:
    points = [p for p in spike_in if _finite(p.get("cq"))]
    if not points:
        return ""
    batches = len(_group(points, "batch", "no batch"))
    n_out = sum(1 for p in points if p.get("outlier"))
    cqs = [p["cq"] for p in points]
    outliers = "1 outlier" if n_out == 1 else f"{n_out} outliers"
    return (
        f"Spike-in (cel-miR-39) Cq of {len(points)} samples in {batches} extraction batches, "
        f"Cq {min(cqs):.1f} to {max(cqs):.1f}; {outliers} ({_outlier_rule(limit)} within the "
        "batch)."
    )


def spike_in_svg(spike_in: list[dict], limit: float | None) -> str:
    """cel-miR-39 Cq per extraction batch: one column of points a batch, its median as a
    bar, and the outliers (robust z beyond ``limit`` within their batch) in red with their
    RT code. One spike-in carries extraction and RT efficiency together, so an outlier
    means the isolation or the RT of that sample failed, not the patient."""
    points = [p for p in spike_in if _finite(p.get("cq"))]
    if not points:
        return ""
    from analysis.figures import COLOURS, RASTER_ABOVE, plt, to_svg

    by_batch = _group(points, "batch", "no batch")
    batches = list(by_batch)
    position = {batch: i for i, batch in enumerate(batches)}

    figure, axis = plt.subplots(figsize=(min(11.0, max(5.0, 2.5 + 0.45 * len(batches))), 3.8))
    xs, ys, colours, labelled = [], [], [], []
    for batch, members in by_batch.items():
        for offset, p in zip(_spread(len(members)), members, strict=True):
            x = position[batch] + offset
            xs.append(x)
            ys.append(p["cq"])
            colours.append(BAD if p.get("outlier") else COLOURS[0])
            if p.get("outlier"):
                labelled.append((x, p))
        cqs = sorted(p["cq"] for p in members)
        middle = len(cqs) // 2
        median = cqs[middle] if len(cqs) % 2 else (cqs[middle - 1] + cqs[middle]) / 2
        axis.hlines(median, position[batch] - 0.35, position[batch] + 0.35, colors=MUTED, lw=1)
    axis.scatter(
        xs, ys, s=16, c=colours, edgecolors="none", zorder=3, rasterized=len(xs) > RASTER_ABOVE
    )
    for x, p in labelled[:MAX_LABELS]:
        axis.annotate(
            _plain(p.get("rt_code") or p.get("study_id") or "?"),
            (x, p["cq"]),
            xytext=(5, 3),
            textcoords="offset points",
            fontsize=7,
            color=BAD,
        )
    axis.set_xticks(range(len(batches)), [_plain(b) for b in batches])
    if len(batches) > 4:
        axis.tick_params(axis="x", labelrotation=40)
        for tick in axis.get_xticklabels():
            tick.set_horizontalalignment("right")
    axis.set_xlim(-0.6, len(batches) - 0.4)
    axis.set_xlabel("Extraction batch")
    axis.set_ylabel("cel-miR-39 Cq")
    n_out = sum(1 for p in points if p.get("outlier"))
    rule = _outlier_rule(limit)
    more = f"; {len(labelled) - MAX_LABELS} more not named" if len(labelled) > MAX_LABELS else ""
    axis.set_title(
        f"Spike-in per extraction batch: {n_out} of {len(points)} outliers ({rule} "
        f"within the batch{more})",
        fontsize=9,
    )
    axis.grid(axis="y", color="#e4eaf0", lw=0.6)
    axis.set_axisbelow(True)
    return to_svg(figure, alt=spike_in_alt(spike_in, limit), title="Spike-in per extraction batch")


def haemolysis_alt(
    haemolysis: list[dict], borderline: float | None = 5.0, high: float | None = 7.0
) -> str:
    points = [p for p in haemolysis if _finite(p.get("index"))]
    if not points:
        return ""
    timepoints = len(_group(points, "timepoint", "?"))
    above = [
        f"{sum(1 for p in points if p['index'] > line)} above {name} ({line:g})"
        for name, line in (("the borderline line", borderline), ("the high line", high))
        if _finite(line)
    ]
    return (
        f"Haemolysis index (ΔCq miR-23a-3p − miR-451a) of {len(points)} draws at "
        f"{timepoints} timepoints" + (f"; {', '.join(above)}." if above else ".")
    )


def haemolysis_svg(
    haemolysis: list[dict], borderline: float | None = 5.0, high: float | None = 7.0
) -> str:
    """The haemolysis index ΔCq(miR-23a-3p − miR-451a) per draw, one column per timepoint,
    with the borderline and high-risk lines (Blondal et al., Methods 2013: above 7 the draw
    is likely haemolysed, 5-7 borderline). Draws above the high line are named."""
    points = [p for p in haemolysis if _finite(p.get("index"))]
    if not points:
        return ""
    from analysis.figures import COLOURS, RASTER_ABOVE, plt, to_svg

    grouped = _group(points, "timepoint", "?")
    timepoints = list(grouped)
    position = {tp: i for i, tp in enumerate(timepoints)}

    def colour(value: float) -> str:
        if _finite(high) and value > high:
            return BAD
        if _finite(borderline) and value > borderline:
            return WARN
        return COLOURS[0]

    figure, axis = plt.subplots(figsize=(min(9.0, max(4.8, 2.8 + 1.0 * len(timepoints))), 3.8))
    xs, ys, colours, named = [], [], [], []
    for tp, members in grouped.items():
        for offset, p in zip(_spread(len(members), 0.6), members, strict=True):
            x = position[tp] + offset
            xs.append(x)
            ys.append(p["index"])
            colours.append(colour(p["index"]))
            if _finite(high) and p["index"] > high:
                named.append((x, p))
    axis.scatter(
        xs, ys, s=16, c=colours, edgecolors="none", zorder=3, rasterized=len(xs) > RASTER_ABOVE
    )
    for value, text, line_colour in (
        (borderline, "borderline", WARN),
        (high, "high risk (Blondal et al. 2013)", BAD),
    ):
        if _finite(value):
            axis.axhline(value, color=line_colour, lw=1, ls="--", zorder=2)
            axis.text(
                1.0,
                value,
                f" {text} ({value:g})",
                transform=axis.get_yaxis_transform(),
                va="center",
                ha="left",
                fontsize=7.5,
                color=line_colour,
            )
    for x, p in named[:MAX_LABELS]:
        axis.annotate(
            _plain(p.get("study_id") or "?"),
            (x, p["index"]),
            xytext=(5, 3),
            textcoords="offset points",
            fontsize=7,
            color=BAD,
        )
    axis.set_xticks(range(len(timepoints)), [_plain(tp) for tp in timepoints])
    axis.set_xlim(-0.6, len(timepoints) - 0.4)
    top = max(ys + [v for v in (borderline, high) if _finite(v)])
    bottom = min(ys + [v for v in (borderline,) if _finite(v)])
    axis.set_ylim(bottom - 0.8, top + 0.8)
    axis.set_xlabel("Timepoint")
    axis.set_ylabel("ΔCq miR-23a-3p − miR-451a")
    n_high = sum(1 for p in points if _finite(high) and p["index"] > high)
    axis.set_title(
        f"Haemolysis index per draw: {n_high} of {len(points)} above the high line", fontsize=9
    )
    axis.grid(axis="y", color="#e4eaf0", lw=0.6)
    axis.set_axisbelow(True)
    return to_svg(
        figure, alt=haemolysis_alt(haemolysis, borderline, high), title="Haemolysis index per draw"
    )


def qc_figure_drawings(qc: Mapping) -> dict[str, Callable[[], tuple[str, str]]]:
    """How to draw each QC figure, keyed "qc:<name>" so they sit in AnalysisRun.figures
    beside the analyses' figures without clashing with an analysis name. Each gives
    (svg, alt text), an empty svg when there are no data for it; analysis.figures draws
    each on its own, as it does the analyses' figures."""
    if not qc:
        return {}
    flow = qc.get("flow") or []
    spike_in, limit = qc.get("spike_in") or [], qc.get("spike_in_limit")
    haemolysis = qc.get("haemolysis") or []
    limits = qc.get("haemolysis_limits") or {}
    borderline, high = limits.get("borderline", 5.0), limits.get("high", 7.0)
    return {
        "qc:flow": lambda: (patient_flow_svg(flow), patient_flow_alt(flow)),
        "qc:spike_in": lambda: (spike_in_svg(spike_in, limit), spike_in_alt(spike_in, limit)),
        "qc:haemolysis": lambda: (
            haemolysis_svg(haemolysis, borderline, high),
            haemolysis_alt(haemolysis, borderline, high),
        ),
    }


def draw_qc_figures(qc: Mapping) -> dict[str, str]:
    """The QC figures of a run (see qc_figure_drawings); a figure without data is left
    out rather than drawn empty. A dataset without QC columns may still have a flow (the
    plan's inclusion criteria), so each figure goes by its own data."""
    drawn = {name: draw()[0] for name, draw in qc_figure_drawings(qc).items()}
    return {name: svg for name, svg in drawn.items() if svg}
