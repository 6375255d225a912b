"""The run report as a document, prepared for the template and the downloads (pure: a
run's stored JSON in, plain dicts out; no ORM, no request).

One function builds every table of an analysis once, as columns over raw values, so
the page, the CSV download and the tests read the same numbers: the page shows each
column's formatted text, the CSV writes its raw fields. Column names become the
dictionary's human labels ("AST (IU/l)"), never the cohort's column names.

Runs are written by several parts of the engine that grow at different times (q-values,
per-row details, figure notes, per-analysis errors): every key is read with a default,
so an old run and a new one render alike.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.utils.text import slugify

from analysis.csv_safety import neutralise
from analysis.dictionary import DataDictionary
from analysis.qc_report import QC_FIGURE_PREFIX

NOT_IN_MODEL = "—"
SIGNIFICANCE = 0.05

# What the options mean to a reader (analysis.options), in the order they are stated.
OPTION_WORDS: dict[str, tuple[str, dict[str, str]]] = {
    "preset": ("Preset", {"R": "R (survival)", "JMP": "JMP"}),
    "ties": ("Cox ties", {"efron": "Efron", "breslow": "Breslow"}),
    "hr_ci": ("HR intervals", {"wald": "Wald", "profile": "profile likelihood"}),
    "km_ci": (
        "Kaplan-Meier intervals",
        {"log": "log", "log-log": "log-log", "plain": "plain (linear)"},
    ),
    "median": (
        "Median survival",
        {"r": "R's rule", "sas": "SAS PROC LIFETEST's rule (JMP)", "lifelines": "lifelines' rule"},
    ),
    "firth": (
        "Firth correction",
        {"auto": "when separation is detected", "always": "always", "never": "never"},
    ),
    "multiplicity": (
        "Multiplicity",
        {"bh": "Benjamini-Hochberg q-values", "none": "raw P only"},
    ),
}
# Where a cut-off came from, as the engine may say it (details) and as the page says it.
CUTOFF_SOURCES = {
    "pre-specified": "pre-specified",
    "prespecified": "pre-specified",
    "plan": "pre-specified",
    "fixed": "pre-specified",
    "data-derived": "data-derived",
    "data_derived": "data-derived",
    "derived": "data-derived",
    "median": "data-derived",
}


# --- formatting ----------------------------------------------------------------------


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt(value, digits: int = 3) -> str:
    """A number to `digits` decimals; '–' for a missing one; text as it is."""
    number = _number(value)
    if number is None:
        return "–" if value is None or value == "" else str(value)
    return f"{number:.{digits}f}"


def fmt_p(value) -> str:
    number = _number(value)
    if number is None:
        return "–"
    return "<0.001" if number < 0.001 else f"{number:.3f}"


def significant(value) -> bool:
    number = _number(value)
    return number is not None and number < SIGNIFICANCE


def fmt_ci(low, high, digits: int = 3) -> str:
    if _number(low) is None and _number(high) is None:
        return "–"
    return f"{fmt(low, digits)} to {fmt(high, digits)}"


def confidence_words(options: Mapping | None) -> str:
    """'95 %' from the run's options (0.95 when the run predates them)."""
    level = _number((options or {}).get("confidence")) or 0.95
    return f"{level * 100:g} %"


def options_in_words(options: Mapping | None) -> list[tuple[str, str]]:
    """The options a run resolved, as (what, choice) for the top of the report; empty
    for a run made before runs stored them."""
    options = options or {}
    words = []
    for key, (what, choices) in OPTION_WORDS.items():
        if key in options:
            words.append((what, choices.get(str(options[key]), str(options[key]))))
    if options:
        words.append(("Confidence level", confidence_words(options)))
    return words


def dictionary_of(data: Mapping | None) -> DataDictionary:
    """The run's data dictionary; an empty one (column names as labels) when the run has
    none or it cannot be read (a report must show whatever the run stored)."""
    try:
        return DataDictionary.from_dict(data or {})
    except (TypeError, KeyError, ValueError):
        return DataDictionary()


