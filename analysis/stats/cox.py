"""Cox proportional-hazards regression (lifelines CoxPHFitter, Efron ties) for Table IV.

Variables are usually dichotomised, as in the paper ("AFP > 20 vs <= 20", "Child-Pugh B vs
A", "miR-122 ratio <= median vs > median"); :class:`CoxTerm` says how. Each fitted model
reports HR = exp(coef), a Wald CI exp(coef ± z·se), the Wald P, the number of rows and
events, events per variable, and the Schoenfeld-residual proportional-hazards test per
variable (lifelines ``proportional_hazard_test``, rank time transform).

Note the paper's HR intervals come from JMP, which prints profile-likelihood intervals
(they are visibly asymmetric on the log scale); Wald intervals from the same data are close
but not identical. The model likelihood-ratio test (``lr_p``) is reported beside the Wald P;
for a univariate model it is the likelihood-ratio P of that variable.

Small cohorts make Cox models fragile. Instead of numbers that mean nothing, the result
carries ``warnings`` and estimates set to None when:

* there are too few rows or no events to fit at all;
* a variable is constant in the rows used (it is left out of the fit);
* a binary variable has all events on one side (complete separation: the MLE is infinite);
* the fit raises, does not converge, or gives a standardised |coef| or se above 10
  (an HR per SD beyond e^10: separation or collinearity);
* fewer than 10 events per variable (estimates kept, flagged as under-powered).

Nothing here raises on such data.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test

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


def encode_terms(
    df: pd.DataFrame, time: str, event: str, terms: Sequence[CoxTerm | str]
) -> tuple[pd.DataFrame, dict[str, tuple[float | None, str]]]:
    """Complete-case design frame (``_time``, ``_event`` and one column per term name) and,
    per term name, the (cut-off, coding) used. Medians are taken over the complete cases."""
    terms = [_as_term(t) for t in terms]
    names = [t.name for t in terms]
    if len(set(names)) != len(names):
        raise ValueError("Cox terms need distinct names (use label=)")
    base = pd.DataFrame(
        {
            "_time": pd.to_numeric(df[time], errors="coerce"),
            "_event": pd.to_numeric(df[event].astype("object"), errors="coerce"),
        },
        index=df.index,
    )
    raw = pd.DataFrame({t.name: df[t.column] for t in terms}, index=df.index)
    usable = base.notna().all(axis=1) & raw.notna().all(axis=1) & (base["_time"] >= 0)
    raw = raw.loc[usable]
    design = base.loc[usable].copy()
    design["_event"] = design["_event"].astype(bool).astype(int)
    codings = {}
    for term in terms:
        coded, cutoff, coding = _encode(term, raw[term.name])
        design[term.name] = coded
        codings[term.name] = (cutoff, coding)
    return design, codings


@dataclass
class CoxEstimate(JsonResult):
    """One variable of a fitted model. ``n_exposed``/``events_exposed`` count the rows coded
    1 (binary variables only)."""

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


@dataclass
class CoxModel(JsonResult):
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

    def estimate(self, variable: str) -> CoxEstimate:
        return next(e for e in self.estimates if e.variable == variable)


@dataclass
class CoxTable(JsonResult):
    """Univariate models, one per variable."""

    models: list[CoxModel]

    def to_frame(self) -> pd.DataFrame:
        records = []
        for model in self.models:
            for est in model.estimates:
                records.append(
                    {
                        "variable": est.variable,
                        "coding": est.coding,
                        "hr": est.hr,
                        "ci_low": est.ci_low,
                        "ci_high": est.ci_high,
                        "p": est.p,
                        "ph_p": est.ph_p,
                        "n": model.n,
                        "events": model.events,
                        "warnings": "; ".join([*model.warnings, *est.warnings]),
                    }
                )
        return pd.DataFrame.from_records(
            records,
            columns=[
                "variable",
                "coding",
                "hr",
                "ci_low",
                "ci_high",
                "p",
                "ph_p",
                "n",
                "events",
                "warnings",
            ],
        )

    def to_dict(self) -> dict:
        return {"models": json_safe(self.models)}


def _first_line(message) -> str:
    """First line of a lifelines message, without its inline code tips."""
    text = str(message).strip()
    if not text:
        return repr(message)
    return text.splitlines()[0].split(" For example")[0].strip()


def _fit_model(
    design: pd.DataFrame,
    codings: dict[str, tuple[float | None, str]],
    names: list[str],
    n_dropped: int,
    confidence: float,
    min_events_per_variable: float,
) -> CoxModel:
    n = int(len(design))
    events = int(design["_event"].sum())
    estimates = {name: CoxEstimate(name, codings[name][1], codings[name][0]) for name in names}
    notes: list[str] = []
    model = CoxModel(
        list(names),
        n,
        n_dropped,
        events,
        None,
        list(estimates.values()),
        confidence,
        warnings=notes,
    )

    if n == 0:
        notes.append("no complete rows (time, event and every variable present)")
        return model

    fit_names = []
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
        if est.n_exposed is not None and events and est.events_exposed in (0, events):
            side = "0" if est.events_exposed == 0 else "1"
            est.warnings.append(
                f"complete separation: every event is in the group coded {side}; "
                "the hazard ratio is infinite and not estimable"
            )
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

    frame = design[["_time", "_event", *fit_names]]
    cph = CoxPHFitter(alpha=1.0 - confidence)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph.fit(frame, duration_col="_time", event_col="_event")
        except Exception as error:  # lifelines raises ConvergenceError, LinAlgError, ...
            notes.append(f"the model could not be fitted: {_first_line(error)}")
            return model
    lifelines_notes = sorted(
        {
            _first_line(w.message)
            for w in caught
            if "Convergence" in w.category.__name__ or "lifelines" in (w.filename or "")
        }
    )
    notes.extend(lifelines_notes)
    did_not_converge = any("failed to converge" in m or "still high" in m for m in lifelines_notes)
    model.converged = not did_not_converge

    summary = cph.summary
    lower_column = next(c for c in summary.columns if c.startswith("exp(coef) lower"))
    upper_column = next(c for c in summary.columns if c.startswith("exp(coef) upper"))
    suspicious = []
    for name in fit_names:
        est = estimates[name]
        row = summary.loc[name]
        coef, se = float(row["coef"]), float(row["se(coef)"])
        scale = float(frame[name].std(ddof=0)) or 1.0
        separated = any("complete separation" in w for w in est.warnings)
        if (
            separated
            or did_not_converge
            or not (math.isfinite(coef) and math.isfinite(se))
            or abs(coef) * scale > _MAX_STANDARDISED
            or se * scale > _MAX_STANDARDISED
        ):
            suspicious.append(name)
            if not separated:
                est.warnings.append(
                    f"estimate not meaningful (coef {coef:.3g}, se {se:.3g}): the fit did not "
                    "converge or the variable separates the events"
                )
            continue
        est.coef, est.se = coef, se
        est.hr = as_float(math.exp(coef))
        est.ci_low = as_float(row[lower_column])
        est.ci_high = as_float(row[upper_column])
        est.p = as_float(row["p"])
    if suspicious:
        model.converged = False
        notes.append(
            "not estimable: " + ", ".join(suspicious) + "; the other estimates of this model "
            "are conditional on them and should be read with care"
            if len(suspicious) < len(fit_names)
            else "no variable of this model is estimable"
        )
        if len(suspicious) == len(fit_names):
            return model

    model.log_likelihood = as_float(cph.log_likelihood_)
    model.concordance = as_float(cph.concordance_index_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lr = cph.log_likelihood_ratio_test()
            model.lr_chisq, model.lr_df, model.lr_p = (
                as_float(lr.test_statistic),
                len(fit_names),
                as_float(lr.p_value),
            )
        except Exception as error:  # pragma: no cover - defensive
            notes.append(f"likelihood-ratio test failed: {_first_line(error)}")
        try:
            ph = proportional_hazard_test(cph, frame, time_transform="rank").summary
            for name in fit_names:
                if name in suspicious or name not in ph.index:
                    continue
                est = estimates[name]
                est.ph_p = as_float(ph.loc[name, "p"])
                if est.ph_p is not None and est.ph_p < 0.05:
                    est.warnings.append(
                        f"proportional hazards doubtful (Schoenfeld test P = {est.ph_p:.3f})"
                    )
        except Exception as error:
            notes.append(f"proportional-hazards test failed: {_first_line(error)}")
    return model


def cox_multivariate(
    df: pd.DataFrame,
    time: str,
    event: str,
    terms: Sequence[CoxTerm | str],
    *,
    confidence: float = 0.95,
    min_events_per_variable: float = MIN_EVENTS_PER_VARIABLE,
) -> CoxModel:
    """One Cox model with all ``terms`` on the rows complete for all of them."""
    terms = [_as_term(t) for t in terms]
    design, codings = encode_terms(df, time, event, terms)
    return _fit_model(
        design,
        codings,
        [t.name for t in terms],
        int(len(df) - len(design)),
        confidence,
        min_events_per_variable,
    )


def cox_univariate(
    df: pd.DataFrame,
    time: str,
    event: str,
    terms: Iterable[CoxTerm | str],
    *,
    confidence: float = 0.95,
    min_events_per_variable: float = MIN_EVENTS_PER_VARIABLE,
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
        )
        for term in terms
    ]
    return CoxTable(models)
