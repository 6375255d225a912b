"""Run an analysis plan over a cohort table (pure: DataFrame and dict in, results out).

Each analysis gives its full result (for the report) and flat rows (analysis,
variable, statistic, n, estimate, CI, P, warnings) for `analyse --json`, the
run-to-run diff and scripts. A problem in one analysis becomes that analysis's
error and warning; the others still run. An analysis with nothing to compute on is an
error too (AnalysisError), never an empty success.

Rows that belong to a family of tests (each correlations analysis, each Cox analysis's
univariate models, or analyses a plan pools with ``"family": "name"``) carry a
Benjamini-Hochberg q-value beside their raw P (analysis.stats.multiplicity).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.dictionary import DataDictionary
from analysis.gate import (
    DEFAULT_POLICY,
    POLICY_LABELS,
    apply_gate,
    patient_flow,
)
from analysis.options import AnalysisOptions, resolve_options
from analysis.plans import SURVIVAL_KINDS, columns_used, subgroup_mask, validate_plan
from analysis.stats._json import as_float, json_safe
from analysis.stats.comparisons import one_way_anova, paired_ttest
from analysis.stats.correlation import correlate_with_expression
from analysis.stats.cox import CoxTable, CoxTerm, cox_multivariate
from analysis.stats.descriptive import describe_baseline
from analysis.stats.multiplicity import benjamini_hochberg
from analysis.stats.survival import kaplan_meier, split_at_cutoff, usable_rows

SIGNIFICANCE = 0.05


class AnalysisError(ValueError):
    """An analysis that ran but had nothing it could compute on (no complete pairs, no
    groups, no rows); the message names the analysis and its variables."""


@dataclass(frozen=True)
class RunContext:
    """What every analysis of a run shares: the plan, its resolved options, the data
    dictionary (labels, units, codings) and the survival columns."""

    plan: Mapping
    options: AnalysisOptions = AnalysisOptions()
    dictionary: DataDictionary = field(default_factory=DataDictionary)
    # Cox models fitted in this run, by what they read (_cox_model): a sensitivity
    # analysis refits Table IV, and the models of its terms that no gate touched (sex,
    # age, the laboratory values) read exactly the data the primary analysis read.
    fitted: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def time(self) -> str:
        return self.plan.get("time", "dss_months")

    @property
    def event(self) -> str:
        return self.plan.get("event", "dss_event")

    def label(self, column: str) -> str:
        return self.dictionary.label(column)


@dataclass
class PlanOutcome:
    results: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    figure_notes: dict[str, dict] = field(default_factory=dict)  # name -> {alt, error}
    qc: dict = field(default_factory=dict)  # the gate: policy, flow, exclusions, sensitivity
    options: dict = field(default_factory=dict)  # analysis.options, resolved
    dictionary: dict = field(default_factory=dict)  # analysis.dictionary of the cohort read
    errors: dict[str, str] = field(default_factory=dict)  # analysis name -> its error


def analysis_errors(results: list[dict]) -> dict[str, str]:
    """Each failed analysis's error by name: what a run that succeeded overall still
    has to say (the run's ``results`` keep every entry's ``error``)."""
    return {entry["name"]: entry["error"] for entry in results or [] if entry.get("error")}


def row(
    analysis,
    variable,
    statistic,
    *,
    n=None,
    estimate=None,
    ci_low=None,
    ci_high=None,
    p=None,
    warnings=(),
    details=None,
    q=None,
):
    """One flat result. ``details`` holds what only some statistics have (coef and se of
    a Cox term, the cut-off and whether it was pre-specified or data-derived, ...).
    ``q`` is the Benjamini-Hochberg q-value of ``p`` within its family (None outside
    one); the engine fills it in once every analysis of the run has its P values."""
    return {
        "analysis": analysis,
        "variable": variable,
        "statistic": statistic,
        "n": None if n is None else int(n),
        "estimate": as_float(estimate),
        "ci_low": as_float(ci_low),
        "ci_high": as_float(ci_high),
        "p": as_float(p),
        "q": as_float(q),
        "warnings": list(warnings),
        "details": dict(details or {}),
    }


def _baseline(spec, frame, context: RunContext):
    variables = list(spec["variables"])
    if not len(frame) or not variables:
        raise AnalysisError(
            f"{spec['name']}: no rows to describe ({len(frame)} rows, "
            f"variables {', '.join(map(repr, variables)) or 'none'})"
        )
    if not frame[variables].notna().to_numpy().any():
        raise AnalysisError(
            f"{spec['name']}: every value of {', '.join(map(repr, variables))} is missing "
            f"in its {len(frame)} rows"
        )
    table = describe_baseline(frame, spec["variables"])
    rows = []
    for item in table.rows:
        if item.kind == "continuous":
            rows.append(
                row(
                    spec["name"],
                    item.variable,
                    "median",
                    n=item.n,
                    estimate=item.median,
                    ci_low=item.minimum,
                    ci_high=item.maximum,
                )
            )
        else:
            rows += [
                row(
                    spec["name"],
                    f"{item.variable} = {level.level}",
                    "percent",
                    n=level.n,
                    estimate=level.percent,
                )
                for level in item.levels
            ]
    return table.to_dict(), rows


def _paired(spec, frame, context: RunContext):
    test = paired_ttest(frame, spec["before"], spec["after"])
    if test.n < 2:
        raise AnalysisError(
            f"{spec['name']}: {test.n} complete pair(s) of {spec['before']!r} and "
            f"{spec['after']!r} among {len(frame)} rows; a paired t-test needs at least 2"
        )
    variable = f"{spec['after']} - {spec['before']}"
    return test.to_dict(), [
        row(
            spec["name"],
            variable,
            "mean difference",
            n=test.n,
            estimate=test.mean_difference,
            ci_low=test.ci_low,
            ci_high=test.ci_high,
            p=test.p,
            warnings=test.warnings,
        )
    ]


def _correlations(spec, frame, context: RunContext):
    table = correlate_with_expression(frame, spec["expression"], spec["variables"])
    if not any(item.n >= 3 for item in table.rows):
        counts = ", ".join(f"{item.variable!r} n={item.n}" for item in table.rows) or "none"
        raise AnalysisError(
            f"{spec['name']}: no variable has the 3 complete pairs with "
            f"{spec['expression']!r} a correlation needs ({counts})"
        )
    return table.to_dict(), [
        row(
            spec["name"],
            item.variable,
            "r",
            n=item.n,
            estimate=item.r,
            ci_low=item.ci_low,
            ci_high=item.ci_high,
            p=item.p,
            warnings=item.warnings,
        )
        for item in table.rows
    ]


def _anova(spec, frame, context: RunContext):
    test = one_way_anova(frame, spec["value"], spec["group"])
    if test.n == 0 or len(test.groups) < 2:
        raise AnalysisError(
            f"{spec['name']}: {spec['value']!r} by {spec['group']!r} has {test.n} usable "
            f"row(s) in {len(test.groups)} group(s); ANOVA needs at least 2 groups with data"
        )
    return test.to_dict(), [
        row(
            spec["name"],
            f"{spec['value']} by {spec['group']}",
            "F",
            n=test.n,
            estimate=test.f,
            p=test.p,
            warnings=test.warnings,
        )
    ]


def _cutoff_text(value: float) -> str:
    """A cut-off as a label prints it: three significant digits, more for large numbers
    (0.793, 60, 12346)."""
    magnitude = int(math.floor(math.log10(abs(value)))) + 1 if value else 1
    return f"{value:.{max(3, magnitude)}g}"


def _level_text(level) -> str:
    if isinstance(level, bool | np.bool_):
        return "yes" if level else "no"
    if isinstance(level, float | np.floating) and float(level).is_integer():
        return str(int(level))
    return str(level)


def _split_groups(split: Mapping, frame: pd.DataFrame, usable: pd.Series, context: RunContext):
    """(group column, split description, label per group) for a KM split.

    ``at`` is "median" (data-derived: the median over the rows the analysis uses, the
    same complete cases a Cox term at the median uses), a number (pre-specified) or
    "levels" (a curve per level: the dictionary's levels in their order, else sorted)."""
    column = split["column"]
    at = split.get("at", "median")
    name = context.label(column)
    if at == "levels":
        present = pd.unique(frame.loc[usable, column])
        declared = context.dictionary.columns.get(column)
        levels = [v for v in (declared.levels if declared else ()) if v in set(present)]
        levels += sorted((v for v in present if v not in levels), key=lambda v: (str(type(v)), v))
        groups = pd.Series(pd.Categorical(frame[column], categories=levels), index=frame.index)
        labels = {level: f"{name}: {_level_text(level)}" for level in levels}
        description = {
            "column": column,
            "at": "levels",
            "label": name,
            "cutoff": None,
            "cutoff_source": None,
            "levels": [_level_text(v) for v in levels],
        }
        return groups, description, labels
    if isinstance(at, int | float) and not isinstance(at, bool):
        cutoff, source = float(at), "pre-specified"
    else:
        cutoff = as_float(pd.to_numeric(frame.loc[usable, column], errors="coerce").median())
        source = "data-derived"
        if cutoff is None:
            raise ValueError(f"split {column!r}: no numeric value to take the median of")
    groups = split_at_cutoff(frame[column], cutoff).groups
    shown = _cutoff_text(cutoff)
    labels = {"low": f"{name} ≤ {shown}", "high": f"{name} > {shown}"}
    description = {
        "column": column,
        "at": at,
        "label": name,
        "cutoff": cutoff,
        "cutoff_source": source,
        "levels": None,
    }
    return groups, description, labels


def _kaplan_meier(spec, frame, context: RunContext):
    """KM curves with the plan's options (band, median rule, confidence), optionally split;
    an analysis with no row that has time and event (and the split value) is an error."""
    time, event, options = context.time, context.event, context.options
    split = spec.get("split")
    column = split["column"] if split else None
    usable = usable_rows(frame, time, event, [column] if column else [])
    if not usable.any():
        needed = ", ".join(repr(c) for c in (time, event, column) if c)
        raise AnalysisError(
            f"{spec['name']}: no usable rows: none of the {len(frame)} row(s) has {needed} all present "
            "(a time >= 0 and a numeric event)"
        )
    frame = frame.copy()
    group, description, labels = None, None, {}
    if split:
        group = "_group"
        frame[group], description, labels = _split_groups(split, frame, usable, context)
    result = kaplan_meier(
        frame,
        time,
        event,
        group=group,
        times=spec.get("times", ()),
        confidence=options.confidence,
        ci_method=options.km_ci,
        median_definition=options.median,
    )
    for g in result.groups:
        g.label = labels.get(g.group, str(g.group)) if split else "all patients"
    payload = result.to_dict()
    payload["split"] = description
    cut = {}
    if split:
        cut = {"cutoff": description["cutoff"], "cutoff_source": description["cutoff_source"]}
    rows = [
        row(
            spec["name"],
            f"{column} {_level_text(g.group)}" if split else "all patients",
            "median survival",
            n=g.n,
            estimate=g.median.median,
            ci_low=g.median.ci_low,
            ci_high=g.median.ci_high,
            warnings=result.warnings,
            details={
                "label": g.label,
                "events": g.events,
                **cut,
                "median_not_reached": g.median.median_not_reached,
                "ci_low_not_reached": g.median.ci_low_not_reached,
                "ci_high_not_reached": g.median.ci_high_not_reached,
                "text": g.median.describe(),
                "ci_method": options.km_ci,
                "median_definition": options.median,
            },
        )
        for g in result.groups
    ]
    if result.logrank is not None and split:
        rows.append(
            row(
                spec["name"],
                column,
                "log-rank chi-square",
                n=result.n,
                estimate=result.logrank.chisq,
                p=result.logrank.p,
                warnings=result.logrank.warnings,
                details={
                    **cut,
                    "df": result.logrank.df,
                    "groups": [g.label for g in result.groups],
                },
            )
        )
    return payload, rows


def cox_terms(spec) -> list[CoxTerm]:
    terms = []
    for term in spec["terms"]:
        cutoff = term.get("cutoff")
        level = term.get("level")
        terms.append(
            CoxTerm(
                column=term["column"],
                cutoff=None if cutoff in (None, "median") else float(cutoff),
                at_median=cutoff == "median",
                level=tuple(level) if isinstance(level, list) else level,
                low_is_one=bool(term.get("low_is_one", False)),
                label=term.get("label"),
            )
        )
    return terms


def _model_tests(model) -> dict:
    """The model-level facts a reader checks beside each hazard ratio."""
    return {
        "ties": model.ties,
        "firth": model.firth,
        "firth_reason": model.firth_reason,
        "events": model.events,
        "events_per_variable": model.events_per_variable,
        "concordance": model.concordance,
        **{
            f"{test}_{part}": getattr(model, f"{test}_{part}")
            for test in ("lr", "wald", "score", "ph_global")
            for part in ("chisq", "df", "p")
        },
    }


def _hazard_rows(analysis: str, model) -> list[dict]:
    """One "HR" row per term, with coef, se, z, the interval's method, the cut-off and
    whether it was pre-specified or data-derived, and the model's tests in ``details``."""
    tests = _model_tests(model)
    return [
        row(
            analysis,
            estimate.variable,
            "HR",
            n=model.n,
            estimate=estimate.hr,
            ci_low=estimate.ci_low,
            ci_high=estimate.ci_high,
            p=estimate.p,
            warnings=[*model.warnings, *estimate.warnings],
            details={
                "coef": estimate.coef,
                "se": estimate.se,
                "z": estimate.z,
                "ci_method": estimate.ci_method,
                "p_method": estimate.p_method,
                "coding": estimate.coding,
                "cutoff": estimate.cutoff,
                "cutoff_source": estimate.cutoff_source,
                "ph_chisq": estimate.ph_chisq,
                "ph_p": estimate.ph_p,
                **tests,
            },
        )
        for estimate in model.estimates
    ]


def _cox(spec, frame, context: RunContext):
    """Table IV: one model per term, then the chosen terms together, fitted with the
    run's options (ties, HR interval, Firth, confidence level)."""
    time, event = context.time, context.event
    terms = cox_terms(spec)
    options = context.options
    fit_options = {
        "ties": options.ties,
        "ci": options.hr_ci,
        "firth": options.firth,
        "confidence": options.confidence,
    }
    univariate = CoxTable([_cox_model(frame, context, [term], fit_options) for term in terms])
    if not any(model.n for model in univariate.models):
        columns = ", ".join(repr(t.column) for t in terms)
        raise AnalysisError(
            f"{spec['name']}: no usable rows: none of the {len(frame)} row(s) has {time!r}, "
            f"{event!r} and any of {columns} present (with a time >= 0)"
        )
    rows = [
        r for model in univariate.models for r in _hazard_rows(f"{spec['name']} univariate", model)
    ]
    payload = {
        "univariate": univariate.to_dict()["models"],
        "multivariate": None,
        "options": fit_options,
    }
    chosen = spec.get("multivariate") or []
    if chosen:
        by_name = {t.name: t for t in terms}
        model = _cox_model(frame, context, [by_name[name] for name in chosen], fit_options)
        payload["multivariate"] = model.to_dict()
        rows += _hazard_rows(f"{spec['name']} multivariate", model)
    return payload, rows


def _cox_model(frame: pd.DataFrame, context: RunContext, terms: list[CoxTerm], fit_options):
    """cox_multivariate of ``terms``, or the model this run already fitted on the same
    data: the same terms and options, and the same values (index included) of the
    columns a model reads (time, event, the terms' columns), so the same numbers."""
    time, event = context.time, context.event
    columns = list(dict.fromkeys([time, event, *(term.column for term in terms)]))
    try:
        read = frame[columns]
        values = pd.util.hash_pandas_object(read, index=True).to_numpy()
        dtypes = tuple(str(dtype) for dtype in read.dtypes)
        key = (tuple(terms), tuple(sorted(fit_options.items())), tuple(columns), dtypes,
               hashlib.blake2b(values.tobytes(), digest_size=16).hexdigest())  # fmt: skip
        hash(key)
    except (KeyError, TypeError, ValueError):  # a column missing or unhashable: fit it
        return cox_multivariate(frame, time, event, terms, **fit_options)
    if key not in context.fitted:
        context.fitted[key] = cox_multivariate(frame, time, event, terms, **fit_options)
    return context.fitted[key]


RUNNERS: dict[str, Callable] = {
    "baseline_table": _baseline,
    "paired_t_test": _paired,
    "correlations": _correlations,
    "anova": _anova,
    "kaplan_meier": _kaplan_meier,
    "cox": _cox,
}


def _variables_of(spec, context: RunContext) -> list[str]:
    """The columns one analysis reads, for an error message to name."""
    used = set(columns_used({"analyses": [spec], "time": "", "event": ""})) - {"study_id", ""}
    if spec.get("kind") in SURVIVAL_KINDS:
        used |= {context.time, context.event}
    return sorted(used)


def _error_message(spec, error: Exception, context: RunContext) -> str:
    if isinstance(error, AnalysisError):
        return str(error)
    variables = ", ".join(_variables_of(spec, context)) or "no variables"
    return f"{spec['name']} ({spec['kind']} of {variables}): {type(error).__name__}: {error}"


def _run_one(
    table: pd.DataFrame, spec, context: RunContext, *, payload: bool = True
) -> tuple[dict, list[dict]]:
    """One analysis: its entry (result or error) and its rows. Whatever goes wrong, from
    the subgroup to the rows, stays this analysis's error. Without ``payload`` the entry
    keeps no result (a sensitivity analysis keeps only its rows and errors)."""
    entry = {
        "name": spec["name"],
        "kind": spec["kind"],
        "title": spec.get("title", ""),
        "subgroup": spec.get("subgroup") or {},
        "n_rows": None,
        "family": None,
        "error": None,
        "result": None,
    }
    try:
        frame = table.loc[subgroup_mask(table, spec.get("subgroup"))]
        entry["n_rows"] = int(len(frame))
        result, found = RUNNERS[spec["kind"]](spec, frame, context)
        rows = list(found)  # a lazy runner's rows fail here, inside this analysis
        entry["result"] = json_safe(result) if payload else None
        return entry, rows
    except Exception as error:  # noqa: BLE001 - one failed analysis must not sink the others
        entry["error"] = _error_message(spec, error, context)
        entry["result"] = None
        return entry, []


def family_of(spec) -> str | None:
    """The multiplicity family an analysis's tests belong to: the plan's ``family``, else
    the analysis itself for correlations and Cox (Table II, Table IV), else none."""
    if spec.get("family"):
        return str(spec["family"])
    return spec["name"] if spec.get("kind") in ("correlations", "cox") else None


def _family_members(spec, rows: list[dict]) -> list[dict]:
    """The rows of an analysis that count as tests of its family: a Cox analysis's
    univariate models (its multivariate model is one adjusted fit, not a family of
    tests), every other analysis's rows that have a P value."""
    if spec.get("kind") == "cox":
        return [r for r in rows if r["analysis"] == f"{spec['name']} univariate"]
    return [r for r in rows if r["p"] is not None]


def _add_q_values(done: list[tuple[dict, dict, list[dict]]]) -> None:
    """Benjamini-Hochberg q-values per family, into the rows. Runs after every analysis,
    because a family may pool several; a P value BH refuses leaves its family without
    q-values and with a warning on its rows, never an error."""
    families: dict[str, list[dict]] = {}
    for spec, entry, rows in done:
        family = family_of(spec)
        if family is None or entry["error"]:
            continue
        entry["family"] = family
        families.setdefault(family, []).extend(_family_members(spec, rows))
    for family, members in families.items():
        try:
            q_values = benjamini_hochberg([r["p"] for r in members])
        except ValueError as error:
            for member in members:
                member["warnings"].append(f"no q-values for family {family!r}: {error}")
            continue
        for member, q in zip(members, q_values, strict=True):
            member["q"] = q
            member.setdefault("details", {})["family"] = family


def _q_into_payloads(done: list[tuple[dict, dict, list[dict]]]) -> None:
    """A correlations payload's rows carry their q beside P, as its flat rows do (None
    when the plan turns multiplicity off). Cox payloads are their runner's own."""
    for spec, entry, rows in done:
        if spec.get("kind") == "correlations" and entry["result"]:
            payload_rows = entry["result"].get("rows") or []
            if len(payload_rows) == len(rows):
                for payload_row, found in zip(payload_rows, rows, strict=True):
                    payload_row["q"] = found.get("q")


def _run_analyses(
    table: pd.DataFrame, specs, context: RunContext, *, payloads: bool = True
) -> tuple[list[dict], list[dict]]:
    """Every analysis of ``specs`` on ``table``: their entries (with their results when
    ``payloads``) and their rows, with q-values per family."""
    done = [(spec, *_run_one(table, spec, context, payload=payloads)) for spec in specs]
    if context.options.multiplicity != "none":
        _add_q_values(done)
    _q_into_payloads(done)
    results = [_plain_entry(entry) for _, entry, _ in done]
    rows = [r for _, _, found in done for r in found]
    return results, rows


def _plain_entry(entry: dict) -> dict:
    """An entry as it is stored: its result was made JSON-safe by _run_one (and its
    correlations' q-values are floats), so only the plan's values around it are
    converted, not a Kaplan-Meier curve's thousands of values once more."""
    return {key: value if key == "result" else json_safe(value) for key, value in entry.items()}


def run_plan(
    table: pd.DataFrame,
    plan: Mapping,
    *,
    figures: bool = True,
    evidence: Mapping | None = None,
    dictionary: DataDictionary | None = None,
) -> PlanOutcome:
    """Validate, pass the table through the plan's QC gate (analysis.gate), then run
    every analysis on what the gate let through (PlanError if the plan is invalid).

    `evidence` is the QC behind the table's QC columns (per-plate NTCs, spike-in per
    batch, haemolysis per draw, excluded wells, withdrawn count), shown in the report;
    a cohort from a file has none. `dictionary` says what the columns mean (labels,
    units, the time unit); the options come from the plan (analysis.options)."""
    validate_plan(plan, table)
    options = resolve_options(plan)
    context = RunContext(plan, options, dictionary or DataDictionary())
    policy = plan.get("qc_policy", DEFAULT_POLICY)
    inclusion = list(plan.get("inclusion") or [])
    gated = apply_gate(table, policy=policy, inclusion=inclusion)
    outcome = PlanOutcome(
        options=options.to_dict(), dictionary=dictionary.to_dict() if dictionary else {}
    )
    outcome.results, outcome.rows = _run_analyses(gated.table, plan["analyses"], context)
    outcome.errors = analysis_errors(outcome.results)
    evidence = dict(evidence or {})
    outcome.qc = json_safe(
        {
            "available": gated.available,
            "policy": policy,
            "policy_label": POLICY_LABELS[policy],
            "inclusion": inclusion,
            "flow": patient_flow(
                table, gated, inclusion=inclusion, withdrawn=evidence.pop("withdrawn", None)
            ),
            "excluded_patients": gated.excluded_patients,
            "excluded_measurements": gated.excluded_measurements,
            "status_counts": _status_counts(table),
            **evidence,
            "sensitivity": [
                _sensitivity_or_error(table, context, other, policy=policy, inclusion=inclusion)
                for other in plan.get("sensitivity") or []
            ],
        }
    )
    if figures:
        from analysis.figures import draw_figures

        drawn = draw_figures(
            gated.table, plan, outcome.results, dictionary=context.dictionary, qc=outcome.qc
        )
        outcome.figures, outcome.figure_notes = drawn.figures, drawn.notes
    return outcome


def _status_counts(table: pd.DataFrame) -> dict[str, int]:
    counts = {"pass": 0, "warn": 0, "fail": 0}
    for column in table.columns:
        if column.endswith(("_pre_qc", "_post_qc")):
            for status, n in table[column].value_counts().items():
                counts[str(status)] = counts.get(str(status), 0) + int(n)
    return counts


def _sensitivity_or_error(
    table, context: RunContext, other: Mapping, *, policy: str, inclusion: list[str]
) -> dict:
    """A sensitivity analysis, or its error in the same shape: a failed sensitivity
    analysis never takes the primary results (or the other sensitivity analyses) down."""
    try:
        return {
            **_sensitivity(table, context, other, policy=policy, inclusion=inclusion),
            "error": None,
        }
    except Exception as error:  # noqa: BLE001 - reported beside the primary result
        name = other.get("name") or "unnamed"
        return {
            "name": name,
            "description": other.get("description", ""),
            "policy": other.get("qc_policy", policy),
            "policy_label": POLICY_LABELS.get(other.get("qc_policy", policy), ""),
            "inclusion": list(other.get("inclusion", inclusion)),
            "exclude_rules": list(other.get("exclude_rules") or []),
            "n_patients": None,
            "n_measurements_left_out": None,
            "analyses": sorted(other.get("analyses") or []),
            "errors": {},
            "rows": [],
            "error": f"sensitivity analysis {name!r}: {type(error).__name__}: {error}",
        }


def _sensitivity(
    table, context: RunContext, other: Mapping, *, policy: str, inclusion: list[str]
) -> dict:
    """The chosen analyses again under another gate, for the report to show beside the
    primary result. Exactly run_plan's path: the same gate, the same runners."""
    plan = context.plan
    chosen = set(other.get("analyses") or [a["name"] for a in plan["analyses"]])
    other_policy = other.get("qc_policy", policy)
    other_inclusion = list(other.get("inclusion", inclusion))
    rules = list(other.get("exclude_rules") or [])
    gated = apply_gate(table, policy=other_policy, inclusion=other_inclusion, exclude_rules=rules)
    specs = [a for a in plan["analyses"] if a["name"] in chosen]
    results, rows = _run_analyses(gated.table, specs, context, payloads=False)
    return {
        "name": other["name"],
        "description": other.get("description", ""),
        "policy": other_policy,
        "policy_label": POLICY_LABELS[other_policy],
        "inclusion": other_inclusion,
        "exclude_rules": rules,
        "n_patients": int(len(gated.table)),
        "n_measurements_left_out": len(gated.excluded_measurements),
        "analyses": sorted(chosen),
        "errors": {r["name"]: r["error"] for r in results if r["error"]},
        "rows": rows,
    }


def diff_rows(previous: list[dict], current: list[dict], *, tolerance: float = 1e-9) -> dict:
    """What moved between two runs: estimates that changed, P values that crossed 0.05,
    q-values that crossed 0.05 (where both runs have one), rows that appeared or went away.

    Rows of runs made before q-values have no ``q``; their q is neither compared nor
    said to have moved, so the first run with q-values does not flag every row."""
    key = lambda r: (r["analysis"], r["variable"], r["statistic"])  # noqa: E731
    before = {key(r): r for r in previous}
    after = {key(r): r for r in current}
    moved, crossed, crossed_q = [], [], []
    for name in after.keys() & before.keys():
        old, new = before[name], after[name]
        compared = ("estimate", "ci_low", "ci_high", "p", "n")
        if "q" in old and "q" in new:
            compared += ("q",)
        changed = any(_differs(old.get(f), new.get(f), tolerance) for f in compared)
        where = {"analysis": name[0], "variable": name[1], "statistic": name[2]}
        qs = {"old_q": old.get("q"), "new_q": new.get("q")}
        if changed:
            moved.append(
                {
                    **where,
                    **{f"old_{f}": old.get(f) for f in ("n", "estimate", "p")},
                    **{f"new_{f}": new.get(f) for f in ("n", "estimate", "p")},
                    **qs,
                }
            )
        if _side(old.get("p")) != _side(new.get("p")) and None not in (old.get("p"), new.get("p")):
            crossed.append(
                {
                    **where,
                    "old_p": old["p"],
                    "new_p": new["p"],
                    "now": "significant" if new["p"] < SIGNIFICANCE else "not significant",
                    **qs,
                }
            )
        if None not in qs.values() and _side(qs["old_q"]) != _side(qs["new_q"]):
            crossed_q.append(
                {
                    **where,
                    "old_p": old.get("p"),
                    "new_p": new.get("p"),
                    **qs,
                    "now": "significant" if qs["new_q"] < SIGNIFICANCE else "not significant",
                }
            )
    by_place = lambda r: (r["analysis"], r["variable"])  # noqa: E731
    return {
        "moved": sorted(moved, key=by_place),
        "crossed_0_05": sorted(crossed, key=by_place),
        "crossed_0_05_by_q": sorted(crossed_q, key=by_place),
        "added": sorted([list(k) for k in after.keys() - before.keys()]),
        "removed": sorted([list(k) for k in before.keys() - after.keys()]),
    }


def _differs(old, new, tolerance) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return abs(float(old) - float(new)) > tolerance


def _side(p):
    return None if p is None else p < SIGNIFICANCE