def cutoff_in_words(details: Mapping | None) -> str:
    """'cut-off 0.793, data-derived' from a row's details, or '' when it has none.

    Read defensively: the engine states the cut-off as ``cutoff`` with its source under
    ``cutoff_source`` (or a nested ``{"value", "source"}``)."""
    details = details or {}
    cutoff = details.get("cutoff")
    source = details.get("cutoff_source") or details.get("cutoff_kind")
    if isinstance(cutoff, Mapping):
        source = source or cutoff.get("source")
        cutoff = cutoff.get("value")
    if _number(cutoff) is None:
        return ""
    text = f"cut-off {_number(cutoff):g}"
    if source:
        text += f", {CUTOFF_SOURCES.get(str(source).lower(), str(source))}"
    return text


def slugs(names: Iterable[str], *, taken: set[str] | None = None) -> dict[str, str]:
    """A unique URL slug per name, stable for the same names whatever their order (the
    figures' JSON object has no order in PostgreSQL): 'Fig. 1' -> 'fig-1', 'Table IV:forest'
    -> 'table-iv-forest', a second name slugging alike gets '-2'."""
    taken = set() if taken is None else taken
    result = {}
    for name in sorted(set(names)):
        base = slugify(str(name).replace(":", " ")) or "item"
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        result[name] = slug
    return result


