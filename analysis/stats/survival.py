"""Kaplan-Meier curves, median survival and the log-rank test, computed as R survival does.

Plain numpy (no lifelines): the product-limit estimate, Greenwood's variance and the
log-rank statistic are a few cumulative sums, and writing them out lets every number
follow R's ``survfit``/``quantile.survfit``/``survdiff`` to the last rule, NA included.
tests/analysis/r/km_reference.R holds the R reference values the tests compare with.

The pointwise band (``ci_method``; R's ``conf.type``), with se = sqrt(Σ d/(n(n−d))) the
Greenwood standard error of log S:

* ``"log"`` (R's default): S·exp(±z·se), upper limit truncated at 1; NA where S = 0.
* ``"log-log"`` (SAS PROC LIFETEST's default, so JMP's):
  exp(−exp(log(−log S) ∓ z·se/log S)); NA where S is 0 or 1.
* ``"plain"``: S ± z·se·S, truncated to [0, 1]; NA where S = 0 (R: se is infinite there).

An NA band point never "reaches" one half, which is why R says "not reached" for an upper
limit when the curve ends at 0.

The median and its CI limits (``median_definition``) are where a horizontal line at one
half meets the curve and its band:

* ``"r"`` (``quantile.survfit``): the first time S < 1/2; where S equals 1/2 exactly
  (within sqrt(machine eps)) on a stretch, the midpoint of that stretch, running to the
  last follow-up time if the curve ends on it. The limits use the same rule on the band.
* ``"sas"`` (PROC LIFETEST, which JMP's Survival platform follows): the median is
  ½(inf{t: S(t) ≤ ½} + inf{t: S(t) < ½}), so the same midpoint, except that a curve
  ending exactly on ½ gives no median; the CI is the Brookmeyer-Crowley set {t: the band
  at t contains ½}: its lower limit is the first time the lower band is ≤ ½, its upper
  limit the first time the upper band is < ½.
* ``"lifelines"``: the first time the curve (or band) is ≤ ½; no midpoints.

A limit that is never reached is None, and :class:`MedianSurvival` says so in words
("not reached") with a flag per value, so a report cannot print a blank for it.

Survival, its CI and the numbers at risk at chosen times follow R's
``summary(fit, times=)``: survival at the last curve time ≤ t (1 before the first), at
risk the subjects with time ≥ t. Beyond a group's last follow-up survival is unknown
(None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats._json import JsonResult, as_float

__all__ = [
    "CI_METHODS",
    "MEDIAN_DEFINITIONS",
    "NOT_REACHED",
    "KaplanMeierGroup",
    "KaplanMeierResult",
    "LogRank",
    "MedianSplit",
    "MedianSurvival",
    "kaplan_meier",
    "logrank",
    "r_style_median",
    "split_at_cutoff",
    "split_at_median",
    "usable_rows",
]

CI_METHODS = ("log", "log-log", "plain")
MEDIAN_DEFINITIONS = ("r", "sas", "lifelines")
NOT_REACHED = "not reached"
_R_TOLERANCE = math.sqrt(np.finfo(float).eps)


def usable_rows(df: pd.DataFrame, time: str, event: str, columns: Sequence[str] = ()) -> pd.Series:
    """Rows a survival analysis can use: a numeric time ≥ 0, a numeric event and every one
    of ``columns`` present. The same complete cases as a Cox model with those columns
    (analysis.stats.cox.encode_terms), so a median cut-off taken over these rows is the
    one the Cox model takes."""
    times = pd.to_numeric(df[time], errors="coerce")
    events = pd.to_numeric(df[event].astype("object"), errors="coerce")
    usable = times.notna() & events.notna() & (times >= 0)
    for column in columns:
        usable &= df[column].notna()
    return usable.astype(bool)


def _event_flags(values: pd.Series, event: str) -> np.ndarray:
    """0/1 (or False/True) event values as booleans; anything else is refused, because
    reading R's 1/2 coding as 0/1 silently makes every subject a death."""
    numbers = pd.to_numeric(values.astype("object"), errors="coerce")
    odd = sorted(set(numbers.dropna().unique()) - {0, 1})
    if odd:
        shown = ", ".join(f"{v:g}" for v in odd[:5])
        raise ValueError(
            f"survival event {event!r}: value(s) {shown} are neither 0 (censored) nor "
            "1 (event); declare the column's coding (e.g. 1/2 with 2 = event) in the "
            "data dictionary"
        )
    return numbers.to_numpy(dtype=float) == 1


