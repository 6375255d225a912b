"""The standard curves of a plate as one SVG figure (Cq against log10 quantity).

Drawn with matplotlib like the report's figures (analysis.figures.to_svg), imported only
by the view that serves the picture: matplotlib is never loaded at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from analysis.efficiency import StandardCurve
from analysis.figures import plt, to_svg

# Colour-blind-safe (Okabe-Ito), one per assay in turn.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _finite(cq) -> bool:
    return cq is not None and math.isfinite(cq)  # an undetermined well's Cq is None


def standard_curves_svg(curves: Sequence[tuple[str, StandardCurve]], *, title: str = "") -> str:
    """Every assay's wells (filled: in the fit; hollow: left out, with undetermined
    wells drawn at the top edge) and its fitted line over the linear range."""
    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    highest = max(
        (p["cq"] for _, c in curves for p in c.points if _finite(p["cq"])), default=40.0
    )
    described = []
    for index, (target, curve) in enumerate(curves):
        colour = COLOURS[index % len(COLOURS)]
        used = [p for p in curve.points if p["used"]]
        left = [p for p in curve.points if not p["used"]]
        axis.plot(
            [p["log10_quantity"] for p in used],
            [p["cq"] for p in used],
            "o",
            color=colour,
            markersize=4,
            label=f"{target}: E {curve.efficiency:.1%} ± {curve.efficiency_se:.1%}, "
            f"R² {curve.r_squared:.4f}",
        )
        if left:
            axis.plot(
                [p["log10_quantity"] for p in left],
                [p["cq"] if _finite(p["cq"]) else highest + 1 for p in left],
                "o",
                markerfacecolor="none",
                color=colour,
                markersize=5,
            )
        low, high = (math.log10(q) for q in curve.linear_range)
        axis.plot(
            [low, high],
            [curve.intercept + curve.slope * low, curve.intercept + curve.slope * high],
            "-",
            color=colour,
            linewidth=1,
        )
        described.append(
            f"{target} slope {curve.slope:.3f}, efficiency {curve.efficiency:.1%}, "
            f"R² {curve.r_squared:.4f}"
        )
    axis.set_xlabel("log10 quantity")
    axis.set_ylabel("Cq")
    axis.grid(True, linewidth=0.3, alpha=0.5)
    if curves:
        axis.legend(loc="upper right", fontsize=8, frameon=False)
    if title:
        axis.set_title(title, fontsize=10)
    alt = "Standard curves: " + ("; ".join(described) or "none")
    return to_svg(figure, alt=alt, title=title or "Standard curves")
