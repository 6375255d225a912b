"""Run an analysis plan over a cohort table (pure: DataFrame and dict in, results out).

Each analysis gives its full result (for the report) and flat rows (analysis,
variable, statistic, n, estimate, CI, P, warnings) for `analyse --json`, the
run-to-run diff and scripts. A problem in one analysis becomes that analysis's
error and warning; the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from analysis.dictionary import DataDictionary
from analysis.gate import (
    DEFAULT_POLICY,
    POLICY_LABELS,
    apply_gate,
    patient_flow,
)
from analysis.options import AnalysisOptions, resolve_options
from analysis.plans import subgroup_mask, validate_plan
from analysis.stats._json import as_float, json_safe
from analysis.stats.comparisons import one_way_anova, paired_ttest
from analysis.stats.correlation import correlate_with_expression
from analysis.stats.cox import CoxTerm, cox_multivariate, cox_univariate
from analysis.stats.descriptive import describe_baseline
from analysis.stats.survival import kaplan_meier, split_at_median

SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class RunContext:
    """What every analysis of a run shares: the plan, its resolved options, the data
    dictionary (labels, units, codings) and the survival columns."""

    plan: Mapping
    options: AnalysisOptions = AnalysisOptions()
    dictionary: DataDictionary = field(default_factory=DataDictionary)

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
):
    """One flat result. ``details`` holds what only some statistics have (coef and se of
    a Cox term, the cut-off and whether it was pre-specified or data-derived, ...)."""
    return {
        "analysis": analysis,
        "variable": variable,
        "statistic": statistic,
        "n": None if n is None else int(n),
        "estimate": as_float(estimate),
        "ci_low": as_float(ci_low),
        "ci_high": as_float(ci_high),
        "p": as_float(p),
        "warnings": list(warnings),
        "details": dict(details or {}),
    }


def _baseline(spec, frame, context: RunContext):
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


def _kaplan_meier(spec, frame, context: RunContext):
    frame = frame.copy()
    group, cutoff = None, None
    split = spec.get("split")
    if split:
        group = "_group"
        if split.get("at", "median") == "median":
            frame[group], cutoff = split_at_median(frame[split["column"]])
        else:
            frame[group] = frame[split["column"]]
    result = kaplan_meier(
        frame,
        context.time,
        context.event,
        group=group,
        times=spec.get("times", ()),
    )
    payload = result.to_dict()
    payload["split"] = {**split, "cutoff": cutoff} if split else None
    rows = [
        row(
            spec["name"],
            f"{split['column']} {g.group}" if split else "all patients",
            "median survival",
            n=g.n,
            estimate=g.median.median,
            ci_low=g.median.ci_low,
            ci_high=g.median.ci_high,
            warnings=result.warnings,
        )
        for g in result.groups
    ]
    if result.logrank is not None and split:
        rows.append(
            row(
                spec["name"],
                split["column"],
                "log-rank chi-square",
                n=result.n,
                estimate=result.logrank.chisq,
                p=result.logrank.p,
                warnings=result.logrank.warnings,
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
    univariate = cox_univariate(frame, time, event, terms, **fit_options)
    if not any(model.n for model in univariate.models):
        columns = ", ".join(repr(t.column) for t in terms)
        raise ValueError(
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
        model = cox_multivariate(
            frame, time, event, [by_name[name] for name in chosen], **fit_options
        )
        payload["multivariate"] = model.to_dict()
        rows += _hazard_rows(f"{spec['name']} multivariate", model)
    return payload, rows


RUNNERS: dict[str, Callable] = {
    "baseline_table": _baseline,
    "paired_t_test": _paired,
    "correlations": _correlations,
    "anova": _anova,
    "kaplan_meier": _kaplan_meier,
    "cox": _cox,
}


def _run_analyses(table: pd.DataFrame, specs, context: RunContext) -> tuple[list[dict], list[dict]]:
    results, rows = [], []
    for spec in specs:
        frame = table.loc[subgroup_mask(table, spec.get("subgroup"))]
        entry = {
            "name": spec["name"],
            "kind": spec["kind"],
            "title": spec.get("title", ""),
            "subgroup": spec.get("subgroup") or {},
            "n_rows": int(len(frame)),
            "error": None,
            "result": None,
        }
        try:
            entry["result"], found = RUNNERS[spec["kind"]](spec, frame, context)
            rows += found
        except Exception as error:  # noqa: BLE001 - one failed analysis must not sink the others
            entry["error"] = f"{type(error).__name__}: {error}"
        results.append(json_safe(entry))
    return results, rows


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
                _sensitivity(table, context, other, policy=policy, inclusion=inclusion)
                for other in plan.get("sensitivity") or []
            ],
        }
    )
    if figures:
        from analysis.figures import draw_figures
        from analysis.qc_figures import draw_qc_figures

        outcome.figures = {
            **draw_figures(gated.table, plan, outcome.results),
            **draw_qc_figures(outcome.qc),
        }
    return outcome


def _status_counts(table: pd.DataFrame) -> dict[str, int]:
    counts = {"pass": 0, "warn": 0, "fail": 0}
    for column in table.columns:
        if column.endswith(("_pre_qc", "_post_qc")):
            for status, n in table[column].value_counts().items():
                counts[str(status)] = counts.get(str(status), 0) + int(n)
    return counts


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
    results, rows = _run_analyses(gated.table, specs, context)
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
    rows that appeared or went away."""
    key = lambda r: (r["analysis"], r["variable"], r["statistic"])  # noqa: E731
    before = {key(r): r for r in previous}
    after = {key(r): r for r in current}
    moved, crossed = [], []
    for name in after.keys() & before.keys():
        old, new = before[name], after[name]
        changed = any(
            _differs(old.get(field), new.get(field), tolerance)
            for field in ("estimate", "ci_low", "ci_high", "p", "n")
        )
        if changed:
            moved.append(
                {
                    "analysis": name[0],
                    "variable": name[1],
                    "statistic": name[2],
                    **{f"old_{f}": old.get(f) for f in ("n", "estimate", "p")},
                    **{f"new_{f}": new.get(f) for f in ("n", "estimate", "p")},
                }
            )
        if _side(old.get("p")) != _side(new.get("p")) and None not in (old.get("p"), new.get("p")):
            crossed.append(
                {
                    "analysis": name[0],
                    "variable": name[1],
                    "statistic": name[2],
                    "old_p": old["p"],
                    "new_p": new["p"],
                    "now": "significant" if new["p"] < SIGNIFICANCE else "not significant",
                }
            )
    return {
        "moved": sorted(moved, key=lambda r: (r["analysis"], r["variable"])),
        "crossed_0_05": sorted(crossed, key=lambda r: (r["analysis"], r["variable"])),
        "added": sorted([list(k) for k in after.keys() - before.keys()]),
        "removed": sorted([list(k) for k in before.keys() - after.keys()]),
    }


def _differs(old, new, tolerance) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return abs(float(old) - float(new)) > tolerance


def _side(p):
    return None if p is None else p < SIGNIFICANCE
