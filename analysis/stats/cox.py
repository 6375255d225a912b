"""Cox proportional-hazards regression for Table IV, equal to R survival's ``coxph``.

Variables are usually dichotomised, as in the paper ("AFP > 20 vs <= 20", "Child-Pugh B vs
A", "miR-122 ratio <= median vs > median"); :class:`CoxTerm` says how, and every estimate
says whether its cut-point was pre-specified (a fixed cut-off or level) or data-derived
(the median of the rows used), since a data-derived cut-point flatters its own P.

The fit is our own vectorised Newton-Raphson (analysis.stats._coxfit), converged far past
R's default, so coefficients equal R's to 1e-6 and better (lifelines' default stopped up to
2e-4 short, and was slow). Options, as R or JMP would run it:

* ``ties``: "efron" (R's and lifelines' default) or "breslow" (JMP, SAS, statsmodels);
* ``ci``: "wald", exp(coef ± z·se) as R prints, or "profile", the likelihood-profile
  interval JMP prints by default (visibly asymmetric on the log scale);
* ``firth``: "auto" refits with Firth's penalised likelihood (Heinze & Schemper 2001) when
  the likelihood is monotone (separation: an infinite MLE), "always", or "never" (the
  estimates of a separated variable are then withheld). A Firth model gives profile
  penalised-likelihood intervals and penalised likelihood-ratio P values, as R's coxphf.

Each model reports HR, CI, Wald P, the likelihood-ratio, Wald and score (log-rank) tests,
Harrell's concordance as R's ``concordance``, R's ``cox.zph`` proportional-hazards test
(transform "km") per variable and globally, rows, events and events per variable.

Small cohorts make Cox models fragile. Instead of numbers that mean nothing, the result
carries ``warnings`` and estimates set to None when:

* there are too few rows or no events to fit at all;
* a variable is constant in the rows used (it is left out of the fit);
* a binary variable has all events on one side (complete separation: the MLE is infinite)
  and Firth is not used;
* the fit does not converge, or gives a standardised |coef| or se above 10 (an HR per SD
  beyond e^10: separation or collinearity);
* fewer than 10 events per variable (estimates kept, flagged as under-powered).

Nothing here raises on such data; an event column not coded 0/1 is refused (ValueError).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats._coxfit import (
    CoxData,
    concordance,
    newton_raphson,
    profile_interval,
    profile_p,
    zph_test,
)
from analysis.stats._json import JsonResult, as_float, json_safe

__all__ = [
    "CoxEstimate",
    "CoxModel",
    "CoxTable",
    "CoxTerm",
    "cox_multivariate",
    "cox_univariate",
    "encode_terms",
]

MIN_EVENTS_PER_VARIABLE = 10
_MAX_STANDARDISED = 10.0
TIES = ("efron", "breslow")
CI_METHODS = ("wald", "profile")
FIRTH = ("auto", "always", "never")


@dataclass(frozen=True)
class CoxTerm:
    """How one column enters a Cox model.

    - ``level`` given: 1 where the column equals ``level`` (e.g. Child-Pugh grade 'B'), or is
      one of them when ``level`` is a list (BCLC ['B', 'C'] vs 0 + A), else 0.
    - ``cutoff`` given: 1 where the value is ``> cutoff`` (or ``<= cutoff`` with
      ``low_is_one``, e.g. a *lower* miR-122 ratio as the risk group), else 0.
    - ``at_median``: as ``cutoff`` with the median of the rows used in the model.
    - none of these: the column as it is (continuous, or already coded 0/1).
    Missing values stay missing; models use complete cases.
    """

    column: str
    cutoff: float | None = None
    at_median: bool = False
    level: object = None
    low_is_one: bool = False
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def dichotomised(self) -> bool:
        return self.level is not None or self.cutoff is not None or self.at_median

    @property
    def cutoff_source(self) -> str | None:
        """ "pre-specified" (a fixed cut-off or level), "data-derived" (the median of the
        rows used) or None (the column as given)."""
        if self.at_median and self.cutoff is None:
            return "data-derived"
        return "pre-specified" if self.dichotomised else None


def _as_term(term: CoxTerm | str) -> CoxTerm:
    return term if isinstance(term, CoxTerm) else CoxTerm(column=str(term))


def _encode(term: CoxTerm, values: pd.Series) -> tuple[pd.Series, float | None, str]:
    """(coded column, cut-off used, human-readable coding) for one term."""
    if isinstance(term.level, list | tuple | set | frozenset):
        levels = list(term.level)
        coded = values.isin(levels).astype(float).where(values.notna())
        return coded, None, f"{term.column} in {levels!r} (1) vs other (0)"
    if term.level is not None:
        coded = (values == term.level).astype(float).where(values.notna())
        return coded, None, f"{term.column} == {term.level!r} (1) vs other (0)"
    numbers = pd.to_numeric(values, errors="coerce")
    if term.cutoff is None and not term.at_median:
        return numbers.astype(float), None, "as given"
    cutoff = float(term.cutoff) if term.cutoff is not None else float(numbers.median())
    source = "" if term.cutoff is not None else " (median)"
    if term.low_is_one:
        coded = (numbers <= cutoff).astype(float).where(numbers.notna())
        coding = f"{term.column} <= {cutoff:g}{source} (1) vs > (0)"
    else:
        coded = (numbers > cutoff).astype(float).where(numbers.notna())
        coding = f"{term.column} > {cutoff:g}{source} (1) vs <= (0)"
    return coded, cutoff, coding


def _numbers(values: pd.Series) -> np.ndarray:
    """Floats (NaN where missing or not a number), fast for numeric columns."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(values.astype("object"), errors="coerce").to_numpy(float)


