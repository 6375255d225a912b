"""Pearson correlation with Fisher-z confidence intervals (the paper's Tables II and III).

The paper correlates log10 pre-TACE exosomal miRNA expression with each clinical variable,
using as many patients as that variable allows (75, or 73/70 where values are missing).
The confidence interval is the usual Fisher transformation, with no bias correction::

    z = atanh(r),  se = 1 / sqrt(n - 3),  CI = tanh(z ± z_{1-α/2} · se)

This reproduces all 26 printed bounds of Tables II and III (JMP output) from the printed r
and n, up to the rounding of r itself to four decimals. The P value is the two-sided t test
of r = 0 with n - 2 degrees of freedom (what scipy.stats.pearsonr reports).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats._json import JsonResult, as_float, json_safe

__all__ = [
    "Correlation",
    "CorrelationTable",
    "correlate_with_expression",
    "fisher_z_ci",
    "pearson_correlation",
]


def fisher_z_ci(r: float, n: int, *, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Fisher-z confidence interval of a Pearson r from ``n`` pairs; (None, None) if n <= 3."""
    r = as_float(r)
    if r is None or n is None or n <= 3 or not -1.0 <= r <= 1.0:
        return None, None
    if abs(r) == 1.0:
        return r, r
    z = math.atanh(r)
    half_width = stats.norm.ppf(0.5 + confidence / 2.0) / math.sqrt(n - 3)
    return math.tanh(z - half_width), math.tanh(z + half_width)


@dataclass
class Correlation(JsonResult):
    """Pearson r of one variable with the expression column; None where undefined."""

    variable: str
    expression: str
    n: int
    r: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    confidence: float = 0.95
    warnings: list[str] = field(default_factory=list)


def pearson_correlation(
    x,
    y,
    *,
    variable: str = "x",
    expression: str = "y",
    confidence: float = 0.95,
) -> Correlation:
    """Pearson r, Fisher-z CI and two-sided P over the pairs where both values are present."""
    frame = pd.DataFrame(
        {
            "x": pd.to_numeric(pd.Series(x), errors="coerce"),
            "y": pd.to_numeric(pd.Series(y), errors="coerce"),
        }
    )
    frame = frame.replace([np.inf, -np.inf], np.nan).dropna()
    n = len(frame)
    notes: list[str] = []
    result = Correlation(variable, expression, n, None, None, None, None, confidence, notes)
    if n < 3:
        notes.append(f"only {n} complete pair(s); a correlation needs at least 3")
        return result
    if frame["x"].nunique() < 2 or frame["y"].nunique() < 2:
        constant = variable if frame["x"].nunique() < 2 else expression
        notes.append(f"'{constant}' is constant over the {n} pairs; r is undefined")
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r, p = stats.pearsonr(frame["x"].to_numpy(float), frame["y"].to_numpy(float))
    result.r = as_float(r)
    result.p = as_float(p)
    result.ci_low, result.ci_high = fisher_z_ci(r, n, confidence=confidence)
    if n <= 3:
        notes.append("n <= 3: no Fisher-z confidence interval")
    return result


@dataclass
class CorrelationTable(JsonResult):
    """One :class:`Correlation` per clinical variable against one expression column."""

    expression: str
    rows: list[Correlation]

    def to_frame(self) -> pd.DataFrame:
        columns = ["variable", "r", "n", "ci_low", "ci_high", "p", "warnings"]
        records = [{c: getattr(row, c) for c in columns} for row in self.rows]
        return pd.DataFrame.from_records(records, columns=columns)

    def to_dict(self) -> dict:
        return {"expression": self.expression, "rows": json_safe(self.rows)}


def correlate_with_expression(
    df: pd.DataFrame,
    expression: str,
    variables: Iterable[str],
    *,
    confidence: float = 0.95,
) -> CorrelationTable:
    """Correlate ``expression`` (e.g. 'mir122_pre_log10') with each variable in turn.

    Each variable uses its own complete pairs, so case numbers differ as missing values
    allow, as in the paper's tables.
    """
    rows = [
        pearson_correlation(
            df[name],
            df[expression],
            variable=name,
            expression=expression,
            confidence=confidence,
        )
        for name in variables
    ]
    return CorrelationTable(expression, rows)
