"""The analysis-ready cohort table: one row a patient (pure functions, no ORM).

biobank.selectors.cohort loads the raw frames from the database;
`build_cohort_table` joins them here. The columns are documented in
docs/cohort.md (`paper_dictionary` says the same as data); `read_cohort_csv` /
`write_cohort_csv` round-trip them. A statistician's cohort from elsewhere is read
through its data dictionary (`read_cohort_file`, analysis.dictionary) and analysed the
same way.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .columns import (  # noqa: F401 - re-exported: the names are part of this module's API
    BASELINE_COLUMNS,
    BOOLEAN_COLUMNS,
    DATE_COLUMNS,
    EXPRESSION_SUFFIXES,
    INTEGER_COLUMNS,
    LINE_END,
    QC_SUFFIXES,
    STATUS_COLUMNS,
    SURVIVAL_COLUMNS,
    TEXT_COLUMNS,
    expression_columns,
)
from .csv_safety import neutralise_frame, restore_frame
from .dictionary import (
    EXPORT_DICTIONARY_LINE,
    FALSE_CODES,
    TRUE_CODES,
    CohortFormatError,
    ColumnInfo,
    DataDictionary,
    apply_dictionary,
    complete_dictionary,
    infer_dictionary,
    parse_header,
    parse_number,
)

# Days in an average month: survival is reported in months from TACE, as in the paper.
DAYS_PER_MONTH = 365.25 / 12


def extra_columns(table: pd.DataFrame) -> list[str]:
    """Columns ExoTrack does not define: kept, and usable by a plan as variables."""
    known = set(BASELINE_COLUMNS) | set(SURVIVAL_COLUMNS) | set(STATUS_COLUMNS)
    return [
        column
        for column in table.columns
        if column not in known and not any(column.endswith("_" + s) for s in EXPRESSION_SUFFIXES)
    ]


def disease_specific_survival(follow_ups: pd.DataFrame, tace_dates: pd.Series) -> pd.DataFrame:
    """Time from TACE to the last contact in months, and whether it was an HCC death.

    `follow_ups` has study_id, contact_date, status ('alive' | 'dead' | 'lost') and
    cause_of_death ('hcc' | 'other' | ''). Other deaths and the last contact censor.
    Patients without follow-up get no time (NA), never zero.
    """
    ordered = follow_ups.sort_values(["study_id", "contact_date"])
    last = ordered.groupby("study_id", sort=True).tail(1).set_index("study_id")
    frame = pd.DataFrame(index=tace_dates.index)
    frame["last_contact_date"] = last["contact_date"].reindex(frame.index)
    frame["vital_status"] = last["status"].reindex(frame.index)
    days = (pd.to_datetime(frame["last_contact_date"]) - pd.to_datetime(tace_dates)).dt.days
    frame["dss_months"] = (days / DAYS_PER_MONTH).round(3)
    died_of_hcc = last["status"].eq("dead") & last["cause_of_death"].eq("hcc")
    frame["dss_event"] = died_of_hcc.reindex(frame.index).astype("boolean")
    frame.loc[frame["last_contact_date"].isna(), "dss_event"] = pd.NA
    return frame


def build_cohort_table(
    patients: pd.DataFrame,
    follow_ups: pd.DataFrame,
    expression: pd.DataFrame,
    draw_status: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Join baseline, per-patient expression and survival into one row a patient.

    `patients` holds the baseline columns (BASELINE_COLUMNS but hbv, which is
    derived here); `expression` is analysis.pipeline.normalise_wells' per_patient
    (one row a patient_id): its value and QC columns are kept (the reasons for missing
    values stay in the QC tables). `draw_status` (study_id, baseline_present,
    pre_drawn, post_drawn) says which patients have what, for inclusion criteria.
    """
    table = patients.copy().set_index("study_id", drop=False)
    table["hbv"] = table["etiology"].isin(["HBV", "HBV+HCV"])
    table = table[BASELINE_COLUMNS]
    if draw_status is not None:
        status = draw_status.set_index("study_id")[STATUS_COLUMNS]
        table = table.join(status, how="left")
        for column in STATUS_COLUMNS:
            table[column] = table[column].astype("boolean").fillna(False)
    if "patient_id" in expression.columns:
        expression = expression.set_index("patient_id")
    if len(expression):
        prefixes = sorted(
            {c.rsplit("_", 2)[0] for c in expression.columns if c.endswith("_pre_dcq")}
        )
        wanted = [c for c in expression_columns(prefixes) if c in expression.columns]
        table = table.join(expression[wanted], how="left")
    survival = disease_specific_survival(follow_ups, table["tace_date"])
    table = table.join(survival, how="left")
    return normalise_types(table.reset_index(drop=True))


