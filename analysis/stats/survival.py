"""Kaplan-Meier curves, median survival and the log-rank test (lifelines underneath).

How the median survival and its confidence interval are defined matters, because the two
programs a reader is likely to compare with disagree:

* **lifelines** (``median_definition='lifelines'``, the default): the median is the first
  time at which S(t) <= 0.5. Its CI is read off the pointwise CI band the same way (the
  first time the lower band reaches 0.5 is the lower limit; the upper band gives the upper
  limit, "not reached" -> None).
* **R survival** (``median_definition='r'``, ``quantile.survfit``): the first time at which
  S(t) < 0.5, except when S(t) equals 0.5 exactly (within sqrt(machine eps)) on a flat
  stretch: then the median is the midpoint of that stretch, from the time S reaches 0.5 to
  the next event time (or to the last follow-up time if the curve ends there). The CI limits
  apply the same rule to the lower and upper bands.

And the pointwise band itself:

* ``ci_method='log-log'`` (default): lifelines' "exponential Greenwood" interval,
  exp(-exp(log(-log S) ± z·se/log S)) with se² the Greenwood sum Σ d/(n(n-d)); R's
  ``conf.type="log-log"``. It stays inside [0, 1].
* ``ci_method='log'``: R's default ``conf.type="log"``, S·exp(±z·se), upper truncated at 1.

So R's ``print(survfit(...))`` corresponds to ``median_definition='r', ci_method='log'``.
For R's ``aml`` data both give medians 31 and 23, but the lower limits differ (lifelines
13 / R 18 for the maintained arm).

Numbers at risk at a time t are the subjects still under observation just before t
(duration >= t), R's ``summary(fit, times=)`` convention. Survival beyond the last follow-up
time of a group is unknown and reported as None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from scipy import stats

from analysis.stats._json import JsonResult, as_float

__all__ = [
    "CI_METHODS",
    "KaplanMeierGroup",
    "KaplanMeierResult",
    "LogRank",
    "MedianSplit",
    "MedianSurvival",
    "kaplan_meier",
    "logrank",
    "r_style_median",
    "split_at_median",
]

CI_METHODS = ("log-log", "log")
MEDIAN_DEFINITIONS = ("lifelines", "r")
_R_TOLERANCE = math.sqrt(np.finfo(float).eps)


class MedianSplit(NamedTuple):
    """Group labels ('low' = <= median, 'high' = > median; NA stays NA) and the median used."""

    groups: pd.Series
    cutoff: float | None


def split_at_median(values: pd.Series, *, labels: tuple[str, str] = ("low", "high")) -> MedianSplit:
    """Dichotomise at the median, as the paper's Fig. 3 (miR-122 ratio in LC patients).

    Values equal to the median go to the low group (<=), so with an even number of distinct
    values the groups are as equal as the data allow.
    """
    numbers = pd.to_numeric(values, errors="coerce")
    cutoff = as_float(numbers.median())
    groups = pd.Series(pd.NA, index=numbers.index, dtype="object")
    if cutoff is not None:
        present = numbers.notna()
        groups[present] = np.where(numbers[present] <= cutoff, labels[0], labels[1])
    groups = groups.astype(pd.CategoricalDtype(list(labels), ordered=True))
    return MedianSplit(groups, cutoff)


@dataclass
class MedianSurvival(JsonResult):
    """Median survival time with CI; None means "not reached"."""

    median: float | None
    ci_low: float | None
    ci_high: float | None
    definition: str
    ci_method: str


@dataclass
class KaplanMeierGroup(JsonResult):
    """One KM curve. ``curve`` has a row per distinct time (0 and every event/censoring time):
    time, survival, ci_low, ci_high, at_risk, events, censored. ``at_times`` answers the
    requested times: time, survival, ci_low, ci_high, at_risk, cumulative_events."""

    group: object
    n: int
    events: int
    median: MedianSurvival
    curve: pd.DataFrame
    at_times: pd.DataFrame


@dataclass
class LogRank(JsonResult):
    """Log-rank test across groups; ``groups`` rows: group, n, observed, expected."""

    chisq: float | None
    df: int | None
    p: float | None
    groups: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


@dataclass
class KaplanMeierResult(JsonResult):
    time: str
    event: str
    group: str | None
    confidence: float
    ci_method: str
    median_definition: str
    n: int
    n_dropped: int
    groups: list[KaplanMeierGroup]
    logrank: LogRank | None
    warnings: list[str] = field(default_factory=list)


def _survival_frame(df: pd.DataFrame, time: str, event: str, group: str | None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "time": pd.to_numeric(df[time], errors="coerce"),
            "event": pd.to_numeric(df[event].astype("object"), errors="coerce"),
        }
    )
    if group is not None:
        frame["group"] = df[group]
    frame = frame.replace([np.inf, -np.inf], np.nan).dropna()
    frame = frame.loc[frame["time"] >= 0]
    frame["event"] = frame["event"].astype(bool)
    return frame


def _log_bands(survival: np.ndarray, greenwood: np.ndarray, z: float):
    """R's conf.type='log' band: S·exp(±z·se), upper truncated at 1; NaN where S = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(greenwood)
        lower = survival * np.exp(-z * se)
        upper = np.minimum(1.0, survival * np.exp(z * se))
    undefined = (survival <= 0) | ~np.isfinite(se)
    return np.where(undefined, np.nan, lower), np.where(undefined, np.nan, upper)


