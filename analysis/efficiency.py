"""Amplification efficiency from a standard curve, and the efficiency a run quantifies with.

A dilution series of one template gives, per assay and run, points (log10 quantity, Cq).
Ideal PCR doubles the product each cycle, so Cq falls by log2(10) ≈ 3.32 cycles per
ten-fold more template. The least-squares line ``Cq = intercept + slope·log10(quantity)``
gives the amplification factor ``10^(-1/slope)`` and the efficiency
``E = 10^(-1/slope) - 1`` (1.0 = 100 %, slope -3.32).

Its standard error follows from the slope's by the delta method, as qbase+ reports it
(Hellemans et al. 2007, Genome Biol 8:R19)::

    dE/dslope = ln(10) · 10^(-1/slope) / slope²
    SE(E)     = |dE/dslope| · SE(slope)

The fit uses every accepted replicate well (not level means), so the slope's SE carries
the replicate scatter as well as the curve's departure from a line.

Which wells are used, and why (the rule is applied before the fit and reported):

* **Undetermined at the low end.** Walking from the most dilute level upwards, a level
  with an undetermined replicate (NaN Cq) is outside the linear range, and so is every
  level more dilute than it: at a few copies per well the Poisson sampling of template
  decides whether a well amplifies, so the Cq no longer tracks log quantity. The first
  level upwards whose replicates all amplified starts the linear range. An undetermined
  well *inside* the range (above a fully determined level) is a failed well: it is left
  out and reported, the level stays.
* **Replicate outliers.** In a level with three or more Cq values, a replicate more than
  ``outlier_cycles`` (default 0.5) from the level's median is an outlier and left out. 0.5
  cycle is a 1.4-fold error at 100 % efficiency, several times the technical SD of a
  well-behaved assay (≈0.1-0.2 cycle below Cq 30), so a replicate that far off is a
  pipetting or well failure rather than noise. The median, not the mean, is the centre so
  that the outlier does not move it. With two replicates the odd one cannot be told
  apart: both are kept and the level is flagged.
* At least three dilution levels must remain, else there is no line to judge.

Refused (``StandardCurveError``, with the row that is wrong): non-finite or non-positive
quantities, fewer than three levels in the linear range, a slope that is not negative
(Cq rising with template means the quantities are swapped or mislabelled).

The efficiency used for quantification is chosen explicitly (:func:`choose_efficiency`):
``"default"`` 100 % (the paper's 2^-ΔCq), ``"run"`` this run's curve, ``"pooled"`` the
inverse-variance weighted mean over several runs' curves, or ``"declared"`` a value with
its source (a kit insert, a validation report).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "EFFICIENCY_METHODS",
    "EfficiencyChoice",
    "StandardCurve",
    "StandardCurveError",
    "choose_efficiency",
    "declared_efficiency",
    "default_efficiency",
    "efficiency_from_slope",
    "pooled_efficiency",
    "run_efficiency",
    "standard_curve",
    "standard_curves",
]

EFFICIENCY_METHODS = ("default", "run", "pooled", "declared")
DEFAULT_OUTLIER_CYCLES = 0.5
MIN_LEVELS = 3
_LN10 = math.log(10.0)


class StandardCurveError(ValueError):
    """A standard curve (or an efficiency choice) that cannot be computed; the message says
    which row or value is wrong."""


@dataclass(frozen=True)
class StandardCurve:
    """A fitted standard curve.

    ``efficiency`` is a fraction (0.95 = 95 %); ``amplification`` is ``1 + efficiency``
    (qbase's E, the base the quantities are raised to). ``points`` lists every input well
    in input order as dicts ``{row, quantity, log10_quantity, cq, used, reason}`` (reason
    '' when used); ``levels`` one dict per dilution level, most concentrated first,
    ``{log10_quantity, quantity, n_wells, n_used, median_cq, in_range, reason}``;
    ``flags`` notes that do not exclude anything (a two-replicate level that disagrees).
    """

    slope: float
    intercept: float
    r_squared: float
    slope_se: float
    intercept_se: float
    efficiency: float
    efficiency_se: float
    amplification: float
    n_points: int
    n_levels: int
    residual_sd: float
    linear_range: tuple[float, float]  # (lowest, highest) quantity kept
    points: tuple[dict, ...] = field(repr=False)
    levels: tuple[dict, ...] = field(repr=False)
    flags: tuple[str, ...] = ()

    @property
    def outliers(self) -> tuple[dict, ...]:
        """The wells left out as replicate outliers."""
        return tuple(p for p in self.points if p["reason"].startswith("outlier"))

    def to_dict(self) -> dict:
        """Plain JSON-able form (for storing a curve with a run)."""
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "r_squared": self.r_squared,
            "slope_se": self.slope_se,
            "intercept_se": self.intercept_se,
            "efficiency": self.efficiency,
            "efficiency_se": self.efficiency_se,
            "amplification": self.amplification,
            "n_points": self.n_points,
            "n_levels": self.n_levels,
            "residual_sd": self.residual_sd,
            "linear_range": list(self.linear_range),
            "points": [dict(p) for p in self.points],
            "levels": [dict(level) for level in self.levels],
            "flags": list(self.flags),
        }


def efficiency_from_slope(slope: float, slope_se: float = 0.0) -> tuple[float, float]:
    """``(E, SE(E))`` with ``E = 10^(-1/slope) - 1`` and the delta-method SE."""
    if not math.isfinite(slope) or slope >= 0:
        raise StandardCurveError(f"slope {slope!r}: a standard curve's slope must be negative")
    factor = 10.0 ** (-1.0 / slope)
    derivative = _LN10 * factor / slope**2
    return factor - 1.0, abs(derivative) * slope_se


def _as_float_array(values, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise StandardCurveError(f"{name}: not numbers ({exc})") from exc


def standard_curve(
    quantity: Sequence[float],
    cq: Sequence[float],
    *,
    outlier_cycles: float = DEFAULT_OUTLIER_CYCLES,
) -> StandardCurve:
    """Fit one assay's standard curve from its wells.

    ``quantity`` is each well's template amount on the linear scale (copies, ng, or a
    dilution such as 1, 0.1, 0.01: only ratios matter), ``cq`` its Cq (NaN for
    undetermined). Wells of one level share the same quantity. See the module docstring
    for the linear-range and outlier rules; rows are 1-based in messages and ``points``.
    """
    q = _as_float_array(quantity, "quantity")
    c = _as_float_array(cq, "cq")
    if len(q) != len(c):
        raise StandardCurveError(f"{len(q)} quantities but {len(c)} Cq values")
    bad = np.flatnonzero(~np.isfinite(q) | (q <= 0))
    if bad.size:
        row = int(bad[0]) + 1
        raise StandardCurveError(
            f"row {row}: quantity {float(q[bad[0]])!r} is not a finite positive number "
            "(a standard well needs its template amount)"
        )
    if not (outlier_cycles > 0):
        raise StandardCurveError(f"outlier_cycles must be positive, not {outlier_cycles!r}")
    log_q = np.log10(q)
    used = np.isfinite(c)
    reasons = np.where(used, "", "undetermined").astype(object)

    # Dilution levels: wells of equal quantity (rounded on the log scale against float noise).
    level_key = np.round(log_q, 9)
    keys = np.unique(level_key)  # most dilute first
    in_range = np.ones(len(keys), dtype=bool)
    level_reason = np.full(len(keys), "", dtype=object)
    for i, key in enumerate(keys):  # most dilute upwards
        wells = level_key == key
        if np.isfinite(c[wells]).all():
            break
        in_range[i] = False
        level_reason[i] = "undetermined replicate at the low end: below the linear range"
    for i, key in enumerate(keys):
        wells = level_key == key
        if not in_range[i]:
            used[wells] = False
            reasons[wells] = "below the linear range (undetermined at this or a more dilute level)"
    for i, key in enumerate(keys):
        wells = level_key == key
        if in_range[i]:
            failed = wells & ~np.isfinite(c)
            reasons[failed] = "undetermined inside the linear range (failed well)"

    flags: list[str] = []
    medians = np.full(len(keys), np.nan)
    for i, key in enumerate(keys):
        wells = np.flatnonzero((level_key == key) & np.isfinite(c))
        if wells.size == 0:
            continue
        median = float(np.median(c[wells]))
        medians[i] = median
        if not in_range[i]:
            continue
        if wells.size >= 3:
            off = np.abs(c[wells] - median) > outlier_cycles
            for w in wells[off]:
                used[w] = False
                reasons[w] = (
                    f"outlier: {abs(c[w] - median):.2f} cycles from the level's median "
                    f"{median:.2f} (limit {outlier_cycles:g})"
                )
        elif wells.size == 2 and abs(c[wells[0]] - c[wells[1]]) > outlier_cycles:
            flags.append(
                f"quantity {10.0**key:g}: the two replicates differ by "
                f"{abs(c[wells[0]] - c[wells[1]]):.2f} cycles (more than {outlier_cycles:g}); "
                "both kept, the odd one cannot be told"
            )

    levels = []
    n_used_levels = 0
    for i, key in enumerate(keys):
        wells = level_key == key
        n_used = int(used[wells].sum())
        reason = level_reason[i]
        if in_range[i] and n_used == 0:
            reason = "no usable replicate"
        if n_used:
            n_used_levels += 1
        levels.append(
            {
                "log10_quantity": float(key),
                "quantity": float(10.0**key),
                "n_wells": int(wells.sum()),
                "n_used": n_used,
                "median_cq": float(medians[i]) if math.isfinite(medians[i]) else None,
                "in_range": bool(in_range[i] and n_used > 0),
                "reason": reason,
            }
        )
    levels.reverse()  # most concentrated first, as a plate page lists a dilution series
    points = tuple(
        {
            "row": i + 1,
            "quantity": float(q[i]),
            "log10_quantity": float(log_q[i]),
            "cq": float(c[i]) if math.isfinite(c[i]) else None,
            "used": bool(used[i]),
            "reason": str(reasons[i]),
        }
        for i in range(len(q))
    )
    if n_used_levels < MIN_LEVELS:
        raise StandardCurveError(
            f"{n_used_levels} dilution level(s) in the linear range; a standard curve needs at "
            f"least {MIN_LEVELS} (levels: "
            + "; ".join(
                f"{level['quantity']:g} {'kept' if level['in_range'] else level['reason'] or 'left out'}"
                for level in levels
            )
            + ")"
        )

    x = log_q[used]
    y = c[used]
    n = len(x)
    x_mean = x.mean()
    y_mean = y.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y_mean)).sum() / sxx)
    intercept = float(y_mean - slope * x_mean)
    residuals = y - (intercept + slope * x)
    rss = float((residuals**2).sum())
    tss = float(((y - y_mean) ** 2).sum())
    residual_var = rss / (n - 2)
    slope_se = math.sqrt(residual_var / sxx)
    intercept_se = math.sqrt(residual_var * (1.0 / n + x_mean**2 / sxx))
    if slope >= 0:
        raise StandardCurveError(
            f"slope {slope:.3f} is not negative: Cq should fall as template rises; "
            "check that the quantities belong to the wells they are given for"
        )
    efficiency, efficiency_se = efficiency_from_slope(slope, slope_se)
    kept_q = q[used]
    return StandardCurve(
        slope=slope,
        intercept=intercept,
        r_squared=1.0 - rss / tss if tss > 0 else float("nan"),
        slope_se=slope_se,
        intercept_se=intercept_se,
        efficiency=efficiency,
        efficiency_se=efficiency_se,
        amplification=1.0 + efficiency,
        n_points=n,
        n_levels=n_used_levels,
        residual_sd=math.sqrt(residual_var),
        linear_range=(float(kept_q.min()), float(kept_q.max())),
        points=points,
        levels=tuple(levels),
        flags=tuple(flags),
    )


def standard_curves(
    wells, *, by: Sequence[str] = ("target",), outlier_cycles: float = DEFAULT_OUTLIER_CYCLES
) -> dict:
    """Fit every assay (and run) of a long table of standard wells at once.

    ``wells`` is a pandas DataFrame with ``quantity``, ``cq`` and the ``by`` columns (e.g.
    ``("run_id", "target")``). Returns ``{key: StandardCurve or StandardCurveError}``
    (key a tuple when ``by`` has several columns, else the value), so a plate page can
    show each assay's curve or why it has none without one bad series hiding the others.
    Rows in an error's message count within that series, in table order.
    """
    by = list(by)
    missing = [c for c in (*by, "quantity", "cq") if c not in wells.columns]
    if missing:
        raise StandardCurveError(f"standard wells lack column(s): {', '.join(missing)}")
    out = {}
    for key, rows in wells.groupby(by if len(by) > 1 else by[0], sort=True):
        try:
            out[key] = standard_curve(rows["quantity"], rows["cq"], outlier_cycles=outlier_cycles)
        except StandardCurveError as exc:
            out[key] = exc
    return out


@dataclass(frozen=True)
class EfficiencyChoice:
    """The efficiency an assay is quantified with, and where it comes from.

    ``efficiency`` is a fraction (1.0 = 100 %), ``amplification`` = 1 + efficiency is the
    base of the quantities (2 for the paper's 2^-ΔCq), ``se`` the SE of either (the same).
    ``method`` is one of :data:`EFFICIENCY_METHODS`; ``source`` says in words where the
    value comes from (stored with an analysis so a reader can check it).
    """

    method: str
    efficiency: float
    se: float
    source: str

    @property
    def amplification(self) -> float:
        return 1.0 + self.efficiency

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "efficiency": self.efficiency,
            "amplification": self.amplification,
            "se": self.se,
            "source": self.source,
        }


def default_efficiency() -> EfficiencyChoice:
    """100 % with no error: the assumption behind the paper's 2^-ΔCq."""
    return EfficiencyChoice(
        method="default",
        efficiency=1.0,
        se=0.0,
        source="assumed 100 % (every cycle doubles the product), as the paper's 2^-ΔCq",
    )


def run_efficiency(curve: StandardCurve, *, source: str = "") -> EfficiencyChoice:
    """This run's standard curve's efficiency and its SE."""
    return EfficiencyChoice(
        method="run",
        efficiency=curve.efficiency,
        se=curve.efficiency_se,
        source=source
        or (
            f"this run's standard curve: slope {curve.slope:.4f}, R² {curve.r_squared:.4f}, "
            f"{curve.n_levels} levels"
        ),
    )


def pooled_efficiency(curves: Sequence[StandardCurve], *, source: str = "") -> EfficiencyChoice:
    """Inverse-variance weighted mean of several runs' efficiencies.

    ``E = Σ wᵢEᵢ / Σ wᵢ`` with ``wᵢ = 1/SE(Eᵢ)²``, ``SE(E) = 1/√Σwᵢ`` (the fixed-effect
    pooled estimate: it assumes the assay's true efficiency is the same in every run, which
    is what using one value for all runs means). A curve with a zero or unknown SE (two
    levels on an exact line) cannot be weighted and is refused.
    """
    curves = list(curves)
    if not curves:
        raise StandardCurveError("no standard curve to pool")
    for i, curve in enumerate(curves, start=1):
        if not (math.isfinite(curve.efficiency_se) and curve.efficiency_se > 0):
            raise StandardCurveError(
                f"curve {i}: efficiency SE {curve.efficiency_se!r} cannot be weighted "
                "(a pooled efficiency needs each curve's positive SE)"
            )
    weights = np.array([1.0 / c.efficiency_se**2 for c in curves])
    values = np.array([c.efficiency for c in curves])
    pooled = float((weights * values).sum() / weights.sum())
    se = float(1.0 / math.sqrt(weights.sum()))
    return EfficiencyChoice(
        method="pooled",
        efficiency=pooled,
        se=se,
        source=source or f"inverse-variance weighted mean of {len(curves)} runs' standard curves",
    )


def declared_efficiency(efficiency: float, *, source: str, se: float = 0.0) -> EfficiencyChoice:
    """A value stated elsewhere (kit insert, validation report), with that source.

    ``efficiency`` is a fraction: 0.95 for 95 %. Values outside (0, 1.5] are refused,
    which catches a percentage typed as a fraction (95) or a factor (1.95 means 95 %?).
    """
    if not source or not str(source).strip():
        raise StandardCurveError("a declared efficiency needs its source (where the value is from)")
    try:
        value = float(efficiency)
        error = float(se)
    except (TypeError, ValueError) as exc:
        raise StandardCurveError(f"declared efficiency: not a number ({exc})") from exc
    if not (math.isfinite(value) and 0 < value <= 1.5):
        raise StandardCurveError(
            f"declared efficiency {efficiency!r}: give it as a fraction in (0, 1.5], "
            "e.g. 0.95 for 95 %"
        )
    if not (math.isfinite(error) and error >= 0):
        raise StandardCurveError(f"declared efficiency SE {se!r} must be a number ≥ 0")
    return EfficiencyChoice(method="declared", efficiency=value, se=error, source=str(source))


def choose_efficiency(
    method: str = "default",
    *,
    curve: StandardCurve | None = None,
    curves: Sequence[StandardCurve] | None = None,
    value: float | None = None,
    se: float = 0.0,
    source: str = "",
) -> EfficiencyChoice:
    """One entry point for an analysis plan's per-assay choice.

    ``"default"`` needs nothing; ``"run"`` needs ``curve``; ``"pooled"`` needs ``curves``;
    ``"declared"`` needs ``value`` and ``source`` (``se`` optional).
    """
    if method == "default":
        return default_efficiency()
    if method == "run":
        if curve is None:
            raise StandardCurveError("efficiency 'run' needs this run's standard curve")
        return run_efficiency(curve, source=source)
    if method == "pooled":
        if not curves:
            raise StandardCurveError("efficiency 'pooled' needs the runs' standard curves")
        return pooled_efficiency(curves, source=source)
    if method == "declared":
        if value is None:
            raise StandardCurveError("efficiency 'declared' needs its value")
        return declared_efficiency(value, source=source, se=se)
    raise StandardCurveError(
        f"efficiency method {method!r}: choose one of {', '.join(EFFICIENCY_METHODS)}"
    )
