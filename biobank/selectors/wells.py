"""Wells as the analysis chain reads them: one DataFrame, one query."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

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


def _fetch_rows(rows) -> list[tuple]:
    """The rows of a values_list() query of plain fields, as Django would give them, in one
    fetch. Django converts every row in Python (a date, a 0/1 boolean on SQLite): at
    300,000 wells that loop was a third of loading them. Here each column that has
    converters is converted once per distinct value instead."""
    from django.db import connections

    compiler = rows.query.get_compiler(using=rows.db)
    sql, params = compiler.as_sql()
    expressions = [expression for expression, _, _ in compiler.select]
    if len(expressions) != len(WELL_FIELDS) or compiler.annotation_col_map:
        return list(rows)  # not plain fields: let Django map the columns
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    converters = compiler.get_converters(expressions)
    if not converters or not fetched:
        return fetched
    columns = list(zip(*fetched, strict=True))
    connection = connections[rows.db]
    for index, (functions, expression) in converters.items():
        converted = {}
        for value in set(columns[index]):
            new = value
            for convert in functions:
                new = convert(new, expression, connection)
            converted[value] = new
        columns[index] = [converted[value] for value in columns[index]]
    return list(zip(*columns, strict=True))


def wells_frame(*, plate_ids=None, queryset=None) -> pd.DataFrame:
    """Every well (or those of `plate_ids`) with its patient, timepoint and assay role.

    Curator decisions come as `manual_excluded` (True / False / NA) and
    `manual_reason`, which analysis.qc lets win over its automatic rules.
    """
    wells = queryset if queryset is not None else Well.objects.all()
    if plate_ids is not None:
        wells = wells.filter(plate_id__in=plate_ids)
    rows = _fetch_rows(wells.order_by("plate_id", "row", "column").values_list(*WELL_FIELDS))
    frame = pd.DataFrame.from_records(rows, columns=list(WELL_FIELDS.values()))
    letters = np.array(list(string.ascii_uppercase))
    frame["position"] = (
        letters[frame["row"].to_numpy(dtype=int) - 1].astype(object) + frame["column"].astype(str)
        if len(frame)
        else pd.Series(dtype=object)
    )
    frame["cq"] = frame["cq"].astype(float)
    frame["sample_id"] = frame["sample_id"].astype("Int64")
    frame["manual_excluded"] = frame["manual_excluded"].astype("boolean")
    frame["manual_reason"] = frame["manual_reason"].replace("", pd.NA)
    return frame