def _first_time_at_or_below(times: np.ndarray, curve: np.ndarray, level: float = 0.5):
    """lifelines' rule: first time the curve is <= level; None if it never gets there."""
    hit = np.flatnonzero(curve <= level)
    return float(times[hit[0]]) if hit.size else None


def _r_quantile(times: np.ndarray, curve: np.ndarray, last_time: float, p: float = 0.5):
    """R quantile.survfit rule on one curve (NaN points ignored); None if not reached.

    The cumulative distribution F = 1 - S is taken with its first time at each level; the
    quantile is where a horizontal line at p meets F, and the midpoint of a flat stretch
    that lies exactly at p (within sqrt(eps)).
    """
    keep = ~np.isnan(curve)
    x = np.concatenate([[0.0], times[keep]])
    y = np.concatenate([[0.0], 1.0 - curve[keep]])
    if y.max() < p:
        return None
    first = np.concatenate([[True], np.diff(y) != 0])
    x, y = x[first], y[first]
    reached = np.flatnonzero(y + _R_TOLERANCE >= p)
    past = np.flatnonzero(y - _R_TOLERANCE >= p)
    if reached.size == 0:
        return None
    start = x[reached[0]]
    if abs(p - y[-1]) < _R_TOLERANCE and past.size == 0:
        return float((start + last_time) / 2.0)
    if past.size == 0:
        return None
    return float((start + x[past[0]]) / 2.0)


def r_style_median(
    durations, events, *, confidence: float = 0.95, ci_method: str = "log"
) -> MedianSurvival:
    """Median survival and CI exactly as R's ``print(survfit(Surv(t, e) ~ 1))`` reports them
    (with ``conf.type`` = ``ci_method``)."""
    fitted = _fit_group(
        pd.DataFrame({"time": durations, "event": np.asarray(events, dtype=bool)}),
        confidence,
        ci_method,
    )
    return _median(fitted, "r", ci_method)


class _FittedCurve(NamedTuple):
    times: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    censored: np.ndarray
    durations: np.ndarray
    event_flags: np.ndarray


def _fit_group(frame: pd.DataFrame, confidence: float, ci_method: str) -> _FittedCurve:
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method must be one of {CI_METHODS}")
    kmf = KaplanMeierFitter(alpha=1.0 - confidence)
    kmf.fit(frame["time"].to_numpy(float), frame["event"].to_numpy(bool))
    table = kmf.event_table
    times = table.index.to_numpy(float)
    survival = kmf.survival_function_.iloc[:, 0].to_numpy(float)
    at_risk = table["at_risk"].to_numpy(float)
    deaths = table["observed"].to_numpy(float)
    if ci_method == "log-log":
        bands = kmf.confidence_interval_survival_function_
        lower, upper = bands.iloc[:, 0].to_numpy(float), bands.iloc[:, 1].to_numpy(float)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(deaths > 0, deaths / (at_risk * (at_risk - deaths)), 0.0)
        z = stats.norm.ppf(0.5 + confidence / 2.0)
        lower, upper = _log_bands(survival, np.cumsum(terms), z)
    return _FittedCurve(
        times,
        survival,
        lower,
        upper,
        at_risk.astype(int),
        deaths.astype(int),
        table["censored"].to_numpy(int),
        frame["time"].to_numpy(float),
        frame["event"].to_numpy(bool),
    )


def _median(fitted: _FittedCurve, definition: str, ci_method: str) -> MedianSurvival:
    if definition not in MEDIAN_DEFINITIONS:
        raise ValueError(f"median_definition must be one of {MEDIAN_DEFINITIONS}")
    if definition == "lifelines":

        def find(curve):
            return _first_time_at_or_below(fitted.times, curve)
    else:
        last = float(fitted.durations.max()) if fitted.durations.size else 0.0

        def find(curve):
            return _r_quantile(fitted.times, curve, last)

    return MedianSurvival(
        find(fitted.survival), find(fitted.lower), find(fitted.upper), definition, ci_method
    )