def encode_terms(
    df: pd.DataFrame, time: str, event: str, terms: Sequence[CoxTerm | str]
) -> tuple[pd.DataFrame, dict[str, tuple[float | None, str]]]:
    """Complete-case design frame (``_time``, ``_event`` and one column per term name) and,
    per term name, the (cut-off, coding) used. Medians are taken over the complete cases."""
    terms = [_as_term(t) for t in terms]
    names = [t.name for t in terms]
    if len(set(names)) != len(names):
        raise ValueError("Cox terms need distinct names (use label=)")
    times = _numbers(df[time])
    events = _numbers(df[event])
    not_numbers = df[event].notna().to_numpy() & np.isnan(events)
    if not_numbers.any():
        shown = ", ".join(map(repr, pd.unique(df[event][not_numbers])[:5]))
        raise ValueError(
            f"event column {event!r} has value(s) {shown}; a Cox model needs 0 (censored) "
            "and 1 (event): recode it, or declare its coding in the data dictionary"
        )
    usable = ~np.isnan(times) & ~np.isnan(events) & (np.nan_to_num(times, nan=-1.0) >= 0)
    for term in terms:
        usable &= df[term.column].notna().to_numpy()
    unexpected = sorted(set(np.unique(events[usable]).tolist()) - {0.0, 1.0})
    if unexpected:
        shown = ", ".join(f"{v:g}" for v in unexpected[:5])
        raise ValueError(
            f"event column {event!r} has value(s) {shown}; a Cox model needs 0 (censored) "
            "and 1 (event): recode it, or declare its coding in the data dictionary"
        )
    index = df.index[usable]
    columns = {"_time": times[usable], "_event": events[usable].astype(int)}
    codings = {}
    for term in terms:
        values = df[term.column]
        coded, cutoff, coding = _encode(term, values[usable])
        columns[term.name] = coded.to_numpy(float)
        codings[term.name] = (cutoff, coding)
    design = pd.DataFrame(columns, index=index)
    return design, codings


@dataclass
class CoxEstimate(JsonResult):
    """One variable of a fitted model. ``n_exposed``/``events_exposed`` count the rows coded
    1 (binary variables only). ``cutoff_source`` says whether the cut-point was fixed in
    advance or taken from the data; ``p_method`` whether ``p`` is the Wald P or (Firth) the
    penalised likelihood-ratio P; ``ph_chisq``/``ph_p`` are R's cox.zph for this term."""

    variable: str
    coding: str
    cutoff: float | None = None
    n_exposed: int | None = None
    events_exposed: int | None = None
    coef: float | None = None
    se: float | None = None
    hr: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    ph_p: float | None = None
    warnings: list[str] = field(default_factory=list)
    cutoff_source: str | None = None
    z: float | None = None
    ci_method: str | None = None
    p_method: str | None = None
    ph_chisq: float | None = None


