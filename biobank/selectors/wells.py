"""Wells as the analysis chain reads them: one DataFrame, one query."""

from __future__ import annotations

import gc
import string

import numpy as np
import pandas as pd
from django.core.exceptions import EmptyResultSet
from django.db import connections

from biobank.models import Well

DRAW = "sample__rna__isolation__aliquot__draw"

# ORM path -> column name of the frame analysis.qc expects.
WELL_FIELDS = {
    "id": "well_id",
    "plate_id": "plate_id",
    "plate__barcode": "plate",
    "row": "row",
    "column": "column",
    "kind": "kind",
    "sample_id": "sample_id",
    f"{DRAW}__patient__study_id": "patient_id",
    f"{DRAW}__patient__withdrawn_on": "withdrawn_on",
    f"{DRAW}__timepoint": "timepoint",
    "assay__target": "target",
    "assay__role": "role",
    "replicate": "replicate",
    "cq": "cq",
    "excluded": "manual_excluded",
    "exclusion_reason": "manual_reason",
}
INTEGER_COLUMNS = ("well_id", "plate_id", "row", "column", "replicate")
TEXT_COLUMNS = ("plate", "kind", "patient_id", "timepoint", "target", "role", "manual_reason")
# Rows converted at a time: the database's Python objects live for one chunk only.
CHUNK_ROWS = 20_000


def _shared_text(values) -> np.ndarray:
    """An object array of `values` in which equal values are one object (a few hundred
    barcodes, study ids and assay names over hundreds of thousands of wells); None stays."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    out = np.full(len(codes), None, dtype=object)
    present = codes >= 0
    out[present] = np.asarray(uniques, dtype=object)[codes[present]]
    return out


def _chunk_columns(chunk: list[tuple]) -> dict[str, np.ndarray]:
    """One chunk of database rows as typed column arrays (column-wise, not per row)."""
    raw = dict(zip(WELL_FIELDS.values(), zip(*chunk, strict=True), strict=True))
    columns = {name: np.asarray(raw[name], dtype=np.int64) for name in INTEGER_COLUMNS}
    columns |= {name: _shared_text(raw[name]) for name in TEXT_COLUMNS}
    columns["sample_id"] = np.asarray(raw["sample_id"], dtype=object)
    columns["withdrawn_on"] = _shared_text(raw["withdrawn_on"])  # the drivers give dates
    columns["cq"] = np.asarray(raw["cq"], dtype=float)  # None -> NaN
    columns["manual_excluded"] = np.asarray(raw["manual_excluded"], dtype=object)
    return columns


def _fetch_columns(rows) -> dict[str, np.ndarray]:
    """Run the queryset's SQL on a plain cursor and convert the rows chunk by chunk,
    column-wise: the ORM's per-row converters and a list of every row's tuple cost
    more time and memory than the query itself at 300,000 wells and more."""
    names = list(WELL_FIELDS.values())
    try:
        sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    except EmptyResultSet:  # e.g. plate_ids=[]: nothing can match
        return {name: np.array([], dtype=object) for name in names}
    parts: list[dict[str, np.ndarray]] = []
    # The rows are tuples of plain values (no reference cycles to find), but creating
    # hundreds of thousands of them sets off the cycle collector again and again, each
    # pass walking every live object: a third of the load's time at 10,000 patients.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with connections[rows.db].cursor() as cursor:
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(CHUNK_ROWS):
                parts.append(_chunk_columns(chunk))
    finally:
        if collecting:
            gc.enable()
    if not parts:
        return {name: np.array([], dtype=object) for name in names}
    return {name: np.concatenate([part[name] for part in parts]) for name in names}


def _positions(row: pd.Series, column: pd.Series) -> pd.Series:
    """'A1'..'P24' per well, each distinct position built once and shared."""
    if not len(row):
        return pd.Series(dtype=object)
    letters = np.array(list(string.ascii_uppercase), dtype=object)
    key = row.to_numpy(dtype=np.int64) * 1000 + column.to_numpy(dtype=np.int64)
    codes, uniques = pd.factorize(key)
    labels = letters[uniques // 1000 - 1] + (uniques % 1000).astype(str).astype(object)
    return pd.Series(labels[codes], index=row.index, dtype=object)


def wells_frame(*, plate_ids=None, queryset=None, standards: bool = False) -> pd.DataFrame:
    """Every well (or those of `plate_ids`) with its patient, timepoint and assay role.

    Curator decisions come as `manual_excluded` (True / False / NA) and
    `manual_reason`, which analysis.qc lets win over its automatic rules.
    """
    # Standard-curve wells hold no sample: they feed the efficiency
    # (biobank.selectors.standard_curves), never the cohort or the paper's numbers; only a
    # plate's own QC page asks for them (`standards=True`), to show them on its heat map.
    wells = queryset if queryset is not None else Well.objects.all()
    if not standards:
        wells = wells.exclude(kind=Well.Kind.STANDARD)
    if plate_ids is not None:
        wells = wells.filter(plate_id__in=plate_ids)
    rows = wells.order_by("plate_id", "row", "column").values_list(*WELL_FIELDS)
    frame = pd.DataFrame(_fetch_columns(rows), columns=list(WELL_FIELDS.values()))
    frame["position"] = _positions(frame["row"], frame["column"])
    frame["cq"] = frame["cq"].astype(float)
    frame["sample_id"] = frame["sample_id"].astype("Int64")
    frame["manual_excluded"] = frame["manual_excluded"].astype("boolean")
    frame["manual_reason"] = frame["manual_reason"].replace("", pd.NA)
    return frame