# --- tables --------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column: its heading, the text shown from a row, the raw fields the CSV writes,
    and a CSS class per row (e.g. bold P under 0.05)."""

    heading: str
    show: Callable[[Mapping], str]
    fields: tuple[str, ...]
    css: Callable[[Mapping], str] = lambda row: ""
    group: str = ""


def _field(key: str, digits: int = 3) -> Callable[[Mapping], str]:
    return lambda row: fmt(row.get(key), digits)


def _text(key: str) -> Callable[[Mapping], str]:
    return lambda row: "" if row.get(key) is None else str(row.get(key))


def p_column(key: str = "p", heading: str = "P", group: str = "") -> Column:
    return Column(
        heading,
        lambda row: fmt_p(row.get(key)),
        (key,),
        lambda row: "significant" if significant(row.get(key)) else "",
        group,
    )


def q_column(key: str = "q", group: str = "") -> Column:
    return Column("q (BH)", lambda row: fmt_p(row.get(key)), (key,), group=group)


@dataclass
class Table:
    slug: str
    title: str
    columns: list[Column]
    rows: list[dict]
    notes: list[str] = field(default_factory=list)
    css: str = ""
    # Warnings that qualify the whole table (a model's events per variable), shown under it.
    warnings: list[str] = field(default_factory=list)

    @property
    def groups(self) -> list[dict]:
        """Column groups for a two-row header ([] when no column has a group)."""
        if not any(c.group for c in self.columns):
            return []
        spans: list[dict] = []
        for column in self.columns:
            if spans and spans[-1]["text"] == column.group and column.group:
                spans[-1]["span"] += 1
            else:
                spans.append({"text": column.group, "span": 1})
        return spans

    @property
    def body(self) -> list[dict]:
        """Rows as the page shows them: cells of text and class, and the row's class."""
        return [
            {
                "css": row.get("_css", ""),
                "cells": [{"text": c.show(row), "css": c.css(row)} for c in self.columns],
            }
            for row in self.rows
        ]

    def csv(self) -> str:
        """The table's raw values, one header row of field names; text cells
        neutralised (analysis.csv_safety) so a spreadsheet shows them, never runs them."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        names = [name for column in self.columns for name in column.fields]
        writer.writerow(names)
        for row in self.rows:
            writer.writerow([_csv_cell(row.get(name)) for name in names])
        return out.getvalue()


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    return neutralise(str(value))


class _Rows:
    """The flat rows of a run by (analysis, variable, statistic): where the q-value and
    the details of a number are (rows carry them; results may not)."""

    def __init__(self, rows: Iterable[Mapping]):
        self._rows = {
            (str(r.get("analysis")), str(r.get("variable")), str(r.get("statistic"))): r
            for r in rows or []
        }

    def get(self, analysis, variable, statistic) -> Mapping:
        return self._rows.get((str(analysis), str(variable), str(statistic)), {})


def _warnings(*lists) -> str:
    seen: list[str] = []
    for items in lists:
        if isinstance(items, str):
            items = [items] if items else []
        for item in items or []:
            if item and str(item) not in seen:
                seen.append(str(item))
    return "; ".join(seen)


def _notes_column() -> Column:
    return Column(
        "Warnings",
        _text("warnings"),
        ("warnings",),
        lambda row: "warn" if row.get("warnings") else "",
    )


def _has(rows: list[dict], key: str) -> bool:
    return any(row.get(key) is not None for row in rows)


class _Builder:
    """The tables of one analysis (one entry of run.results)."""

    def __init__(self, entry: Mapping, rows: _Rows, dictionary: DataDictionary, options):
        self.entry = entry
        self.name = str(entry.get("name", ""))
        self.result = entry.get("result") or {}
        self.rows = rows
        self.label = dictionary.label
        self.ci = f"{confidence_words(options)} CI"
        self.time_unit = dictionary.time_unit or "months"

    def tables(self) -> list[Table]:
        kind = self.entry.get("kind")
        method = getattr(self, f"_{kind}", None)
        return method() if method else []

    def _table(self, part: str, title: str, columns, rows, notes=(), css="") -> Table:
        return Table(f"{self.name}{part}", title, columns, rows, list(notes), css)

    def _baseline_table(self) -> list[Table]:
        rows = []
        for item in self.result.get("rows") or []:
            variable = self.label(str(item.get("variable")))
            if item.get("kind") == "continuous":
                rows.append(
                    {
                        "characteristic": variable,
                        "level": None,
                        "summary": item.get("text"),
                        "median": item.get("median"),
                        "minimum": item.get("minimum"),
                        "maximum": item.get("maximum"),
                        "n": item.get("n"),
                        "n_missing": item.get("n_missing"),
                    }
                )
                continue
            rows.append(
                {
                    "characteristic": variable,
                    "n": item.get("n"),
                    "n_missing": item.get("n_missing"),
                    "_css": "group",
                }
            )
            for level in item.get("levels") or []:
                rows.append(
                    {
                        "characteristic": variable,
                        "level": str(level.get("level")),
                        "summary": f"{level.get('n')} ({fmt(level.get('percent'), 0)})",
                        "count": level.get("n"),
                        "percent": level.get("percent"),
                        "_css": "level",
                    }
                )
        columns = [
            Column(
                "Characteristic",
                lambda r: r["level"] if r.get("level") is not None else r["characteristic"],
                ("characteristic", "level"),
            ),
            Column(
                "Median (range) or n (%)",
                _text("summary"),
                ("median", "minimum", "maximum", "count", "percent"),
            ),
            Column("n", _text("n"), ("n",)),
            Column("missing", _text("n_missing"), ("n_missing",)),
        ]
        notes = [f"{self.result.get('n_total', '–')} patients."]
        return [self._table("", "Characteristics", columns, rows, notes)]

    def _paired_t_test(self) -> list[Table]:
        r = self.result
        before, after = str(r.get("before", "")), str(r.get("after", ""))
        flat = self.rows.get(self.name, f"{after} - {before}", "mean difference")
        row = {
            **{k: r.get(k) for k in ("n", "mean_before", "mean_after", "mean_difference")},
            **{k: r.get(k) for k in ("ci_low", "ci_high", "t", "p")},
            "q": flat.get("q"),
            "warnings": _warnings(r.get("warnings")),
        }
        columns = [
            Column("n pairs", _text("n"), ("n",)),
            Column(f"mean {self.label(before)}", _field("mean_before"), ("mean_before",)),
            Column(f"mean {self.label(after)}", _field("mean_after"), ("mean_after",)),
            Column("mean difference (after − before)", _field("mean_difference"), ("mean_difference",)),
            Column(self.ci, lambda x: fmt_ci(x.get("ci_low"), x.get("ci_high")), ("ci_low", "ci_high")),
            Column("t", _field("t", 2), ("t",)),
            p_column(),
        ]  # fmt: skip
        if row["q"] is not None:
            columns.append(q_column())
        notes = [
            f"Paired Student's t-test of {self.label(after)} against {self.label(before)}; "
            f"incomplete pairs left out ({r.get('n_dropped', '–')})."
        ]
        return [self._table("", "Paired t-test", columns, [row], notes)]

    def _correlations(self) -> list[Table]:
        rows = []
        for item in self.result.get("rows") or []:
            flat = self.rows.get(self.name, item.get("variable"), "r")
            rows.append(
                {
                    "variable": self.label(str(item.get("variable"))),
                    **{k: item.get(k) for k in ("r", "n", "ci_low", "ci_high", "p")},
                    "q": flat.get("q", item.get("q")),
                    "warnings": _warnings(item.get("warnings"), flat.get("warnings")),
                }
            )
        columns = [
            Column("Variable", _text("variable"), ("variable",)),
            Column("r", _field("r", 4), ("r",)),
            Column("n", _text("n"), ("n",)),
            Column(self.ci, lambda x: fmt_ci(x.get("ci_low"), x.get("ci_high"), 4), ("ci_low", "ci_high")),
            p_column(),
        ]  # fmt: skip
        if _has(rows, "q"):
            columns.append(q_column())
        if _has(rows, "warnings") and any(row["warnings"] for row in rows):
            columns.append(_notes_column())
        expression = self.label(str(self.result.get("expression", "")))
        notes = [
            f"Pearson r against {expression}; {self.ci} by Fisher's z transformation; "
            "each variable on its own complete cases."
        ]
        if _has(rows, "q"):
            notes.append("q: Benjamini-Hochberg false discovery rate over this table's P values.")
        return [self._table("", "Correlations", columns, rows, notes)]

    def _anova(self) -> list[Table]:
        r = self.result
        value, group = self.label(str(r.get("value", ""))), self.label(str(r.get("group", "")))
        rows = [{k: g.get(k) for k in ("group", "n", "mean", "sd")} for g in r.get("groups") or []]
        for row in rows:
            row["group"] = str(row["group"])
        columns = [
            Column(group or "Group", _text("group"), ("group",)),
            Column("n", _text("n"), ("n",)),
            Column("mean", _field("mean"), ("mean",)),
            Column("SD", _field("sd"), ("sd",)),
        ]
        notes = [
            f"One-way ANOVA of {value} by {group}: F({r.get('df_between', '–')}, "
            f"{r.get('df_within', '–')}) = {fmt(r.get('f'), 2)}, P = {fmt_p(r.get('p'))}."
        ]
        return [self._table("", "Groups", columns, rows, notes)]

    def _kaplan_meier(self) -> list[Table]:
        r = self.result
        split = r.get("split") or {}
        column = str(split.get("column", "")) if split else ""
        rows = []
        for g in r.get("groups") or []:
            median = g.get("median") or {}
            variable = f"{column} {g.get('group')}" if split else "all patients"
            flat = self.rows.get(self.name, variable, "median survival")
            details = flat.get("details") or {}
            # The engine's own group label ("miR-122 ratio ≤ 0.793") when it gives one.
            label = g.get("label") or details.get("label")
            if not label:
                label = f"{self.label(column)} {g.get('group')}" if split else "all patients"
            rows.append(
                {
                    "group": str(label),
                    "n": g.get("n"),
                    "events": g.get("events"),
                    "median": median.get("median"),
                    "ci_low": median.get("ci_low"),
                    "ci_high": median.get("ci_high"),
                    **{
                        key: details.get(key)
                        for key in ("median_not_reached", "ci_low_not_reached")
                        + ("ci_high_not_reached",)
                    },
                    "warnings": _warnings(flat.get("warnings")),
                }
            )
        columns = [
            Column("Group", _text("group"), ("group",)),
            Column("n", _text("n"), ("n",)),
            Column("events", _text("events"), ("events",)),
            Column(
                f"median survival ({self.time_unit})",
                lambda x: _survival_time(x, "median"),
                ("median", "median_not_reached"),
            ),
            Column(
                self.ci,
                lambda x: _median_ci(x),
                ("ci_low", "ci_high", "ci_low_not_reached", "ci_high_not_reached"),
            ),
        ]
        notes = []
        logrank = r.get("logrank") or {}
        if split:
            flat = self.rows.get(self.name, column, "log-rank chi-square")
            cutoff = cutoff_in_words(flat.get("details")) or cutoff_in_words(split)
            if not cutoff and _number(split.get("cutoff")) is not None:
                cutoff = f"cut-off {fmt(split.get('cutoff'), 4)}, data-derived (median)"
            text = f"Split by {split.get('label') or self.label(column)}"
            text += f" ({cutoff})" if cutoff else ""
            if logrank:
                text += (
                    f": log-rank χ² = {fmt(logrank.get('chisq'), 2)}, P = {fmt_p(logrank.get('p'))}"
                )
                if flat.get("q") is not None:
                    text += f", q = {fmt_p(flat.get('q'))}"
            notes.append(text + ".")
        method = r.get("ci_method")
        notes.append(
            "Kaplan-Meier estimate"
            + (f"; {self.ci} of the median from the {method} band" if method else "")
            + "; “not reached”: the curve never falls to 0.5 or the interval stays open."
        )
        if any(row["warnings"] for row in rows):
            columns.append(_notes_column())
        return [self._table("", "Survival by group", columns, rows, notes)]

    def _cox(self) -> list[Table]:
        """Table IV as the paper prints it: one row per variable, the univariate model's
        HR beside the multivariate model's, '—' where the variable is not in it."""
        r = self.result
        multi = r.get("multivariate") or {}
        multi_by_variable = {str(e.get("variable")): e for e in multi.get("estimates") or []}
        rows = []
        for model in r.get("univariate") or []:
            for e in model.get("estimates") or []:
                variable = str(e.get("variable"))
                flat = self.rows.get(f"{self.name} univariate", variable, "HR")
                m = multi_by_variable.get(variable)
                rows.append(
                    {
                        "variable": self.label(variable),
                        "coding": _cox_coding(e, flat.get("details"), self.label),
                        "n": model.get("n"),
                        "events": model.get("events"),
                        "hr": e.get("hr"),
                        "ci_low": e.get("ci_low"),
                        "ci_high": e.get("ci_high"),
                        "p": e.get("p"),
                        "q": flat.get("q", e.get("q")),
                        "ph_p": e.get("ph_p"),
                        "in_multivariate": m is not None,
                        "multi_hr": (m or {}).get("hr"),
                        "multi_ci_low": (m or {}).get("ci_low"),
                        "multi_ci_high": (m or {}).get("ci_high"),
                        "multi_p": (m or {}).get("p"),
                        # A HR that is not estimable says why in its own cell instead.
                        "warnings": _warnings(
                            _firth(model),
                            [] if _number(e.get("hr")) is None else model.get("warnings"),
                            [] if _number(e.get("hr")) is None else e.get("warnings"),
                            [f"multivariate: {w}" for w in (m or {}).get("warnings") or []],
                        ),
                        "_reason": _warnings(model.get("warnings"), e.get("warnings")),
                        "_multi_reason": _warnings(
                            (m or {}).get("warnings"), multi.get("warnings")
                        ),
                    }
                )
        uni, mul = "Univariate", "Multivariate"
        columns = [
            Column("Variable", _text("variable"), ("variable",)),
            Column("coding", _text("coding"), ("coding",), lambda row: "muted"),
            Column("n / events", lambda x: f"{fmt(x.get('n'), 0)} / {fmt(x.get('events'), 0)}", ("n", "events")),
            Column(f"HR ({self.ci})", lambda x: _hr(x, "", "_reason"), ("hr", "ci_low", "ci_high"), group=uni),
            p_column(group=uni),
        ]  # fmt: skip
        if _has(rows, "q"):
            columns.append(q_column(group=uni))
        if _has(rows, "ph_p"):
            columns.append(Column("PH P", lambda x: fmt_p(x.get("ph_p")), ("ph_p",), group=uni))
        columns += [
            Column(f"HR ({self.ci})", lambda x: _hr(x, "multi_", "_multi_reason") if x["in_multivariate"] else NOT_IN_MODEL, ("in_multivariate", "multi_hr", "multi_ci_low", "multi_ci_high"), group=mul),
            Column("P", lambda x: fmt_p(x.get("multi_p")) if x["in_multivariate"] else NOT_IN_MODEL, ("multi_p",), lambda x: "significant" if significant(x.get("multi_p")) else "", group=mul),
            _notes_column(),
        ]  # fmt: skip
        notes = []
        if multi:
            notes.append(
                f"Multivariate model: n = {fmt(multi.get('n'), 0)}, events = "
                f"{fmt(multi.get('events'), 0)}, events per variable = "
                f"{fmt(multi.get('events_per_variable'), 1)}; concordance "
                f"{fmt(multi.get('concordance'))}; likelihood-ratio P = {fmt_p(multi.get('lr_p'))}."
            )
        else:
            notes.append("No multivariate model in this plan: its columns show “—”.")
        if _has(rows, "q"):
            notes.append("q: Benjamini-Hochberg false discovery rate over the univariate models.")
        if _has(rows, "ph_p"):
            notes.append(
                "PH P: test of proportional hazards (R's cox.zph, Kaplan-Meier time scale); "
                "a small P means the hazard ratio changes with time."
            )
        notes.append(
            f"Cox proportional hazards; {NOT_IN_MODEL}: not in the multivariate model; "
            "“not estimable” says why (e.g. separation: every event on one side)."
        )
        table = self._table("", "Univariate and multivariate Cox", columns, rows, notes)
        table.css = "side-by-side"
        table.warnings = [
            f"Multivariate model: {w}" for w in [*_firth(multi), *(multi.get("warnings") or [])]
        ]
        return [table]


