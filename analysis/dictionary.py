"""What a cohort's columns mean: type, role, unit, label, levels and event coding (pure).

An imported cohort carries a data dictionary; the live cohort has the paper's
(analysis.cohort.paper_dictionary, docs/cohort.md). The engine and the report read
labels and the time unit from it, so a dataset in days is never labelled "months from
TACE" and "ast_iu_l" reads "AST (IU/l)".

Why a dictionary at all: a table alone does not say that R's `status` 1/2 means
1 = censored, 2 = dead; read as numbers, every patient "had the event". So an event
column's coding is always declared (or it is plain true/false, 0/1), values that do not
fit the dictionary are refused naming the column, the file line and the value, and a
dictionary guessed from the table is only used once the user has seen and confirmed it.

A dictionary comes from a JSON file (the shape of `DataDictionary.to_dict`) or from the
cohort file's leading comment lines (`parse_header`):

    # time_unit: days
    # column time: numeric role=time label="Survival time"
    # column status: boolean role=event event=2 censored=1 label=Death
    # column sex: categorical levels=1,2 labels=male,female label=Sex
    # dictionary: exotrack          (the paper's columns, docs/cohort.md)
    # dictionary: {"time_unit": "days", "columns": [...]}   (the JSON, on one line)
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported by the functions that read a table (inferring and applying a
# dictionary), not here: the report shows a stored run's dictionary (DataDictionary,
# plain Python) and must not load the statistics stack (issue 16).

TYPES = ("numeric", "categorical", "boolean", "date", "text", "id")
ROLES = ("id", "time", "event", "variable", "qc", "status")
TIME_UNITS = ("days", "weeks", "months", "years")
# `# dictionary: exotrack` in a file's header: its columns are the paper's (docs/cohort.md).
PAPER_DICTIONARY = "exotrack"
# The export's header line declaring its dictionary: the paper's, so a re-import of our
# own export needs no confirmation (analysis.cohort.export_header_lines).
EXPORT_DICTIONARY_LINE = f"dictionary: {PAPER_DICTIONARY} (columns and codes: docs/cohort.md)"

TRUE_CODES = frozenset({"true", "1", "yes", "y", "t"})
FALSE_CODES = frozenset({"false", "0", "no", "n", "f"})
# Text an event column is often written in; seen without a declared coding, it is refused.
EVENT_WORDS = frozenset({"dead", "died", "death", "deceased", "event", "relapse", "progression"})
CENSORED_WORDS = frozenset({"alive", "living", "censored", "lost", "censor", "event-free"})
# Names that make a column a candidate for the survival event / time (plan-free guesses,
# shown to the user for confirmation).
EVENT_NAME = re.compile(
    r"(^|_)(event|status|dead|death|died|censor|censored|cens|fustat|vital|outcome)($|_)", re.I
)
TIME_NAME = re.compile(
    r"(^|_)(time|futime|survival|surv|months|days|weeks|years|os|dss|pfs|rfs|efs|"
    r"follow|followup|fu|stime)($|_)",
    re.I,
)
UNIT_IN_NAME = {
    "days": "days",
    "day": "days",
    "weeks": "weeks",
    "week": "weeks",
    "months": "months",
    "month": "months",
    "years": "years",
    "year": "years",
}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T][\d:.]+)?$")
# A text column with at most this many distinct values is a categorical one.
MAX_INFERRED_LEVELS = 12


class CohortFormatError(ValueError):
    """A cohort file (or its dictionary) that cannot be read; the message names the
    column, the file line and the value. `dictionary` is the dictionary that was being
    applied when it was inferred from the table, for the user to see, edit and declare."""

    def __init__(self, message: str, *, dictionary: DataDictionary | None = None):
        super().__init__(message)
        self.dictionary = dictionary


class DictionaryNotConfirmed(CohortFormatError):
    """The file declares no dictionary and the inferred one was not confirmed."""


@dataclass(frozen=True)
class ColumnInfo:
    """One column. For an event column, ``event_values`` are the values meaning "the
    event happened" and ``censored_values`` those meaning "censored" (e.g. 2 / 1 for R's
    1/2 coding, "dead" / "alive" for text). ``level_labels`` name a categorical column's
    ``levels`` in the same order (1, 2 -> male, female); the table keeps the codes."""

    name: str
    type: str = "numeric"
    role: str = "variable"
    unit: str = ""
    label: str = ""
    levels: tuple = ()
    event_values: tuple = ()
    censored_values: tuple = ()
    level_labels: tuple = ()

    @property
    def display(self) -> str:
        """The human label with its unit: "AST (IU/l)"."""
        text = self.label or self.name
        return f"{text} ({self.unit})" if self.unit and f"({self.unit})" not in text else text

    @property
    def coded(self) -> bool:
        return bool(self.event_values or self.censored_values)

    def level_label(self, value) -> str:
        """The name of a level ("male" for 1), or the value itself."""
        names = dict(zip(map(code, self.levels), self.level_labels, strict=False))
        return names.get(code(value), str(value))


@dataclass
class DataDictionary:
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    time_unit: str = "months"
    source: str = ""  # "declared", "inferred", "inferred and confirmed", "paper"

    def label(self, column: str) -> str:
        info = self.columns.get(column)
        return info.display if info else column

    def with_role(self, role: str) -> list[str]:
        return [name for name, info in self.columns.items() if info.role == role]

    def to_dict(self) -> dict:
        return {
            "time_unit": self.time_unit,
            "source": self.source,
            "columns": [
                {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(c).items()}
                for c in self.columns.values()
            ],
        }

    def to_json(self) -> str:
        """The dictionary as a user saves, edits and passes back (`--dictionary`): one
        line a column, empty fields left out."""
        columns = [
            {k: v for k, v in c.items() if v or k in {"name", "type", "role"}}
            for c in self.to_dict()["columns"]
        ]
        lines = ",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in columns)
        head = {"time_unit": self.time_unit, "source": self.source}
        return json.dumps(head, ensure_ascii=False)[:-1] + ', "columns": [\n' + lines + "\n]}"

    @classmethod
    def from_dict(cls, data: Mapping | None) -> DataDictionary:
        data = data or {}
        columns = {}
        for item in data.get("columns", []):
            values = {
                k: tuple(v) if isinstance(v, list) else v
                for k, v in item.items()
                if k in ColumnInfo.__dataclass_fields__
            }
            columns[item["name"]] = ColumnInfo(**values)
        return cls(columns, data.get("time_unit", "months"), data.get("source", ""))


def code(value) -> str:
    """The form codes are compared in: numbers by value ("2", "2.0" and 2 are one code),
    text stripped and case-folded ("Dead" is "dead")."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text.casefold()
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return repr(number)