def _at_times(fitted: _FittedCurve, times: Sequence[float]) -> pd.DataFrame:
    requested = np.asarray(list(times), dtype=float)
    row = np.searchsorted(fitted.times, requested, side="right") - 1
    row = np.clip(row, 0, None)
    beyond = requested > (fitted.durations.max() if fitted.durations.size else -np.inf)
    sorted_durations = np.sort(fitted.durations)
    at_risk = len(sorted_durations) - np.searchsorted(sorted_durations, requested, side="left")
    event_times = np.sort(fitted.durations[fitted.event_flags])
    cumulative_events = np.searchsorted(event_times, requested, side="right")

    def pick(values):
        return np.where(beyond, np.nan, values[row])

    return pd.DataFrame(
        {
            "time": requested,
            "survival": pick(fitted.survival),
            "ci_low": pick(fitted.lower),
            "ci_high": pick(fitted.upper),
            "at_risk": at_risk.astype(int),
            "cumulative_events": cumulative_events.astype(int),
        }
    )


def _expected_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Observed and log-rank expected events per group (R's survdiff O and E columns)."""
    event_times, deaths = np.unique(frame.loc[frame["event"], "time"], return_counts=True)
    all_durations = np.sort(frame["time"].to_numpy(float))
    total_at_risk = len(all_durations) - np.searchsorted(all_durations, event_times, "left")
    rows = []
    for level, part in frame.groupby("group", sort=True, observed=True):
        durations = np.sort(part["time"].to_numpy(float))
        at_risk = len(durations) - np.searchsorted(durations, event_times, "left")
        expected = float(np.sum(deaths * at_risk / total_at_risk)) if deaths.size else 0.0
        rows.append(
            {
                "group": level,
                "n": int(len(part)),
                "observed": int(part["event"].sum()),
                "expected": expected,
            }
        )
    return pd.DataFrame(rows, columns=["group", "n", "observed", "expected"])


def logrank(df: pd.DataFrame, time: str, event: str, group: str) -> LogRank:
    """Log-rank (Mantel-Cox) test of equal survival across the levels of ``group``.

    Rows missing time, event or group are dropped. With two groups this is R's
    ``survdiff(Surv(time, event) ~ group)``; with more, the k-1 df test.
    """
    frame = _survival_frame(df, time, event, group)
    return _logrank(frame)


def _logrank(frame: pd.DataFrame) -> LogRank:
    counts = _expected_events(frame)
    result = LogRank(None, None, None, counts)
    if len(counts) < 2:
        result.warnings.append(f"{len(counts)} group(s) with data; the log-rank test needs 2")
        return result
    if not frame["event"].any():
        result.warnings.append("no events; the log-rank test is undefined")
        return result
    test = multivariate_logrank_test(
        frame["time"].to_numpy(float),
        frame["group"].astype(str).to_numpy(),
        frame["event"].to_numpy(bool),
    )
    result.chisq = as_float(test.test_statistic)
    result.df = int(test.degrees_of_freedom)
    result.p = as_float(test.p_value)
    return result


def kaplan_meier(
    df: pd.DataFrame,
    time: str,
    event: str,
    *,
    group: str | None = None,
    times: Sequence[float] = (),
    confidence: float = 0.95,
    ci_method: str = "log-log",
    median_definition: str = "lifelines",
) -> KaplanMeierResult:
    """Kaplan-Meier estimate per level of ``group`` (or overall), with a log-rank test.

    ``times`` are the times at which survival, its CI and the numbers at risk are reported
    (e.g. 12, 24, 36, 48 months for the table under a KM plot). See the module docstring for
    ``ci_method`` and ``median_definition``.
    """
    frame = _survival_frame(df, time, event, group)
    n_dropped = int(len(df) - len(frame))
    notes: list[str] = []
    if n_dropped:
        notes.append(f"{n_dropped} row(s) without time, event or group left out")
    if group is None:
        frame["group"] = "all"
    parts = list(frame.groupby("group", sort=True, observed=True))
    groups = []
    for level, part in parts:
        fitted = _fit_group(part, confidence, ci_method)
        curve = pd.DataFrame(
            {
                "time": fitted.times,
                "survival": fitted.survival,
                "ci_low": fitted.lower,
                "ci_high": fitted.upper,
                "at_risk": fitted.at_risk,
                "events": fitted.events,
                "censored": fitted.censored,
            }
        )
        groups.append(
            KaplanMeierGroup(
                level,
                int(len(part)),
                int(part["event"].sum()),
                _median(fitted, median_definition, ci_method),
                curve,
                _at_times(fitted, times),
            )
        )
    if not groups:
        notes.append("no usable rows")
    test = _logrank(frame) if group is not None else None
    return KaplanMeierResult(
        time,
        event,
        group,
        confidence,
        ci_method,
        median_definition,
        int(len(frame)),
        n_dropped,
        groups,
        test,
        notes,
    )