def _survival_time(row: Mapping, key: str) -> str:
    """A median or CI limit: its value, else "not reached" (R's NA) unless the engine
    says it is missing for another reason (its ``*_not_reached`` flag is False)."""
    if _number(row.get(key)) is not None:
        return fmt(row.get(key), 1)
    flag = row.get(f"{key}_not_reached")
    return "not reached" if flag or (flag is None and key != "ci_low") else "–"


def _firth(model: Mapping) -> list[str]:
    """A model fitted with Firth's penalty says so beside its numbers, with why."""
    if not model.get("firth"):
        return []
    reason = model.get("firth_reason")
    return [f"Firth-penalised fit ({reason})" if reason else "Firth-penalised fit"]


def _median_ci(row: Mapping) -> str:
    nothing = _number(row.get("median")) is None and _number(row.get("ci_low")) is None
    if nothing and not row.get("median_not_reached") and not row.get("ci_low_not_reached"):
        return "–"  # no estimate at all (e.g. no event)
    return f"{_survival_time(row, 'ci_low')} to {_survival_time(row, 'ci_high')}"


def _hr(row: Mapping, prefix: str, reason_key: str) -> str:
    hr = row.get(f"{prefix}hr")
    if _number(hr) is None:
        reason = row.get(reason_key)
        return f"not estimable: {reason}" if reason else "not estimable"
    low, high = row.get(f"{prefix}ci_low"), row.get(f"{prefix}ci_high")
    return f"{fmt(hr, 2)}\u00a0({fmt(low, 2)}–{fmt(high, 2)})"  # the HR never wraps apart from its interval