def is_text_column(column: str) -> bool:
    """Text whatever its values look like: known codes and every QC column."""
    return column in TEXT_COLUMNS or column.endswith(QC_SUFFIXES)


def normalise_types(table: pd.DataFrame) -> pd.DataFrame:
    """One set of dtypes whatever the source (database or CSV), so a round trip
    gives identical frames, fingerprints and results."""
    table = table.copy()
    for column in table.columns:
        if is_text_column(column):
            # '' and missing are one thing in a CSV: keep them one thing everywhere.
            table[column] = table[column].astype("string").replace("", pd.NA)
        elif column in BOOLEAN_COLUMNS:
            table[column] = table[column].map(_as_bool, na_action="ignore").astype("boolean")
        elif column in DATE_COLUMNS:
            table[column] = pd.to_datetime(table[column]).dt.date.astype("string")
        elif column in INTEGER_COLUMNS:
            table[column] = exact_numbers(table[column]).astype("Int64")
        elif table[column].dtype == object or str(table[column].dtype) == "string":
            numeric = exact_numbers(table[column])
            if numeric.notna().sum() == table[column].notna().sum():
                table[column] = numeric.astype(float)
            else:
                table[column] = table[column].astype("string")
        elif table[column].dtype == bool:
            table[column] = table[column].astype("boolean")
        else:
            table[column] = pd.to_numeric(table[column]).astype(float)
    return table.sort_values("study_id", kind="stable").reset_index(drop=True)


def exact_numbers(values: pd.Series) -> pd.Series:
    """Floats parsed as analysis.dictionary.parse_number does; anything unreadable is NaN."""
    return values.map(parse_number, na_action="ignore").astype(float)


def _as_bool(value):
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_CODES:
        return True
    if text in FALSE_CODES:
        return False
    raise ValueError(f"{value!r} is not true or false")


