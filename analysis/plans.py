"""Analysis plans as data, and their validation (pure).

A plan is JSON: the survival time and event columns, and a list of analyses,
each with a `kind`, a `name` and its variables. Subgroups are
`{"column": value}` or `{"column": [values]}`. Cox terms dichotomise a variable
at a fixed `cutoff`, at the `"median"`, or by `level` (a value or a list).

An analysis may name a multiplicity ``family``: analyses with the same family share
one set of Benjamini-Hochberg q-values (analysis.engine).

`validate_plan` checks a plan against the columns of the table it will read and
returns every problem at once, so a statistician fixes the file in one go.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.gate import qc_columns_for, validate_gate
from analysis.options import option_problems

KINDS = ("baseline_table", "paired_t_test", "correlations", "anova", "kaplan_meier", "cox")
SURVIVAL_KINDS = ("kaplan_meier", "cox")


class PlanError(ValueError):
    """A plan that cannot run on this table; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def is_numeric(table: pd.DataFrame, column: str) -> bool:
    dtype = table[column].dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def subgroup_mask(table: pd.DataFrame, subgroup: Mapping | None) -> pd.Series:
    mask = pd.Series(True, index=table.index)
    for column, wanted in (subgroup or {}).items():
        values = wanted if isinstance(wanted, list) else [wanted]
        mask &= table[column].astype("object").isin(values).fillna(False).astype(bool)
    return mask


def with_survival_columns(plan: Mapping, dictionary) -> dict:
    """The plan with its survival ``time`` and ``event`` columns filled in from the cohort's
    data dictionary when the plan does not name them and the dictionary declares exactly one
    column of that role: a statistician's plan for a dataset whose columns are "time" and
    "status" need not repeat what the dictionary already says. Named columns always win."""
    plan = dict(plan)
    for key in ("time", "event"):
        if key not in plan:
            declared = dictionary.with_role(key)
            if len(declared) == 1:
                plan[key] = declared[0]
    return plan


def columns_used(plan: Mapping, table_columns=None) -> list[str]:
    """Every column a plan reads: what the input fingerprint covers. With the table's
    columns, also the QC columns that decide whether each value is used, and the
    inclusion criteria (analysis.gate)."""
    used = {"study_id", plan.get("time", "dss_months"), plan.get("event", "dss_event")}
    used |= {c for c in plan.get("inclusion") or [] if isinstance(c, str)}
    for analysis in plan.get("analyses", []):
        used |= set(analysis.get("subgroup") or {})
        used |= set(analysis.get("variables") or [])
        for key in ("before", "after", "expression", "value", "group"):
            if analysis.get(key):
                used.add(analysis[key])
        if analysis.get("split"):
            used.add(analysis["split"]["column"])
        used |= {term["column"] for term in analysis.get("terms", [])}
    if table_columns is not None:
        for column in list(used):
            used |= set(qc_columns_for(column, table_columns))
    return sorted(used)


def _check_columns(table, names, where, problems, *, numeric=False):
    for name in names:
        if name not in table.columns:
            problems.append(f"{where}: unknown variable {name!r}")
        elif numeric and not is_numeric(table, name):
            problems.append(f"{where}: {name!r} is not numeric ({table[name].dtype})")


def event_coding_problem(table: pd.DataFrame, event: str, *, used_by=()) -> str | None:
    """Why ``event`` cannot be read as "the event happened" (None when it can);
    ``used_by`` names the analyses that read it, for the message.

    Only booleans or 0/1 mean one thing; R's 1/2 or "dead"/"alive" read as numbers or
    text would make every subject an event, or no subject usable. The data dictionary
    declares such a coding, and the import maps it to booleans."""
    values = table[event].dropna()
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    found = pd.unique(values.to_numpy(dtype=object))
    odd = [v for v in found if not _is_event_flag(v)]
    if not odd:
        return None
    shown = sorted({repr(v.item() if hasattr(v, "item") else v) for v in found})
    more = f" and {len(shown) - 8} more" if len(shown) > 8 else ""
    users = f" (read by {', '.join(map(str, used_by))})" if used_by else ""
    return (
        f"survival event: column {event!r}{users} holds {', '.join(shown[:8])}{more}; an event "
        "column holds booleans or 0/1 (1 = the event). Declare its coding (which values mean "
        "the event, which censored) in the data dictionary and import the cohort again"
    )


def _is_event_flag(value) -> bool:
    if isinstance(value, bool | np.bool_):
        return True
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value) in (0.0, 1.0)
    return False


MAX_SPLIT_LEVELS = 12  # more curves than this is no longer a figure anyone can read