def _cox_coding(estimate: Mapping, details: Mapping | None, label) -> str:
    """How the variable was coded, with its cut-off's source: from the row's details
    when the engine states it, else from the estimate (a median is data-derived)."""
    coding = str(estimate.get("coding") or "")
    words = cutoff_in_words(details) or cutoff_in_words(estimate)
    if not words and _number(estimate.get("cutoff")) is not None:
        source = "data-derived" if "(median)" in coding else "pre-specified"
        words = f"cut-off {_number(estimate.get('cutoff')):g}, {source}"
    return f"{coding} [{words}]" if words and coding else words or coding


# --- the report ----------------------------------------------------------------------


def figure_owner(name: str, analyses: Iterable[str]) -> str | None:
    """The analysis a figure belongs to: its own name, or the name followed by a space or
    ':' (an analysis's other figure: 'Table IV forest', the forest plot of Table IV); the
    longest such name wins; None for a QC figure or one of no analysis."""
    if name.startswith(QC_FIGURE_PREFIX):
        return None
    best = None
    for analysis in analyses:
        owns = name == analysis or name.startswith((f"{analysis} ", f"{analysis}:"))
        if owns and (best is None or len(analysis) > len(best)):
            best = analysis
    return best


def figure_entries(figures: Mapping | None, notes: Mapping | None) -> list[dict]:
    """Every analysis figure (drawn, or failed with its note's error) with a unique slug,
    its SVG, its alt text and its error; QC figures are the QC section's."""
    figures, notes = figures or {}, notes or {}
    names = [n for n in {*figures, *notes} if not str(n).startswith(QC_FIGURE_PREFIX)]
    by_slug = slugs(names)
    entries = []
    for name in sorted(names):
        note = notes.get(name) if isinstance(notes.get(name), Mapping) else {}
        svg = figures.get(name) or ""
        error = str(note.get("error") or ("" if svg else "the figure was not drawn"))
        entries.append(
            {
                "name": name,
                "slug": by_slug[name],
                "svg": "" if error else svg,
                "alt": str(note.get("alt") or ""),
                "error": error,
            }
        )
    return entries