# ---------------------------------------------------------------- declaring


def dictionary_from_json(data, *, source: str = "declared") -> DataDictionary:
    """A declared dictionary from its JSON (text or parsed), checked: every problem is
    refused naming the column."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise CohortFormatError(f"the dictionary is not JSON: {error}") from error
    if not isinstance(data, Mapping) or not isinstance(data.get("columns", []), list):
        raise CohortFormatError(
            'a dictionary is an object {"time_unit": ..., "columns": [{"name": ..., ...}]}'
        )
    for index, item in enumerate(data.get("columns", []), start=1):
        if not isinstance(item, Mapping) or not item.get("name"):
            raise CohortFormatError(f"dictionary column {index} has no name")
        unknown = set(item) - set(ColumnInfo.__dataclass_fields__)
        if unknown:
            raise CohortFormatError(
                f"dictionary column {item['name']!r}: unknown key(s) {', '.join(sorted(unknown))}"
                f"; known: {', '.join(ColumnInfo.__dataclass_fields__)}"
            )
    items = [
        {
            "type": _implied_type(c),
            **{
                k: [str(v) for v in value] if isinstance(value, list) else value
                for k, value in c.items()
            },
        }
        for c in data.get("columns", [])
    ]
    dictionary = DataDictionary.from_dict({**data, "columns": items, "source": source})
    if "time_unit" in data:
        dictionary.time_unit = str(data["time_unit"]).strip().lower()
    else:
        dictionary.time_unit = _time_unit_from_columns(dictionary) or ""
    check_dictionary(dictionary)
    return dictionary


def _implied_type(item: Mapping) -> str:
    """The type a column's other keys imply when it says none: an event or a coding is
    boolean, levels are categorical, an id is an id; otherwise numeric."""
    if item.get("role") == "event" or item.get("event_values") or item.get("censored_values"):
        return "boolean"
    if item.get("levels"):
        return "categorical"
    return "id" if item.get("role") == "id" else "numeric"


HEADER_KEYS = {
    "role": "role",
    "unit": "unit",
    "label": "label",
    "levels": "levels",
    "labels": "level_labels",
    "event": "event_values",
    "censored": "censored_values",
}


def parse_header(lines: Iterable[str]) -> DataDictionary | None:
    """The dictionary a cohort file declares in its leading comment lines (given without
    their '#'), or None when it declares none. Lines of other kinds (the export's
    fingerprint, notes) are left alone."""
    base: DataDictionary | None = None
    columns: dict[str, ColumnInfo] = {}
    time_unit = None
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.strip()
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "dictionary":
            if value.startswith("{"):
                base = dictionary_from_json(value)
            elif value.split(maxsplit=1)[:1] == [PAPER_DICTIONARY]:
                base = DataDictionary(source="paper")
            else:
                raise CohortFormatError(
                    f"header line {number}: 'dictionary:' takes {PAPER_DICTIONARY!r} or a JSON "
                    f"object, not {value!r}"
                )
        elif key == "time_unit":
            time_unit = value.lower()
        elif key.startswith("column "):
            name = line.partition(":")[0].strip()[len("column ") :].strip()  # keep its case
            columns[name] = _column_from_header(name, value, number)
    if base is None and not columns and time_unit is None:
        return None
    dictionary = base or DataDictionary(source="declared")
    if dictionary.source == "paper" and (columns or time_unit):
        raise CohortFormatError(
            f"'dictionary: {PAPER_DICTIONARY}' is the paper's dictionary; declare other "
            "columns in a dictionary of your own instead"
        )
    dictionary.columns.update(columns)
    if time_unit is not None:
        dictionary.time_unit = time_unit
    elif base is None:
        dictionary.time_unit = _time_unit_from_columns(dictionary) or ""
    if dictionary.source != "paper":
        check_dictionary(dictionary)
    return dictionary


def _column_from_header(name: str, text: str, number: int) -> ColumnInfo:
    where = f"header line {number} (column {name})"
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise CohortFormatError(f"{where}: {error}") from error
    if not words or "=" in words[0]:
        raise CohortFormatError(
            f"{where}: start with the type ({', '.join(TYPES)}), e.g. "
            f"'# column {name}: categorical levels=1,2'"
        )
    values: dict = {"name": name, "type": words[0].lower()}
    for word in words[1:]:
        key, equals, value = word.partition("=")
        if not equals or key.lower() not in HEADER_KEYS:
            raise CohortFormatError(
                f"{where}: {word!r} is not key=value with a key among {', '.join(HEADER_KEYS)}"
            )
        target = HEADER_KEYS[key.lower()]
        is_list = target in {"levels", "level_labels", "event_values", "censored_values"}
        values[target] = tuple(v.strip() for v in value.split(",")) if is_list else value
    return ColumnInfo(**values)


def _time_unit_from_columns(dictionary: DataDictionary) -> str | None:
    for name in dictionary.with_role("time"):
        unit = dictionary.columns[name].unit.lower()
        if unit in TIME_UNITS:
            return unit
    return None


def check_dictionary(dictionary: DataDictionary, *, time_unit: bool = True) -> None:
    """Refuse a dictionary that contradicts itself, naming the column; with `time_unit`,
    also one with a time column whose unit is not said."""
    for name, info in dictionary.columns.items():
        where = f"dictionary column {name!r}"
        if info.type not in TYPES:
            raise CohortFormatError(f"{where}: type {info.type!r}; choose {', '.join(TYPES)}")
        if info.role not in ROLES:
            raise CohortFormatError(f"{where}: role {info.role!r}; choose {', '.join(ROLES)}")
        if info.role == "event" and info.type != "boolean":
            raise CohortFormatError(
                f"{where}: an event column is boolean (type {info.type!r} given); say which "
                'values are the event and which are censored ("event_values", '
                '"censored_values")'
            )
        if info.coded and info.type != "boolean":
            raise CohortFormatError(f"{where}: only a boolean column has an event coding")
        if info.coded and not (info.event_values and info.censored_values):
            raise CohortFormatError(
                f"{where}: declare both the event values and the censored values "
                "(e.g. event=2 censored=1)"
            )
        both = set(map(code, info.event_values)) & set(map(code, info.censored_values))
        if both:
            raise CohortFormatError(
                f"{where}: {', '.join(sorted(both))} cannot mean both event and censored"
            )
        if info.levels and info.type != "categorical":
            raise CohortFormatError(f"{where}: only a categorical column has levels")
        if info.level_labels and len(info.level_labels) != len(info.levels):
            raise CohortFormatError(
                f"{where}: {len(info.level_labels)} level labels for {len(info.levels)} levels"
            )
        if info.role == "time" and info.type != "numeric":
            raise CohortFormatError(f"{where}: a time column is numeric")
    if dictionary.time_unit and dictionary.time_unit not in TIME_UNITS:
        raise CohortFormatError(
            f"time_unit {dictionary.time_unit!r}; choose {', '.join(TIME_UNITS)}"
        )
    if time_unit and dictionary.with_role("time") and dictionary.time_unit not in TIME_UNITS:
        raise CohortFormatError(
            f"say the unit of the time column {dictionary.with_role('time')[0]!r}: "
            f'"time_unit": one of {", ".join(TIME_UNITS)} (header: "# time_unit: days")'
        )


# ---------------------------------------------------------------- inferring


def infer_column(name: str, values: pd.Series) -> ColumnInfo:
    """What a column looks like, with no role: the plain type and, for a categorical one,
    its levels (numbers in numeric order, text sorted)."""
    import pandas as pd  # deferred: see the imports above

    present = _present(values)
    if name == "study_id":
        return ColumnInfo(name, "id", "id", label="Study ID")
    if present.empty:
        return ColumnInfo(name, "text")
    codes = present.map(code)
    distinct = set(codes)
    if distinct <= TRUE_CODES | FALSE_CODES and (
        distinct <= {"0", "1"} or not distinct & {"0", "1"}
    ):
        return ColumnInfo(name, "boolean")
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        whole = bool((numbers == numbers.round()).all())
        if whole and len(distinct) == 2:
            # two integer codes other than 0/1 (sex 1/2): categories, not a quantity
            return ColumnInfo(name, "categorical", levels=tuple(_numeric_order(distinct)))
        return ColumnInfo(name, "numeric")
    looks_dated = present.map(lambda v: bool(ISO_DATE.match(v))).all()
    if looks_dated and pd.to_datetime(present, errors="coerce", format="mixed").notna().all():
        return ColumnInfo(name, "date")
    levels = sorted(set(present))
    if len(levels) <= MAX_INFERRED_LEVELS and len(levels) < max(len(present), 3):
        return ColumnInfo(name, "categorical", levels=tuple(levels))
    return ColumnInfo(name, "text")


def infer_dictionary(raw: pd.DataFrame) -> DataDictionary:
    """A dictionary guessed from a table of text cells, for the user to confirm: each
    column's plain type (infer_column); the survival event is a column named like one
    (status, event, death, fustat ...) - a true/false one if there is one, else the
    first, left without a coding so that applying it asks for one; the time is a
    non-negative numeric column named like one (time, futime, *_months ...), its unit
    read from the name when it says one."""
    import pandas as pd  # deferred: see the imports above

    columns = {name: infer_column(name, raw[name]) for name in raw.columns}
    candidates = [name for name in raw.columns if _looks_like_event(name, raw[name])]
    event = next((n for n in candidates if columns[n].type == "boolean"), None)
    if event is None and candidates:
        event = candidates[0]
    if event is not None:
        columns[event] = ColumnInfo(event, "boolean", "event")
    times = [
        name
        for name in raw.columns
        if name != event
        and columns[name].type == "numeric"
        and TIME_NAME.search(name)
        and (pd.to_numeric(_present(raw[name])) >= 0).all()
    ]
    stem = event.rsplit("_", 1)[0] if event and "_" in event else None
    times.sort(key=lambda n: not (stem and n.startswith(stem + "_")))
    time_unit = "months"
    if times:
        unit = next((UNIT_IN_NAME[w] for w in times[0].lower().split("_") if w in UNIT_IN_NAME), "")
        columns[times[0]] = replace(columns[times[0]], role="time", unit=unit)
        time_unit = unit
    return DataDictionary(columns, time_unit, "inferred")


def complete_dictionary(
    declared: DataDictionary, raw: pd.DataFrame, *, first_line: int = 2
) -> DataDictionary:
    """A declared dictionary with the file's other columns added as plain variables of
    their inferred type (never a time or an event: those are declared). Refused if it
    names a column the file lacks, or if it declares no event while an undeclared column
    looks like one coded 1/2 or in words (status, "dead"/"alive"): read as a plain
    variable it would be one plan away from counting every patient as an event."""
    missing = [name for name in declared.columns if name not in raw.columns]
    if missing:
        raise CohortFormatError(
            f"the dictionary describes {', '.join(map(repr, missing))}, which the file lacks"
        )
    columns = {
        name: declared.columns.get(name) or infer_column(name, raw[name]) for name in raw.columns
    }
    if not declared.with_role("event"):
        for name in raw.columns:
            if name in declared.columns or columns[name].type == "boolean":
                continue
            if _looks_like_event(name, raw[name]):
                present = _present(raw[name])
                raise CohortFormatError(
                    _undeclared_event_message(
                        name, present, present.map(code), first_line, lead="looks like an event"
                    )
                    + "; if it is not an event, declare its type (e.g. categorical)"
                )
    return DataDictionary(columns, declared.time_unit, declared.source)


def _looks_like_event(name: str, values: pd.Series) -> bool:
    if not EVENT_NAME.search(name):
        return False
    codes = set(_present(values).map(code))
    if not codes:
        return False
    return (
        codes <= TRUE_CODES | FALSE_CODES
        or codes <= {"1", "2"}
        or bool(codes & (EVENT_WORDS | CENSORED_WORDS))
    )


def _present(values: pd.Series) -> pd.Series:
    text = values.dropna().astype(str).str.strip()
    return text[text != ""]


def _numeric_order(codes: Iterable[str]) -> list[str]:
    return sorted(codes, key=float)


# ---------------------------------------------------------------- applying


def apply_dictionary(raw: pd.DataFrame, dictionary: DataDictionary, *, first_line: int = 2):
    """The analysis frame from a table of text cells: events as booleans (by their
    declared coding), categoricals as their declared levels (text), numbers as floats,
    dates as ISO dates (text, as the live cohort has them), ids and text as text.

    Anything that does not fit is refused naming the column, the file line (`first_line`
    is the line of the first data row) and the value. An event column without a coding
    that is not plainly true/false (1/2, "dead"/"alive") is refused with how to declare
    its coding: ExoTrack never guesses which value is the event."""
    import pandas as pd  # deferred: see the imports above

    unknown = [c for c in raw.columns if c not in dictionary.columns]
    if unknown:
        raise CohortFormatError(f"the dictionary does not describe {', '.join(unknown)}")
    check_dictionary(dictionary, time_unit=False)
    frame = pd.DataFrame(index=raw.index)
    problems = []
    for name in raw.columns:
        try:
            frame[name] = _apply_column(raw[name], dictionary.columns[name], first_line)
        except CohortFormatError as error:
            problems.append(str(error))
    try:
        check_dictionary(dictionary)
    except CohortFormatError as error:
        problems.append(str(error))
    if problems:
        raise CohortFormatError("\n".join(problems))
    return frame


def _apply_column(values: pd.Series, info: ColumnInfo, first_line: int) -> pd.Series:
    import pandas as pd  # deferred: see the imports above

    text = values.astype("string").str.strip().replace("", pd.NA)
    present = text.dropna()

    def refuse(bad: pd.Series, why: str):
        line = int(bad.index[0]) + first_line
        raise CohortFormatError(f"line {line}, column {info.name}: {bad.iloc[0]!r} {why}")

    if info.type in {"id", "text"}:
        return text
    if info.type == "categorical":
        if not info.levels:
            return text
        declared = {code(level): str(level) for level in info.levels}
        codes = present.map(code)
        bad = present[~codes.isin(declared)]
        if len(bad):
            refuse(bad, f"is not one of the declared levels {', '.join(map(str, info.levels))}")
        result = pd.Series(pd.NA, index=text.index, dtype="string")
        result[present.index] = codes.map(declared).to_numpy()
        return result
    if info.type == "boolean":
        return _booleans(present, text, info, refuse, first_line)
    if info.type == "numeric":
        numbers = present.map(parse_number)
        bad = present[numbers.isna()]
        if len(bad):
            refuse(bad, "is not a number")
        result = pd.Series(math.nan, index=text.index, dtype=float)
        result[present.index] = numbers.astype(float).to_numpy()
        return result
    if info.type == "date":
        # ISO only: 01/02/2020 is January or February depending on who wrote it
        iso = present.map(lambda v: bool(ISO_DATE.match(v)))
        parsed = pd.to_datetime(present.where(iso), errors="coerce", format="mixed")
        bad = present[parsed.isna()]
        if len(bad):
            refuse(bad, "is not a date written YYYY-MM-DD")
        dates = pd.Series(pd.NA, index=text.index, dtype="string")
        dates[present.index] = parsed.dt.date.astype(str).to_numpy()
        return dates
    raise CohortFormatError(f"column {info.name}: unknown type {info.type!r}")


def _booleans(present, text, info: ColumnInfo, refuse, first_line: int) -> pd.Series:
    import pandas as pd  # deferred: see the imports above

    codes = present.map(code)
    if info.coded:
        meaning = {code(v): True for v in info.event_values}
        meaning |= {code(v): False for v in info.censored_values}
        expected = (
            f"is neither an event value ({', '.join(info.event_values)}) nor a censored "
            f"value ({', '.join(info.censored_values)})"
        )
    else:
        meaning = {c: True for c in TRUE_CODES} | {c: False for c in FALSE_CODES}
        expected = "is not true or false (true/false, 1/0, yes/no)"
        if info.role == "event" and not set(codes) <= set(meaning):
            raise CohortFormatError(
                _undeclared_event_message(info.name, present, codes, first_line)
            )
    bad = present[~codes.isin(meaning)]
    if len(bad):
        refuse(bad, expected)
    result = pd.Series(pd.NA, index=text.index, dtype="boolean")
    result[present.index] = codes.map(meaning).astype(bool).to_numpy()
    return result


def _undeclared_event_message(
    name: str, present, codes, first_line: int, *, lead: str = "is the event"
) -> str:
    """How to declare the coding of an event column read without one."""
    distinct = sorted(set(codes), key=lambda c: (not c.lstrip("-").isdigit(), c))
    odd = present[~codes.isin(TRUE_CODES | FALSE_CODES)]
    if set(codes) <= {"1", "2"}:
        kind = "looks 1/2-coded (values 1, 2)"
        event, censored = "2", "1"
        hint = " (R's survival convention is 1 = censored, 2 = event)"
    else:
        kind = f"holds {', '.join(map(repr, distinct[:6]))}"
        event = next((c for c in distinct if c in EVENT_WORDS), distinct[-1])
        censored = ",".join(c for c in distinct if c != event)
        hint = ""
    return (
        f"column {name} {lead} column but {kind} and its coding is not declared"
        f"{hint}: ExoTrack will not guess which value is the event (line "
        f"{int(odd.index[0]) + first_line}: {odd.iloc[0]!r}). Declare it in the "
        f'dictionary ("event_values": ["{event}"], "censored_values": '
        f"[{', '.join(json.dumps(c) for c in censored.split(','))}]) or in the file's header "
        f"(# column {name}: boolean role=event event={event} censored={censored})"
    )


def parse_number(value) -> float:
    """Python's float() (exact repr round trip: pandas' fast text parser can be off in the
    last bit); NaN for anything that is not a number. The one number reader of a cohort
    file (analysis.cohort.exact_numbers maps it over a column)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