class Fingerprinter:
    """SHA-256 of a table's rows and columns in a canonical form (columns sorted by
    name, rows by study_id, floats to 10 significant digits), fed chunk by chunk:
    chunks given in study_id order hash exactly as the whole table would, so a
    streamed export can state the fingerprint of everything it sends."""

    def __init__(self):
        self._hash = hashlib.sha256()
        self._columns: list[str] | None = None

    def update(self, chunk: pd.DataFrame) -> Fingerprinter:
        return self.feed(sorted(chunk.columns), self.canonical_text(chunk))

    @staticmethod
    def canonical_text(chunk: pd.DataFrame) -> str:
        """The text `update` hashes for `chunk` (kept by the cohort cache, so that a
        chunk an incremental rebuild left alone is hashed without formatting it again)."""
        canonical = chunk.sort_values("study_id").reindex(columns=sorted(chunk.columns))
        buffer = io.StringIO()
        canonical.to_csv(
            buffer, index=False, header=False, float_format="%.10g", lineterminator="\n"
        )
        return buffer.getvalue()

    def feed(self, columns: list[str], text: str) -> Fingerprinter:
        """Hash a chunk's canonical_text; `columns` are its sorted column names."""
        if self._columns is None:
            self._columns = columns
            self._hash.update((",".join(columns) + "\n").encode())
        elif columns != self._columns:
            raise ValueError("every chunk must have the same columns")
        self._hash.update(text.encode())
        return self

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 of exactly these rows and columns (see Fingerprinter)."""
    return Fingerprinter().update(table).hexdigest()


def write_cohort_csv(table: pd.DataFrame, stream, *, header_lines: Iterable[str] = ()) -> None:
    """The CSV export: comment lines ('# ...') then the table; missing values are empty.

    Spreadsheet-safe: text cells that a spreadsheet would run as a formula get a
    leading quote (analysis.csv_safety; read_cohort_csv takes it off again), and lines
    end in CRLF (RFC 4180), which makes the csv writer quote every value holding a
    line break or a bare carriage return. With LF line ends a value "x\r=cmd(...)"
    would be written unquoted and a spreadsheet would start a new row, and a
    formula, at the carriage return."""
    for line in header_lines:
        stream.write(f"# {line}{LINE_END}")
    # Full precision (Python's shortest round-trip repr): an import gives identical floats.
    neutralise_frame(table).to_csv(stream, index=False, lineterminator=LINE_END)


# Line end of the CSV export (see write_cohort_csv; defined in analysis.columns); the
# reader takes any.
_LINE_END = re.compile(r"\r\n|\r|\n")


def read_cohort_csv(stream) -> pd.DataFrame:
    """Read a cohort CSV in the paper's columns (our export), skipping leading '# ' lines.

    study_id is required and unique; known columns get their types back (an
    unreadable value is refused naming its row and column); unknown columns are
    kept as extra variables. Text cells our export neutralised against spreadsheet
    formulas (a leading quote, analysis.csv_safety) are read back as they were.
    A file from elsewhere is read through its dictionary: read_cohort_file.
    """
    raw, _, skipped = _read_raw(stream)
    if "study_id" not in raw.columns:
        raise CohortFormatError("the table has no study_id column")
    _check_unique_ids(raw)
    return _paper_typed(raw, skipped)


@dataclass
class CohortFile:
    """A cohort file read through its dictionary: the analysis frame, the dictionary
    that typed it (complete: one entry a column), and the file's cells as text with the
    study_id it was given (what an imported dataset stores, to be read again through
    the same dictionary)."""

    table: pd.DataFrame
    dictionary: DataDictionary
    raw: pd.DataFrame


def read_cohort_file(stream, *, dictionary: DataDictionary | None = None) -> CohortFile:
    """Read any cohort CSV through a data dictionary (analysis.dictionary): the one given
    (a companion JSON), else the one its header declares, else one inferred from the
    table (source "inferred": the caller shows it for confirmation before using it).

    A file without study_id takes its patient ids from the column the dictionary gives
    the id role, else from the row numbers (R's datasets have no id column). Values that
    do not fit are refused naming column, line and value; an error met while applying an
    inferred dictionary carries it, for the user to correct and declare."""
    raw, comments, skipped = _read_raw(stream)
    declared = dictionary or parse_header(comments)
    if "study_id" not in raw.columns:
        ids = declared.with_role("id") if declared else []
        ids = [c for c in ids if c in raw.columns]
        raw.insert(0, "study_id", raw[ids[0]] if ids else [str(i) for i in range(1, len(raw) + 1)])
    _check_unique_ids(raw)
    first_line = skipped + 2  # 1-based: after the comments and the header row
    if declared is None:
        inferred = infer_dictionary(raw)
        try:
            table = apply_dictionary(raw, inferred, first_line=first_line)
        except CohortFormatError as error:
            raise CohortFormatError(str(error), dictionary=inferred) from error
        return CohortFile(_by_study_id(table), inferred, raw)
    if declared.source == "paper":
        return CohortFile(_paper_typed(raw, skipped), paper_dictionary(raw.columns), raw)
    complete = complete_dictionary(declared, raw, first_line=first_line)
    table = apply_dictionary(raw, complete, first_line=first_line)
    return CohortFile(_by_study_id(table), complete, raw)


def _read_raw(stream) -> tuple[pd.DataFrame, list[str], int]:
    """The table's cells as text (formula escapes taken off), the leading comment lines
    without their '#', and how many there were."""
    text = stream.read()
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    body, comments = _without_comments(text)
    if not body.strip():
        raise CohortFormatError("the file holds no table")
    try:
        raw = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as error:
        raise CohortFormatError(f"not a CSV table: {error}") from error
    return restore_frame(raw), comments, len(comments)


def _check_unique_ids(raw: pd.DataFrame) -> None:
    duplicated = raw["study_id"][raw["study_id"].duplicated()]
    if len(duplicated):
        raise CohortFormatError(f"study_id {duplicated.iloc[0]!r} appears twice")


def _by_study_id(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values("study_id", kind="stable").reset_index(drop=True)


def _paper_typed(raw: pd.DataFrame, skipped: int) -> pd.DataFrame:
    """The paper's columns typed as the live cohort has them (normalise_types), so our
    export re-imports to identical frames and fingerprints."""
    for column in raw.columns:
        if is_text_column(column) or column in DATE_COLUMNS:
            continue
        values = raw[column].dropna()
        if column in BOOLEAN_COLUMNS:
            bad = values[~values.str.strip().str.lower().isin(TRUE_CODES | FALSE_CODES)]
        elif column in INTEGER_COLUMNS or column in _known_numeric_columns():
            bad = values[exact_numbers(values).isna()]
        else:
            continue
        if len(bad):
            row = int(bad.index[0]) + skipped + 2  # 1-based, after comments and the header
            raise CohortFormatError(
                f"line {row}, column {column}: {bad.iloc[0]!r} is not a valid value"
            )
    for column in DATE_COLUMNS & set(raw.columns):
        parsed = pd.to_datetime(raw[column], errors="coerce")
        bad = raw[column][parsed.isna() & raw[column].notna()]
        if len(bad):
            row = int(bad.index[0]) + skipped + 2
            raise CohortFormatError(f"line {row}, column {column}: {bad.iloc[0]!r} is not a date")
    return normalise_types(raw)


def _without_comments(text: str) -> tuple[str, list[str]]:
    """The text after its leading '#' lines, and those lines without their '#'."""
    comments = []
    while text.startswith("#"):
        end = _LINE_END.search(text)
        comments.append(text[1 : len(text) if end is None else end.start()])
        text = "" if end is None else text[end.end() :]
    return text, comments


def _known_numeric_columns() -> set[str]:
    numeric = set(BASELINE_COLUMNS) - TEXT_COLUMNS - BOOLEAN_COLUMNS - DATE_COLUMNS
    return numeric | {"dss_months"}


def export_header_lines(table: pd.DataFrame, *, exported_at: str) -> list[str]:
    """The lines that head every export: what it is, its fingerprint, when."""
    return [
        "ExoTrack analysis-ready cohort (one row a patient; withdrawn patients left out)",
        f"fingerprint: sha256:{fingerprint(table)}",
        f"exported_at: {exported_at}",
        f"patients: {len(table)}",
        EXPORT_DICTIONARY_LINE,
    ]


# ---------------------------------------------------------------- the paper's dictionary

# (label, unit) of the baseline and survival columns, as the paper's tables print them.
_PAPER_NUMBERS = {
    "age_years": ("Age", "years"),
    "ast_iu_l": ("AST", "IU/l"),
    "alt_iu_l": ("ALT", "IU/l"),
    "hba1c_percent": ("HbA1c", "%"),
    "total_bilirubin_mg_dl": ("Total bilirubin", "mg/dl"),
    "albumin_g_dl": ("Albumin", "g/dl"),
    "pt_percent": ("Prothrombin time activity", "%"),
    "platelets_1e4_ul": ("Platelets", "x10^4/µl"),
    "child_pugh_score": ("Child-Pugh score", ""),
    "afp_ng_ml": ("AFP", "ng/ml"),
    "dcp_mau_ml": ("DCP", "mAU/ml"),
    "tumour_diameter_cm": ("Tumour diameter", "cm"),
    "tumour_number": ("Number of tumours", ""),
}
# (label, levels, level labels) of the coded columns.
_PAPER_CATEGORIES = {
    "sex": ("Sex", ("M", "F"), ("male", "female")),
    "liver_background": (
        "Liver background",
        ("cirrhosis", "chronic_hepatitis"),
        ("cirrhosis", "chronic hepatitis"),
    ),
    "etiology": ("Etiology", ("HBV", "HCV", "HBV+HCV", "NBNC"), ()),
    "bclc_stage": ("BCLC stage", ("0", "A", "B", "C", "D"), ()),
    "ascites": ("Ascites", ("none", "slight", "moderate"), ()),
    "encephalopathy": (
        "Encephalopathy",
        ("none", "grade_1_2", "grade_3_4"),
        ("none", "grade 1-2", "grade 3-4"),
    ),
    "child_pugh_grade": ("Child-Pugh grade", ("A", "B", "C"), ()),
    "vital_status": ("Vital status at last contact", ("alive", "dead", "lost"), ()),
}
_PAPER_FLAGS = {
    "hbv": ("HBV infection", "variable"),
    "type2_diabetes": ("Type 2 diabetes", "variable"),
    "baseline_present": ("Baseline assessment recorded", "status"),
    "pre_drawn": ("PRE-TACE serum drawn", "status"),
    "post_drawn": ("POST-TACE serum drawn", "status"),
}
_PAPER_DATES = {"tace_date": "Date of the initial TACE", "last_contact_date": "Last contact"}
# Expression columns: label pattern ({mir} is "miR-122") and unit.
_EXPRESSION_LABELS = {
    "pre_dcq": "{mir} ΔCq, pre-TACE",
    "post_dcq": "{mir} ΔCq, post-TACE",
    "pre_rel": "{mir} relative expression, pre-TACE",
    "post_rel": "{mir} relative expression, post-TACE",
    "pre_log10": "{mir} log10 relative expression, pre-TACE",
    "post_log10": "{mir} log10 relative expression, post-TACE",
    "ratio": "{mir} ratio (post/pre)",
    "fold_change": "{mir} fold change (post vs pre)",
    "pre_qc": "{mir} QC status, pre-TACE",
    "post_qc": "{mir} QC status, post-TACE",
    "pre_qc_reasons": "{mir} QC reasons, pre-TACE",
    "post_qc_reasons": "{mir} QC reasons, post-TACE",
    "pre_qc_rules": "{mir} QC rules, pre-TACE",
    "post_qc_rules": "{mir} QC rules, post-TACE",
}


def mir_name(prefix: str) -> str:
    """The assay target's name from a column prefix: mir122 -> miR-122, mir21_5p -> miR-21-5p."""
    match = re.fullmatch(r"mir-?(\d+\w*)", prefix, flags=re.IGNORECASE)
    return f"miR-{match.group(1).replace('_', '-')}" if match else prefix


def paper_dictionary(columns: Iterable[str] | None = None) -> DataDictionary:
    """The live cohort's dictionary (docs/cohort.md): labels and units as the paper
    prints them, types as normalise_types gives them, dss_event's coding, survival in
    months. With `columns`, exactly those columns (the miRNA ones by their prefix; a
    column the paper does not define is described as normalise_types reads it: numeric
    when every value is a number, else text)."""
    if columns is None:
        columns = [*BASELINE_COLUMNS, *STATUS_COLUMNS, *SURVIVAL_COLUMNS]
    return DataDictionary(
        {name: _paper_column(name) for name in columns}, time_unit="months", source="paper"
    )


def _paper_column(name: str) -> ColumnInfo:
    if name == "study_id":
        return ColumnInfo(name, "id", "id", label="Study ID")
    if name in _PAPER_NUMBERS:
        label, unit = _PAPER_NUMBERS[name]
        return ColumnInfo(name, "numeric", unit=unit, label=label)
    if name in _PAPER_CATEGORIES:
        label, levels, level_labels = _PAPER_CATEGORIES[name]
        return ColumnInfo(
            name, "categorical", label=label, levels=levels, level_labels=level_labels
        )
    if name in _PAPER_FLAGS:
        label, role = _PAPER_FLAGS[name]
        return ColumnInfo(name, "boolean", role, label=label)
    if name in _PAPER_DATES:
        return ColumnInfo(name, "date", label=_PAPER_DATES[name])
    if name == "dss_months":
        return ColumnInfo(name, "numeric", "time", unit="months", label="Disease-specific survival")
    if name == "dss_event":
        return ColumnInfo(
            name,
            "boolean",
            "event",
            label="HCC-related death",
            event_values=("True",),
            censored_values=("False",),
        )
    for suffix, pattern in _EXPRESSION_LABELS.items():
        prefix = name.removesuffix("_" + suffix)
        if prefix != name and "_" not in prefix.removeprefix("mir"):
            label = pattern.format(mir=mir_name(prefix))
            if suffix.endswith("_qc"):
                return ColumnInfo(name, "categorical", "qc", label=label, levels=QC_LEVELS)
            if suffix.endswith(QC_SUFFIXES):
                return ColumnInfo(name, "text", "qc", label=label)
            return ColumnInfo(name, "numeric", label=label)
    return ColumnInfo(name, "text" if is_text_column(name) else "numeric")


QC_LEVELS = ("pass", "warn", "fail")