def table_of(
    results: Iterable[Mapping], rows, dictionary, options
) -> list[tuple[Mapping, list[Table]]]:
    """Each analysis with its tables, the tables' slugs unique across the run."""
    index = _Rows(rows)
    built = [
        (entry, [] if entry.get("error") else _Builder(entry, index, dictionary, options).tables())
        for entry in results or []
    ]
    taken: set[str] = set()
    for _entry, tables in built:
        for table in tables:
            table.slug = slugs([table.slug], taken=taken)[table.slug]
    return built


def report_sections(
    *, results, rows, figures, figure_notes, dictionary: DataDictionary, options
) -> tuple[list[dict], list[dict]]:
    """(sections, unassigned figures): one section per analysis in plan order, with its
    anchor, human title, error, tables and figures."""
    built = table_of(results, rows, dictionary, options)
    names = [str(entry.get("name", "")) for entry, _ in built]
    anchors = slugs([f"analysis-{name}" for name in names])
    figures_of: dict[str | None, list[dict]] = {}
    for figure in figure_entries(figures, figure_notes):
        figures_of.setdefault(figure_owner(figure["name"], names), []).append(figure)
    sections = []
    for entry, tables in built:
        name = str(entry.get("name", ""))
        subgroup = entry.get("subgroup") or {}
        sections.append(
            {
                "name": name,
                "anchor": anchors[f"analysis-{name}"],
                "title": entry.get("title") or "",
                "kind": entry.get("kind"),
                "subgroup": [f"{dictionary.label(str(k))} = {v}" for k, v in subgroup.items()],
                "n_rows": entry.get("n_rows"),
                "error": entry.get("error") or "",
                "warnings": _warnings((entry.get("result") or {}).get("warnings")),
                "tables": tables,
                "figures": figures_of.get(name, []),
            }
        )
    return sections, figures_of.get(None, [])


