"""Group comparisons: paired t-test (PRE vs POST TACE) and one-way ANOVA (Child-Pugh grade).

Both run on log10 relative expression, as in the paper ("because of the non-normal
distribution, the logarithmic transformation ... was used"). They never raise on awkward
data: too few pairs, constant differences or a single group give a result whose estimates
are None and whose ``warnings`` say why.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats._json import JsonResult, as_float

__all__ = ["GroupSummary", "OneWayAnova", "PairedTTest", "one_way_anova", "paired_ttest"]


@dataclass
class PairedTTest(JsonResult):
    """Paired t-test of ``after - before`` over complete pairs.

    ``mean_difference`` is mean(after - before): negative means lower after TACE.
    ``ci_low``/``ci_high`` bound that mean difference at ``confidence``.
    """

    before: str
    after: str
    n: int
    n_dropped: int
    mean_before: float | None = None
    mean_after: float | None = None
    mean_difference: float | None = None
    sd_difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    t: float | None = None
    df: int | None = None
    p: float | None = None
    confidence: float = 0.95
    warnings: list[str] = field(default_factory=list)


def paired_ttest(
    df: pd.DataFrame, before: str, after: str, *, confidence: float = 0.95
) -> PairedTTest:
    """Student's paired t-test (scipy.stats.ttest_rel), dropping incomplete pairs."""
    pairs = df[[before, after]].apply(pd.to_numeric, errors="coerce")
    pairs = pairs.replace([np.inf, -np.inf], np.nan)
    complete = pairs.dropna()
    n = int(len(complete))
    result = PairedTTest(before, after, n, int(len(pairs) - n), confidence=confidence)
    if n < 2:
        result.warnings.append(f"only {n} complete pair(s); a paired t-test needs at least 2")
        return result
    x_before = complete[before].to_numpy(float)
    x_after = complete[after].to_numpy(float)
    difference = x_after - x_before
    result.mean_before = as_float(x_before.mean())
    result.mean_after = as_float(x_after.mean())
    result.mean_difference = as_float(difference.mean())
    sd = float(difference.std(ddof=1))
    result.sd_difference = as_float(sd)
    result.df = n - 1
    if sd == 0.0:
        result.warnings.append("the paired differences are all equal; t is undefined")
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = stats.ttest_rel(x_after, x_before)
    half_width = stats.t.ppf(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    result.ci_low = as_float(difference.mean() - half_width)
    result.ci_high = as_float(difference.mean() + half_width)
    result.t = as_float(test.statistic)
    result.p = as_float(test.pvalue)
    return result


@dataclass
class GroupSummary(JsonResult):
    group: object
    n: int
    mean: float | None
    sd: float | None


@dataclass
class OneWayAnova(JsonResult):
    """Classic one-way ANOVA (equal variances assumed), with the group means beside it."""

    value: str
    group: str
    n: int
    n_dropped: int
    groups: list[GroupSummary] = field(default_factory=list)
    df_between: int | None = None
    df_within: int | None = None
    ss_between: float | None = None
    ss_within: float | None = None
    f: float | None = None
    p: float | None = None
    eta_squared: float | None = None
    warnings: list[str] = field(default_factory=list)


def one_way_anova(df: pd.DataFrame, value: str, group: str) -> OneWayAnova:
    """F test of ``value`` between the levels of ``group`` (rows missing either are dropped).

    Sums of squares are computed directly (vectorised groupby) and F/P cross-checked by
    scipy.stats.f_oneway; with two groups the F test equals the pooled-variance t test.
    """
    frame = pd.DataFrame(
        {
            "value": pd.to_numeric(df[value], errors="coerce").replace([np.inf, -np.inf], np.nan),
            "group": df[group],
        }
    )
    complete = frame.dropna()
    n = int(len(complete))
    result = OneWayAnova(value, group, n, int(len(frame) - n))
    grouped = complete.groupby("group", sort=True, observed=True)["value"]
    table = grouped.agg(["size", "mean", "std"])
    result.groups = [
        GroupSummary(level, int(row["size"]), as_float(row["mean"]), as_float(row["std"]))
        for level, row in table.iterrows()
    ]
    k = len(table)
    if k < 2:
        result.warnings.append(f"{k} group(s) with data; ANOVA needs at least 2")
        return result
    if n - k < 1:
        result.warnings.append("no residual degrees of freedom (one observation per group)")
        return result
    grand_mean = complete["value"].mean()
    ss_between = float((table["size"] * (table["mean"] - grand_mean) ** 2).sum())
    ss_within = float(((complete["value"] - grouped.transform("mean")) ** 2).sum())
    result.df_between, result.df_within = k - 1, n - k
    result.ss_between, result.ss_within = ss_between, ss_within
    total = ss_between + ss_within
    result.eta_squared = as_float(ss_between / total) if total > 0 else None
    if ss_within == 0.0:
        result.warnings.append("no variation within groups; F is undefined")
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = stats.f_oneway(*[g.to_numpy(float) for _, g in grouped])
    result.f = as_float(test.statistic)
    result.p = as_float(test.pvalue)
    return result