class MedianSplit(NamedTuple):
    """Group labels ('low' = <= cut-off, 'high' = > cut-off; NA stays NA) and the cut-off."""

    groups: pd.Series
    cutoff: float | None


def split_at_cutoff(
    values: pd.Series, cutoff: float | None, *, labels: tuple[str, str] = ("low", "high")
) -> MedianSplit:
    """Dichotomise at ``cutoff``: values equal to it go to the low group (<=), as a Cox
    term with that cut-off codes them."""
    numbers = pd.to_numeric(values, errors="coerce")
    groups = pd.Series(pd.NA, index=numbers.index, dtype="object")
    if cutoff is not None:
        present = numbers.notna()
        groups[present] = np.where(numbers[present] <= cutoff, labels[0], labels[1])
    groups = groups.astype(pd.CategoricalDtype(list(labels), ordered=True))
    return MedianSplit(groups, cutoff)


def split_at_median(values: pd.Series, *, labels: tuple[str, str] = ("low", "high")) -> MedianSplit:
    """Dichotomise at the median of ``values`` (the paper's Fig. 3, miR-122 ratio in LC
    patients). Pass only the rows the analysis uses, or the cut-off is not the one the
    curves are drawn from."""
    numbers = pd.to_numeric(values, errors="coerce")
    return split_at_cutoff(numbers, as_float(numbers.median()), labels=labels)


@dataclass
class MedianSurvival(JsonResult):
    """Median survival time with CI. None means "not reached" (the curve or band never
    gets down to one half); the ``*_not_reached`` flags and :meth:`describe` say it in
    words."""

    median: float | None
    ci_low: float | None
    ci_high: float | None
    definition: str
    ci_method: str
    median_not_reached: bool = field(init=False)
    ci_low_not_reached: bool = field(init=False)
    ci_high_not_reached: bool = field(init=False)

    def __post_init__(self):
        self.median_not_reached = self.median is None
        self.ci_low_not_reached = self.ci_low is None
        self.ci_high_not_reached = self.ci_high is None

    def describe(self, digits: int = 3) -> str:
        """'310 (285 to 363)', '638 (268 to not reached)', 'not reached (475 to not reached)'."""

        def shown(value):
            return NOT_REACHED if value is None else f"{value:.{digits}g}"

        return f"{shown(self.median)} ({shown(self.ci_low)} to {shown(self.ci_high)})"


@dataclass
class KaplanMeierGroup(JsonResult):
    """One KM curve. ``curve`` has a row per distinct time (0 and every event/censoring time):
    time, survival, ci_low, ci_high, at_risk, events, censored. ``at_times`` answers the
    requested times: time, survival, ci_low, ci_high, at_risk, cumulative_events.
    ``label`` is the human name of the group ("miR-122 ratio ≤ 0.793"), set by the caller."""

    group: object
    n: int
    events: int
    median: MedianSurvival
    curve: pd.DataFrame
    at_times: pd.DataFrame
    label: str | None = None


@dataclass
class LogRank(JsonResult):
    """Log-rank test across groups (R's survdiff); ``groups`` rows: group, n, observed,
    expected."""

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
    usable = usable_rows(df, time, event, [group] if group is not None else [])
    rows = df.loc[usable]
    frame = pd.DataFrame(
        {
            "time": pd.to_numeric(rows[time], errors="coerce").astype(float),
            "event": _event_flags(rows[event], event),
        },
        index=rows.index,
    )
    if group is not None:
        frame["group"] = rows[group]
    return frame


