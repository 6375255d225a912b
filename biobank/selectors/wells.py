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


def wells_frame(*, plate_ids=None, queryset=None) -> pd.DataFrame:
    """Every well (or those of `plate_ids`) with its patient, timepoint and assay role.

    Curator decisions come as `manual_excluded` (True / False / NA) and
    `manual_reason`, which analysis.qc lets win over its automatic rules.
    """
    wells = queryset if queryset is not None else Well.objects.all()
    if plate_ids is not None:
        wells = wells.filter(plate_id__in=plate_ids)
    rows = wells.order_by("plate_id", "row", "column").values_list(*WELL_FIELDS)
    frame = pd.DataFrame.from_records(list(rows), columns=list(WELL_FIELDS.values()))
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
