"""Baseline characteristics (the paper's Table I): median (range) and n (%).

The caller chooses the subgroup (all patients, liver cirrhosis only, ...) by filtering the
frame first; nothing here knows about the study design. Percentages are of the patients
with a known value, and the number with a missing value is reported per variable so that a
reader can see when the denominator is not the subgroup size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from analysis.stats._json import JsonResult, as_float

__all__ = [
    "BaselineTable",
    "CategoricalSummary",
    "ContinuousSummary",
    "LevelCount",
    "describe_baseline",
    "format_number",
]

CONTINUOUS = "continuous"
CATEGORICAL = "categorical"


def format_number(value) -> str:
    """Compact display: integers without decimals, others with up to three decimals."""
    number = as_float(value)
    if number is None:
        return "NA"
    if number.is_integer():
        return str(int(number))
    return f"{number:.3f}".rstrip("0").rstrip(".")


@dataclass
class ContinuousSummary(JsonResult):
    variable: str
    n: int
    n_missing: int
    median: float | None
    minimum: float | None
    maximum: float | None
    text: str
    kind: str = CONTINUOUS


@dataclass
class LevelCount(JsonResult):
    level: object
    n: int
    percent: float | None


@dataclass
class CategoricalSummary(JsonResult):
    variable: str
    n: int
    n_missing: int
    levels: list[LevelCount]
    kind: str = CATEGORICAL


@dataclass
class BaselineTable(JsonResult):
    """Rows in the order the variables were asked for; ``n_total`` is the subgroup size."""

    n_total: int
    rows: list[ContinuousSummary | CategoricalSummary] = field(default_factory=list)

    def to_frame(self, *, percent_decimals: int = 0) -> pd.DataFrame:
        """Long display table: one line per continuous variable and per category level."""
        records = []
        for row in self.rows:
            if isinstance(row, ContinuousSummary):
                records.append(
                    {
                        "variable": row.variable,
                        "level": "",
                        "value": row.text,
                        "n": row.n,
                        "n_missing": row.n_missing,
                    }
                )
                continue
            for level in row.levels:
                percent = "NA" if level.percent is None else f"{level.percent:.{percent_decimals}f}"
                records.append(
                    {
                        "variable": row.variable,
                        "level": str(level.level),
                        "value": f"{level.n} ({percent})",
                        "n": row.n,
                        "n_missing": row.n_missing,
                    }
                )
        return pd.DataFrame.from_records(
            records, columns=["variable", "level", "value", "n", "n_missing"]
        )


def _kind_of(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return CATEGORICAL
    return CONTINUOUS


def _describe_continuous(name: str, series: pd.Series) -> ContinuousSummary:
    values = pd.to_numeric(series, errors="coerce")
    present = values.dropna()
    n_missing = int(len(values) - len(present))
    if present.empty:
        return ContinuousSummary(name, 0, n_missing, None, None, None, "NA")
    median, low, high = present.median(), present.min(), present.max()
    text = f"{format_number(median)} ({format_number(low)}–{format_number(high)})"
    return ContinuousSummary(
        name, int(len(present)), n_missing, as_float(median), as_float(low), as_float(high), text
    )


def _describe_categorical(name: str, series: pd.Series) -> CategoricalSummary:
    present = series.dropna()
    n = int(len(present))
    counts = present.value_counts(sort=False)
    if isinstance(series.dtype, pd.CategoricalDtype):
        order = list(series.cat.categories)
        counts = counts.reindex(order, fill_value=0)
    else:
        counts = counts.sort_index()
    levels = [
        LevelCount(level, int(count), (100.0 * count / n) if n else None)
        for level, count in counts.items()
    ]
    return CategoricalSummary(name, n, int(len(series) - n), levels)


def describe_baseline(
    df: pd.DataFrame, variables: Iterable[str] | Mapping[str, str]
) -> BaselineTable:
    """Median (min–max) for continuous variables, n (%) per level for categorical ones.

    ``variables`` is either a list of column names (kind inferred: numeric -> continuous,
    anything else -> categorical) or a mapping ``{column: 'continuous' | 'categorical'}``,
    needed for numerically coded categories such as 0/1 diabetes or BCLC stage codes.
    Categorical levels follow the categories of a pandas Categorical, else sorted order.
    """
    if isinstance(variables, Mapping):
        kinds = dict(variables)
    else:
        kinds = {name: _kind_of(df[name]) for name in variables}
    rows: list[ContinuousSummary | CategoricalSummary] = []
    for name, kind in kinds.items():
        if kind not in (CONTINUOUS, CATEGORICAL):
            raise ValueError(f"unknown kind {kind!r} for {name!r}")
        describe = _describe_continuous if kind == CONTINUOUS else _describe_categorical
        rows.append(describe(name, df[name]))
    return BaselineTable(int(len(df)), rows)