def _kaplan_meier_problems(analysis: Mapping, table: pd.DataFrame, where: str) -> list[str]:
    """A KM split is {"column": ..., "at": "median" | a number | "levels"}; "levels" draws
    a curve per value, so the column must have a handful of them. ``times`` are the
    times (>= 0) at which survival and numbers at risk are reported."""
    problems: list[str] = []
    times = analysis.get("times", [])
    if not isinstance(times, list) or not all(
        isinstance(t, int | float) and not isinstance(t, bool) and t >= 0 for t in times
    ):
        problems.append(f"{where}: times must be a list of numbers >= 0, not {times!r}")
    split = analysis.get("split")
    if not split:
        return problems
    if not isinstance(split, Mapping) or not split.get("column"):
        return [*problems, f'{where} split: an object such as {{"column": "x", "at": "median"}}']
    column, at = split["column"], split.get("at", "median")
    by_number = isinstance(at, int | float) and not isinstance(at, bool)
    if at not in ("median", "levels") and not by_number:
        problems.append(f'{where} split: \'at\' must be "median", a number or "levels", not {at!r}')
        return problems
    _check_columns(table, [column], where + " split", problems, numeric=at != "levels")
    if at == "levels" and column in table.columns:
        count = table[column].nunique(dropna=True)
        if count > MAX_SPLIT_LEVELS:
            problems.append(
                f"{where} split: {column!r} has {count} distinct values, too many curves "
                f'(at most {MAX_SPLIT_LEVELS}); split at "median" or at a number instead'
            )
    return problems


def validate_plan(plan: Mapping, table: pd.DataFrame) -> None:
    """Raise PlanError listing every problem of `plan` against `table`'s columns."""
    problems: list[str] = []
    if not isinstance(plan, Mapping) or not isinstance(plan.get("analyses"), list):
        raise PlanError(["a plan is an object with a list of 'analyses'"])
    time, event = plan.get("time", "dss_months"), plan.get("event", "dss_event")
    needs_survival = any(a.get("kind") in SURVIVAL_KINDS for a in plan["analyses"])
    if needs_survival:
        _check_columns(table, [time], "survival time", problems, numeric=True)
        _check_columns(table, [event], "survival event", problems)
        survival = [a.get("name") for a in plan["analyses"] if a.get("kind") in SURVIVAL_KINDS]
        if event in table.columns and (
            problem := event_coding_problem(table, event, used_by=survival)
        ):
            problems.append(problem)
    problems += validate_gate(plan, table)
    problems += option_problems(plan.get("options"))
    names = [a.get("name") for a in plan["analyses"]]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"two analyses are named {name!r}")
    for index, analysis in enumerate(plan["analyses"], start=1):
        where = f"analysis {index} ({analysis.get('name') or 'unnamed'})"
        kind = analysis.get("kind")
        if kind not in KINDS:
            problems.append(f"{where}: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
            continue
        if not analysis.get("name"):
            problems.append(f"{where}: give it a name")
        family = analysis.get("family")
        if family is not None and (not isinstance(family, str) or not family.strip()):
            problems.append(f"{where}: family {family!r} must be a name (text) or left out")
        subgroup = analysis.get("subgroup") or {}
        _check_columns(table, subgroup, where + " subgroup", problems)
        known = subgroup and all(c in table.columns for c in subgroup)
        if known and not subgroup_mask(table, subgroup).any():
            problems.append(f"{where}: the subgroup {dict(subgroup)} is empty")
        if kind == "baseline_table":
            _check_columns(table, analysis.get("variables", []), where, problems)
        elif kind == "paired_t_test":
            _check_columns(
                table,
                [analysis.get("before"), analysis.get("after")],
                where,
                problems,
                numeric=True,
            )
            before, after = analysis.get("before"), analysis.get("after")
            if before is not None and before == after:
                problems.append(
                    f"{where}: 'before' and 'after' are both {before!r}; a paired t-test "
                    "compares two different columns"
                )
        elif kind == "correlations":
            _check_columns(table, [analysis.get("expression")], where, problems, numeric=True)
            _check_columns(table, analysis.get("variables", []), where, problems, numeric=True)
        elif kind == "anova":
            _check_columns(table, [analysis.get("value")], where, problems, numeric=True)
            _check_columns(table, [analysis.get("group")], where, problems)
        elif kind == "kaplan_meier":
            problems += _kaplan_meier_problems(analysis, table, where)
        elif kind == "cox":
            terms = analysis.get("terms") or []
            if not terms:
                problems.append(f"{where}: no terms")
            labels = [term.get("label") or term.get("column") for term in terms]
            for term in terms:
                column = term.get("column")
                cutoff = term.get("cutoff")
                _check_columns(table, [column], where, problems, numeric=cutoff is not None)
                if (
                    cutoff is not None
                    and cutoff != "median"
                    and not isinstance(cutoff, int | float)
                ):
                    problems.append(f"{where}: cut-off of {column!r} must be a number or 'median'")
            for name in analysis.get("multivariate") or []:
                if name not in labels:
                    problems.append(
                        f"{where}: multivariate variable {name!r} is not one of its terms"
                    )
    if problems:
        raise PlanError(problems)