@dataclass
class CoxModel(JsonResult):
    """One fitted model. The tests are R's: likelihood ratio (``lr_*``), Wald (``wald_*``)
    and score (``score_*``, the log-rank test for one binary variable), each with its df;
    ``ph_global_*`` is cox.zph's GLOBAL line. ``firth`` says the estimates are Firth's
    penalised ones and ``firth_reason`` why (then the tests are penalised too)."""

    variables: list[str]
    n: int
    n_dropped: int
    events: int
    events_per_variable: float | None
    estimates: list[CoxEstimate]
    confidence: float = 0.95
    converged: bool = False
    log_likelihood: float | None = None
    lr_chisq: float | None = None
    lr_df: int | None = None
    lr_p: float | None = None
    concordance: float | None = None
    warnings: list[str] = field(default_factory=list)
    ties: str = "efron"
    ci_method: str = "wald"
    firth: bool = False
    firth_reason: str | None = None
    iterations: int | None = None
    log_likelihood_null: float | None = None
    wald_chisq: float | None = None
    wald_df: int | None = None
    wald_p: float | None = None
    score_chisq: float | None = None
    score_df: int | None = None
    score_p: float | None = None
    ph_global_chisq: float | None = None
    ph_global_df: int | None = None
    ph_global_p: float | None = None

    def estimate(self, variable: str) -> CoxEstimate:
        return next(e for e in self.estimates if e.variable == variable)


@dataclass
class CoxTable(JsonResult):
    """Univariate models, one per variable."""

    models: list[CoxModel]

    def to_frame(self) -> pd.DataFrame:
        columns = ["variable", "coding", "cutoff_source", "coef", "se", "hr", "ci_low",
                   "ci_high", "p", "ph_p", "n", "events", "warnings"]  # fmt: skip
        records = [
            {
                **{name: getattr(est, name) for name in columns[:10]},
                "n": model.n,
                "events": model.events,
                "warnings": "; ".join([*model.warnings, *est.warnings]),
            }
            for model in self.models
            for est in model.estimates
        ]
        return pd.DataFrame.from_records(records, columns=columns)

    def to_dict(self) -> dict:
        return {"models": json_safe(self.models)}