def find_table(sections: Iterable[Mapping], slug: str) -> Table | None:
    for section in sections:
        for table in section["tables"]:
            if table.slug == slug:
                return table
    return None


def find_figure(sections: Iterable[Mapping], other: Iterable[Mapping], slug: str) -> dict | None:
    for section in sections:
        for figure in section["figures"]:
            if figure["slug"] == slug:
                return figure
    return next((figure for figure in other if figure["slug"] == slug), None)


def labelled_diff(diff: Mapping | None, dictionary: DataDictionary) -> dict:
    """The run-to-run diff with each variable under its dictionary label (a variable
    that is not a column, such as a Cox term's own label, stays as it is)."""
    diff = dict(diff or {})
    for key in ("moved", "crossed_0_05", "crossed_0_05_by_q"):
        diff[key] = [
            {**change, "variable": dictionary.label(str(change.get("variable", "")))}
            for change in diff.get(key) or []
            if isinstance(change, Mapping)
        ]
    # Runs made before q-values have none: the q column shows only when a change has one.
    diff["has_q"] = any(
        change.get("old_q") is not None or change.get("new_q") is not None
        for change in diff["moved"]
    )
    return diff


def diff_summary(diff: Mapping | None) -> dict:
    """The run-to-run diff (engine.diff_rows) counted for a one-line summary."""
    diff = diff or {}
    return {
        "moved": len(diff.get("moved") or []),
        "crossed": len(diff.get("crossed_0_05") or []),
        "crossed_q": len(diff.get("crossed_0_05_by_q") or []),
        "added": len(diff.get("added") or []),
        "removed": len(diff.get("removed") or []),
    }


def reasons_in_words(reasons) -> list[str]:
    """What triggered a re-analysis (analysis.triggers stores {reason: commits}, or a
    list of labels), most frequent first: 'follow-up changed (3×)'."""
    if isinstance(reasons, Mapping):
        counted = sorted(reasons.items(), key=lambda kv: (-_count(kv[1]), str(kv[0])))
        return [f"{k} ({_count(v)}×)" if _count(v) > 1 else str(k) for k, v in counted]
    if isinstance(reasons, list | tuple):
        return [str(reason) for reason in reasons]
    return [str(reasons)] if reasons else []


def _count(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def change_summary(run) -> dict:
    """A run's "what changed" in a few words, for the home page: its cause and the
    counts of its diff, with the P values that crossed 0.05 (few, and the ones a reader
    must not miss)."""
    diff = labelled_diff(run.diff, dictionary_of(run.dictionary))
    return {
        "run": run,
        "reasons": reasons_in_words((run.parameters or {}).get("reasons")),
        "counts": diff_summary(diff),
        "crossed": list(diff.get("crossed_0_05") or [])[:5],
        "compared": bool(run.previous_id),
    }