class _FittedCurve(NamedTuple):
    times: np.ndarray  # distinct observed times (events and censorings), ascending
    survival: np.ndarray
    lower: np.ndarray  # NaN where R's band is NA
    upper: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    censored: np.ndarray
    durations: np.ndarray  # every subject's time, sorted
    event_times: np.ndarray  # every event's time, sorted


def _bands(survival: np.ndarray, se: np.ndarray, z: float, ci_method: str):
    """R's survfit_confint (conf.type = ci_method, upper limits truncated at 1)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if ci_method == "plain":
            width = z * se * survival
            lower, upper = np.maximum(survival - width, 0.0), np.minimum(survival + width, 1.0)
            undefined = survival <= 0
        elif ci_method == "log":
            lower = survival * np.exp(-z * se)
            upper = np.minimum(survival * np.exp(z * se), 1.0)
            undefined = survival <= 0
        elif ci_method == "log-log":
            shift = z * se / np.log(survival)
            log_cumhaz = np.log(-np.log(survival))
            lower = np.exp(-np.exp(log_cumhaz - shift))
            upper = np.exp(-np.exp(log_cumhaz + shift))
            undefined = (survival <= 0) | (survival >= 1)
        else:
            raise ValueError(f"ci_method must be one of {CI_METHODS}, not {ci_method!r}")
    return np.where(undefined, np.nan, lower), np.where(undefined, np.nan, upper)


def _fit_group(durations, event_flags, confidence: float, ci_method: str) -> _FittedCurve:
    """Product-limit estimate S = Π(1 − d/n) with Greenwood's se of log S, as survfit."""
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method must be one of {CI_METHODS}, not {ci_method!r}")
    durations = np.asarray(durations, dtype=float)
    flags = np.asarray(event_flags, dtype=bool)
    order = np.argsort(durations, kind="stable")
    durations, flags = durations[order], flags[order]
    times, first, counts = np.unique(durations, return_index=True, return_counts=True)
    at_risk = len(durations) - first
    deaths = np.add.reduceat(flags.astype(int), first) if len(durations) else np.array([], int)
    survival = np.cumprod(1.0 - deaths / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(deaths > 0, deaths / (at_risk * (at_risk - deaths)), 0.0)
    se = np.sqrt(np.cumsum(terms))
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    lower, upper = _bands(survival, se, z, ci_method)
    return _FittedCurve(
        times,
        survival,
        lower,
        upper,
        at_risk.astype(int),
        deaths.astype(int),
        (counts - deaths).astype(int),
        durations,
        durations[flags],
    )


def _first_at_or_above(values: np.ndarray, threshold: float) -> int | None:
    """Index of the first value >= threshold (NaN never is), None if there is none."""
    hits = np.flatnonzero(values >= threshold)
    return int(hits[0]) if hits.size else None


def _r_quantile(times: np.ndarray, curve: np.ndarray, p: float = 0.5) -> float | None:
    """R's survival:::findq for one curve (NaN = NA): None where R returns NA."""
    x = np.concatenate([[0.0], times])
    y = np.concatenate([[0.0], 1.0 - curve])
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return None
    last_time = x[-1]
    keep = ~pd.Series(y).duplicated().to_numpy()  # R's duplicated(): one NA kept
    x, y = x[keep], y[keep]
    valid = np.flatnonzero(~np.isnan(y))

    def crossing(shifted):  # approx(shifted, 1:n, p, "constant", f = 1)
        if p < shifted[valid[0]]:
            return None
        at = np.searchsorted(shifted[valid], p, side="left")
        return int(valid[at]) if at < valid.size else None

    first = crossing(y + _R_TOLERANCE)
    past = crossing(y - _R_TOLERANCE)
    if first is not None and not np.isnan(y[-1]) and abs(p - y[-1]) < _R_TOLERANCE:
        return float((x[first] + last_time) / 2.0)
    if first is None or past is None:
        return None
    return float((x[first] + x[past]) / 2.0)


def _sas_quantile(times: np.ndarray, curve: np.ndarray, p: float = 0.5) -> float | None:
    """½(inf{t: F(t) ≥ p} + inf{t: F(t) > p}) with F = 1 − S; None if either is missing."""
    failure = 1.0 - curve
    reached = _first_at_or_above(failure, p - _R_TOLERANCE)
    passed = _first_at_or_above(failure, p + _R_TOLERANCE)
    if reached is None or passed is None:
        return None
    return float((times[reached] + times[passed]) / 2.0)


def _median(fitted: _FittedCurve, definition: str, ci_method: str) -> MedianSurvival:
    if definition not in MEDIAN_DEFINITIONS:
        raise ValueError(
            f"median_definition must be one of {MEDIAN_DEFINITIONS}, not {definition!r}"
        )
    times = fitted.times
    if definition == "r":
        limits = [_r_quantile(times, c) for c in (fitted.survival, fitted.lower, fitted.upper)]
    elif definition == "sas":
        low = _first_at_or_above(1.0 - fitted.lower, 0.5 - _R_TOLERANCE)
        high = _first_at_or_above(1.0 - fitted.upper, 0.5 + _R_TOLERANCE)
        limits = [
            _sas_quantile(times, fitted.survival),
            None if low is None else float(times[low]),
            None if high is None else float(times[high]),
        ]
    else:
        found = [
            _first_at_or_above(-c, -0.5) for c in (fitted.survival, fitted.lower, fitted.upper)
        ]
        limits = [None if i is None else float(times[i]) for i in found]
    return MedianSurvival(*limits, definition, ci_method)


def r_style_median(
    durations, events, *, confidence: float = 0.95, ci_method: str = "log"
) -> MedianSurvival:
    """Median survival and CI exactly as R's ``print(survfit(Surv(t, e) ~ 1))`` reports them
    (with ``conf.type`` = ``ci_method``)."""
    fitted = _fit_group(durations, np.asarray(events, dtype=bool), confidence, ci_method)
    return _median(fitted, "r", ci_method)


def _curve_frame(fitted: _FittedCurve) -> pd.DataFrame:
    """The curve with a starting row at time 0 (S = 1, band 1 to 1, as R's summary reports
    times before the first observation) unless a subject was observed at 0."""
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
    if fitted.times.size and fitted.times[0] > 0:
        start = {"time": 0.0, "survival": 1.0, "ci_low": 1.0, "ci_high": 1.0,
                 "at_risk": int(fitted.durations.size), "events": 0, "censored": 0}  # fmt: skip
        curve = pd.concat([pd.DataFrame([start]), curve], ignore_index=True)
    return curve


def _at_times(fitted: _FittedCurve, times: Sequence[float]) -> pd.DataFrame:
    requested = np.asarray(list(times), dtype=float)
    row = np.searchsorted(fitted.times, requested, side="right") - 1
    before_first = row < 0
    row = np.clip(row, 0, None)
    last = fitted.durations[-1] if fitted.durations.size else -np.inf
    beyond = requested > last
    at_risk = fitted.durations.size - np.searchsorted(fitted.durations, requested, side="left")
    cumulative_events = np.searchsorted(fitted.event_times, requested, side="right")

    def pick(values):
        if not values.size:
            return np.full(requested.shape, np.nan)
        return np.where(beyond, np.nan, np.where(before_first, 1.0, values[row]))

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


def logrank(df: pd.DataFrame, time: str, event: str, group: str) -> LogRank:
    """Log-rank (Mantel-Cox) test of equal survival across the levels of ``group``.

    Rows missing time, event or group are dropped. R's
    ``survdiff(Surv(time, event) ~ group)``: k − 1 df for k groups with expected events.
    """
    return _logrank(_survival_frame(df, time, event, group))


def _risk_and_deaths(part: pd.DataFrame, event_times: np.ndarray):
    """Numbers at risk and deaths of one group at each of the pooled event times."""
    durations = np.sort(part["time"].to_numpy())
    deaths = np.sort(part.loc[part["event"], "time"].to_numpy())
    at_risk = durations.size - np.searchsorted(durations, event_times, "left")
    died = np.searchsorted(deaths, event_times, "right") - np.searchsorted(
        deaths, event_times, "left"
    )
    return at_risk, died


def _logrank(frame: pd.DataFrame) -> LogRank:
    """survdiff's observed, expected and hypergeometric variance; the statistic on the
    groups with expected events, less the first (a generalised inverse)."""
    parts = [(level, part) for level, part in frame.groupby("group", sort=True, observed=True)]
    parts = [(level, part) for level, part in parts if len(part)]
    event_times, deaths = np.unique(frame.loc[frame["event"], "time"], return_counts=True)
    at_risk = np.zeros((event_times.size, len(parts)))
    died = np.zeros((event_times.size, len(parts)))
    for column, (_, part) in enumerate(parts):
        at_risk[:, column], died[:, column] = _risk_and_deaths(part, event_times)
    total = at_risk.sum(axis=1)
    share = np.divide(at_risk, total[:, None], out=np.zeros_like(at_risk), where=total[:, None] > 0)
    expected = (deaths[:, None] * share).sum(axis=0)
    observed = died.sum(axis=0)
    counts = pd.DataFrame(
        {
            "group": [level for level, _ in parts],
            "n": [int(len(part)) for _, part in parts],
            "observed": observed.astype(int),
            "expected": expected,
        },
        columns=["group", "n", "observed", "expected"],
    )
    result = LogRank(None, None, None, counts)
    if len(parts) < 2:
        result.warnings.append(f"{len(parts)} group(s) with data; the log-rank test needs 2")
        return result
    if not deaths.size:
        result.warnings.append("no events; the log-rank test is undefined")
        return result
    spread = np.divide(
        deaths * (total - deaths), total - 1, out=np.zeros(total.size), where=total > 1
    )
    variance = np.diag((spread[:, None] * share).sum(axis=0)) - np.einsum(
        "t,tj,tk->jk", spread, share, share
    )
    compared = np.flatnonzero(expected > 0)
    if compared.size < 2:
        result.warnings.append("only one group has expected events; the log-rank test is undefined")
        return result
    kept = compared[1:]
    difference = (observed - expected)[kept]
    chisq = float(difference @ np.linalg.solve(variance[np.ix_(kept, kept)], difference))
    result.chisq, result.df = as_float(chisq), int(compared.size - 1)
    result.p = as_float(stats.chi2.sf(chisq, result.df))
    return result


def kaplan_meier(
    df: pd.DataFrame,
    time: str,
    event: str,
    *,
    group: str | None = None,
    times: Sequence[float] = (),
    confidence: float = 0.95,
    ci_method: str = "log",
    median_definition: str = "r",
) -> KaplanMeierResult:
    """Kaplan-Meier estimate per level of ``group`` (or overall), with a log-rank test.

    ``times`` are the times at which survival, its CI and the numbers at risk are reported
    (e.g. 12, 24, 36, 48 months for the table under a KM plot). Groups come in the order
    of the column's categories (a Categorical) or sorted. The defaults are R's
    (``conf.type="log"``, ``quantile.survfit``); see the module docstring.
    """
    if median_definition not in MEDIAN_DEFINITIONS:
        raise ValueError(
            f"median_definition must be one of {MEDIAN_DEFINITIONS}, not {median_definition!r}"
        )
    frame = _survival_frame(df, time, event, group)
    n_dropped = int(len(df) - len(frame))
    notes: list[str] = []
    if n_dropped:
        what = "time, event or group" if group is not None else "time or event"
        notes.append(f"{n_dropped} row(s) without {what} left out")
    if group is None:
        frame["group"] = "all"
    groups = []
    for level, part in frame.groupby("group", sort=True, observed=True):
        if not len(part):
            continue
        fitted = _fit_group(part["time"], part["event"], confidence, ci_method)
        groups.append(
            KaplanMeierGroup(
                level,
                int(len(part)),
                int(part["event"].sum()),
                _median(fitted, median_definition, ci_method),
                _curve_frame(fitted),
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