def _check_choice(name: str, value: str, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def _chi2_test(statistic: float, df: int) -> tuple[float | None, int, float | None]:
    statistic = max(float(statistic), 0.0) if math.isfinite(statistic) else math.nan
    return as_float(statistic), df, as_float(stats.chi2.sf(statistic, df))


def _separated(design: pd.DataFrame, name: str, events: int) -> str | None:
    """Why ``name`` separates the events (all of them on one side of a 0/1 variable)."""
    column = design[name]
    if not set(column.unique()) <= {0.0, 1.0} or not events:
        return None
    exposed_events = int(design.loc[column == 1.0, "_event"].sum())
    if exposed_events in (0, events):
        side = "0" if exposed_events == 0 else "1"
        return f"every event is in the group coded {side}"
    return None


def _fit_model(
    design: pd.DataFrame,
    terms: list[CoxTerm],
    codings: dict[str, tuple[float | None, str]],
    n_dropped: int,
    *,
    confidence: float,
    min_events_per_variable: float,
    ties: str,
    ci: str,
    firth: str,
) -> CoxModel:
    names = [t.name for t in terms]
    n = int(len(design))
    events = int(design["_event"].sum())
    estimates = {
        t.name: CoxEstimate(
            t.name, codings[t.name][1], codings[t.name][0], cutoff_source=t.cutoff_source
        )
        for t in terms
    }
    notes: list[str] = []
    model = CoxModel(
        list(names), n, n_dropped, events, None, list(estimates.values()), confidence,
        warnings=notes, ties=ties, ci_method=ci,
    )  # fmt: skip

    if n == 0:
        notes.append("no complete rows (time, event and every variable present)")
        return model

    fit_names, separation = [], {}
    for name in names:
        column = design[name]
        est = estimates[name]
        if set(column.unique()) <= {0.0, 1.0}:
            exposed = column == 1.0
            est.n_exposed = int(exposed.sum())
            est.events_exposed = int(design.loc[exposed, "_event"].sum())
        if column.nunique() < 2:
            message = f"'{name}' is constant in the {n} rows used; left out of the model"
            est.warnings.append(message)
            notes.append(message)
            continue
        reason = _separated(design, name, events)
        if reason:
            separation[name] = reason
        fit_names.append(name)

    model.events_per_variable = events / len(fit_names) if fit_names else None
    if events == 0:
        notes.append("no events: a Cox model cannot be fitted")
        return model
    if not fit_names:
        notes.append("no variable left to fit")
        return model
    if n < len(fit_names) + 2:
        notes.append(f"too few rows ({n}) for {len(fit_names)} variable(s)")
        return model
    if model.events_per_variable < min_events_per_variable:
        notes.append(
            f"under-powered: {model.events_per_variable:.1f} events per variable "
            f"(fewer than {min_events_per_variable:g}); estimates are unstable"
        )

    x = design[fit_names].to_numpy(float)
    time, event = design["_time"].to_numpy(float), design["_event"].to_numpy(int)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _estimate(model, estimates, fit_names, separation, x, time, event,
                  ties=ties, ci=ci, firth=firth)  # fmt: skip
    return model


def _diverging(fit, data: CoxData, names: list[str]) -> dict[str, str]:
    """Variables whose estimate runs off to infinity (monotone likelihood): a standardised
    |coef| or se above 10 (an HR per SD beyond e^10). A fit that did not converge with no
    such variable flags them all."""
    scale = data.x.std(axis=0)
    scale[scale == 0] = 1.0
    try:
        se = np.sqrt(np.diag(np.linalg.inv(fit.evaluation.information)))
    except np.linalg.LinAlgError:
        se = np.full(len(names), np.inf)
    found = {}
    for j, name in enumerate(names):
        coef = fit.beta[j]
        if (
            not (math.isfinite(coef) and math.isfinite(se[j]))
            or abs(coef) * scale[j] > _MAX_STANDARDISED
            or se[j] * scale[j] > _MAX_STANDARDISED
        ):
            found[name] = (
                f"the estimate runs off (coef {coef:.3g}, se {se[j]:.3g}; "
                f"{coef * scale[j]:.3g} per SD): the likelihood is monotone (separation) "
                "or the variables are collinear"
            )
    if not fit.converged and not found:
        found = {name: f"the fit did not converge in {fit.iterations} iterations" for name in names}
    return found


def _estimate(model, estimates, names, separation, x, time, event, *, ties, ci, firth):
    """Fit, choose ordinary or Firth, and fill the estimates and the model's tests."""
    notes = model.warnings
    data = CoxData(time, event, x, ties=ties)
    fit = newton_raphson(data, np.zeros(len(names)))
    diverging = {**_diverging(fit, data, names), **separation}
    use_firth = firth == "always" or (firth == "auto" and bool(diverging))
    if use_firth:
        model.firth = True
        model.firth_reason = (
            "asked for (firth: always)"
            if firth == "always"
            else "monotone likelihood (separation): "
            + "; ".join(f"'{name}': {why}" for name, why in diverging.items())
        )
        notes.append(f"Firth-penalised estimates (Heinze & Schemper): {model.firth_reason}")
        data = CoxData(time, event, x, ties=ties, firth=True)
        fit = newton_raphson(data, np.zeros(len(names)))
        if not fit.converged:
            notes.append("the Firth-penalised fit did not converge; no estimates")
            return
        model.ci_method = "profile"
        suspicious = []
    else:
        suspicious = list(diverging)
        for name in suspicious:
            est = estimates[name]
            if name in separation:
                est.warnings.append(
                    f"complete separation: {separation[name]}; the hazard ratio is infinite "
                    "and not estimable (firth: auto would fit Firth's penalised model)"
                )
            else:
                est.warnings.append(f"estimate not meaningful: {diverging[name]}")
        if suspicious:
            model.converged = False
            notes.append(
                "not estimable: " + ", ".join(suspicious) + "; the other estimates of this "
                "model are conditional on them and should be read with care"
                if len(suspicious) < len(names)
                else "no variable of this model is estimable"
            )
            if len(suspicious) == len(names):
                return
    model.converged = fit.converged and not suspicious
    model.iterations = fit.iterations
    if not fit.converged and not suspicious:
        notes.append(f"the fit did not converge in {fit.iterations} iterations")

    # with a diverging variable the others are conditional on it (held where it ran off)
    kept = np.array([name not in suspicious for name in names])
    covariance = np.full((len(names), len(names)), np.nan)
    with contextlib.suppress(np.linalg.LinAlgError):  # then no standard errors, said below
        covariance[np.ix_(kept, kept)] = np.linalg.inv(
            fit.evaluation.information[np.ix_(kept, kept)]
        )
    z_quantile = stats.norm.ppf(0.5 + model.confidence / 2)
    for j, name in enumerate(names):
        if name in suspicious:
            continue
        est = estimates[name]
        coef, variance = float(fit.beta[j]), float(covariance[j, j])
        if not (math.isfinite(variance) and variance > 0):
            est.warnings.append("no standard error: the information matrix is singular")
            continue
        se = math.sqrt(variance)
        est.coef, est.se, est.z = as_float(coef), as_float(se), as_float(coef / se)
        est.hr = as_float(math.exp(coef))
        if model.ci_method == "profile":
            low, high = profile_interval(data, fit, j, confidence=model.confidence)
            est.ci_low = as_float(math.exp(low)) if low is not None else None
            est.ci_high = as_float(math.exp(high)) if high is not None else None
            est.ci_method = "profile penalised likelihood" if model.firth else "profile likelihood"
            if low is None or high is None:
                est.warnings.append("the profile likelihood does not fall far enough on one side")
        else:
            est.ci_low = as_float(math.exp(coef - z_quantile * se))
            est.ci_high = as_float(math.exp(coef + z_quantile * se))
            est.ci_method = "Wald"
        if model.firth:
            est.p = as_float(profile_p(data, fit, j))
            est.p_method = "penalised likelihood ratio"
        else:
            est.p = as_float(2 * stats.norm.sf(abs(coef / se)))
            est.p_method = "Wald"
    if suspicious:
        return

    k = len(names)
    null = fit.initial  # the fit starts from β = 0
    model.log_likelihood = as_float(fit.evaluation.loglik)
    model.log_likelihood_null = as_float(null.loglik)
    model.lr_chisq, model.lr_df, model.lr_p = _chi2_test(
        2 * (fit.evaluation.loglik - null.loglik), k
    )
    beta = fit.beta
    model.wald_chisq, model.wald_df, model.wald_p = _chi2_test(
        float(beta @ fit.evaluation.information @ beta), k
    )
    try:
        score = float(null.score @ np.linalg.solve(null.information, null.score))
    except np.linalg.LinAlgError:
        score = math.nan
    model.score_chisq, model.score_df, model.score_p = _chi2_test(score, k)
    model.concordance = concordance(data, beta)

    try:
        chisq, ph_p, global_chisq, global_df = zph_test(data, beta, fit.evaluation.sums)
    except np.linalg.LinAlgError as error:
        notes.append(f"proportional-hazards test failed: {error}")
        return
    for j, name in enumerate(names):
        est = estimates[name]
        est.ph_chisq, est.ph_p = as_float(chisq[j]), as_float(ph_p[j])
        if est.ph_p is not None and est.ph_p < 0.05:
            est.warnings.append(f"proportional hazards doubtful (cox.zph P = {est.ph_p:.3f})")
    model.ph_global_chisq, model.ph_global_df, model.ph_global_p = _chi2_test(
        global_chisq, global_df
    )


def cox_multivariate(
    df: pd.DataFrame,
    time: str,
    event: str,
    terms: Sequence[CoxTerm | str],
    *,
    confidence: float = 0.95,
    min_events_per_variable: float = MIN_EVENTS_PER_VARIABLE,
    ties: str = "efron",
    ci: str = "wald",
    firth: str = "auto",
) -> CoxModel:
    """One Cox model with all ``terms`` on the rows complete for all of them."""
    _check_choice("ties", ties, TIES)
    _check_choice("ci", ci, CI_METHODS)
    _check_choice("firth", firth, FIRTH)
    terms = [_as_term(t) for t in terms]
    design, codings = encode_terms(df, time, event, terms)
    return _fit_model(
        design,
        terms,
        codings,
        int(len(df) - len(design)),
        confidence=confidence,
        min_events_per_variable=min_events_per_variable,
        ties=ties,
        ci=ci,
        firth=firth,
    )


def cox_univariate(
    df: pd.DataFrame,
    time: str,
    event: str,
    terms: Iterable[CoxTerm | str],
    *,
    confidence: float = 0.95,
    min_events_per_variable: float = MIN_EVENTS_PER_VARIABLE,
    ties: str = "efron",
    ci: str = "wald",
    firth: str = "auto",
) -> CoxTable:
    """One single-variable Cox model per term, each on its own complete cases."""
    models = [
        cox_multivariate(
            df,
            time,
            event,
            [term],
            confidence=confidence,
            min_events_per_variable=min_events_per_variable,
            ties=ties,
            ci=ci,
            firth=firth,
        )
        for term in terms
    ]
    return CoxTable(models)
