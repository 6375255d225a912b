"""A plate's QC as the analysis will see it, laid out for the bench.

The decisions come from analysis.qc (the same pure functions the analysis runs
use, with the same settings), so what the technician sees excluded here is
exactly what the statistics leave out. This module only arranges the result:
a heat map over the plate, one row per replicate group, the exclusions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

import pandas as pd
from django.conf import settings

from analysis.qc import apply_replicate_qc, ntc_contamination, summarise_replicates
from biobank.models import QpcrPlate, ReverseTranscription, Well, position_label
from biobank.selectors.wells import wells_frame


def qc_settings() -> dict[str, float]:
    options = settings.EXOTRACK
    return {
        "cq_cutoff": options["CQ_CUTOFF"],
        "max_distance": options["REPLICATE_MAX_DISTANCE"],
    }


def _number(value) -> float | None:
    """A float, or None for NaN / NA (the frame's 'no value')."""
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class QcWell:
    well_id: int
    position: str
    kind: str
    sample: str  # RT product code, or 'NTC'
    target: str
    replicate: int
    cq: float | None
    undetermined: bool
    excluded: bool
    reason: str
    source: str  # 'auto', 'manual' or ''
    heat: float | None  # 0 (lowest Cq on the plate) .. 1 (highest); None without a usable Cq
    multiplex: bool = False  # another assay's well shares the position

    @property
    def query(self) -> str:
        """The QC page's address part choosing this well: ?well=B7, plus the assay where
        the position holds several (multiplex)."""
        query = f"well={self.position}"
        return f"{query}&assay={quote(self.target)}" if self.multiplex else query


@dataclass(frozen=True)
class QcGroup:
    sample: str
    target: str
    patient: str
    timepoint: str
    wells: list[QcWell]
    mean_cq: float | None
    sd_cq: float | None
    spread: float | None  # highest minus lowest determined Cq of the replicates
    n_accepted: int
    n_wells: int
    flag: str


@dataclass(frozen=True)
class PlateQc:
    plate: QpcrPlate
    # ('A', [[the wells at A1], [at A2], ...]): one well per position, or one per assay
    # at a multiplex position; [] where there is none.
    rows: list[tuple[str, list[list[QcWell]]]]
    column_numbers: list[int]
    groups: list[QcGroup]
    ntc_flags: list[str]
    cq_low: float | None
    cq_high: float | None
    cq_cutoff: float
    max_distance: float

    @property
    def wells(self) -> list[QcWell]:
        return [well for _label, row in self.rows for cell in row for well in cell]

    @property
    def multiplex_targets(self) -> list[str]:
        """The assays at positions holding several ([] on a singleplex plate)."""
        return sorted({well.target for well in self.wells if well.multiplex})

    @property
    def exclusions(self) -> list[QcWell]:
        return [well for well in self.wells if well.excluded or well.source == "manual"]

    @property
    def flagged_groups(self) -> list[QcGroup]:
        return [group for group in self.groups if group.flag]


_CONTROL_NAMES = {"ntc": "NTC", "standard": "Standard"}  # wells that hold no RT product


def _sample_codes(sample_ids: Iterable) -> dict[int, str]:
    ids = {int(i) for i in sample_ids if i is not pd.NA and not pd.isna(i)}
    return dict(ReverseTranscription.objects.filter(pk__in=ids).values_list("pk", "code"))


def plate_qc(plate: QpcrPlate) -> PlateQc:
    """QC of one plate in two queries (its wells, their RT codes), whatever its size."""
    options = qc_settings()
    frame = apply_replicate_qc(wells_frame(plate_ids=[plate.pk], standards=True), **options)
    codes = _sample_codes(frame["sample_id"])
    usable = frame["cq"].where(~frame["undetermined"].astype(bool))
    low, high = _number(usable.min()), _number(usable.max())

    def heat(cq: float | None) -> float | None:
        if cq is None or low is None or high is None:
            return None
        return 0.5 if high == low else round((cq - low) / (high - low), 3)

    records = frame.to_dict("records")
    per_position = Counter(record["position"] for record in records)
    wells: dict[int, QcWell] = {}
    for record in records:
        cq = _number(record["cq"])
        undetermined = bool(record["undetermined"])
        sample_id = record["sample_id"]
        wells[int(record["well_id"])] = QcWell(
            well_id=int(record["well_id"]),
            position=record["position"],
            kind=record["kind"],
            sample=_CONTROL_NAMES.get(record["kind"]) or codes.get(int(sample_id), "?"),
            target=record["target"],
            replicate=int(record["replicate"]),
            cq=cq,
            undetermined=undetermined,
            excluded=bool(record["excluded"]),
            reason=str(record["exclusion_reason"] or ""),
            source=str(record["exclusion_source"] or ""),
            heat=None if undetermined else heat(cq),
            multiplex=per_position[record["position"]] > 1,
        )
    at: dict[str, list[QcWell]] = {}
    for well in sorted(wells.values(), key=lambda well: well.target):
        at.setdefault(well.position, []).append(well)

    n_rows, n_columns = plate.dimensions
    rows = [
        (
            position_label(row, 1)[0],
            [at.get(position_label(row, column), []) for column in range(1, n_columns + 1)],
        )
        for row in range(1, n_rows + 1)
    ]
    return PlateQc(
        plate=plate,
        rows=rows,
        column_numbers=list(range(1, n_columns + 1)),
        groups=_groups(frame, wells, codes),
        ntc_flags=[
            f"{row['target']}: {row['flag']}"
            for row in ntc_contamination(frame).to_dict("records")
            if row["flag"]
        ],
        cq_low=low,
        cq_high=high,
        **options,
    )


def _groups(frame: pd.DataFrame, wells: dict[int, QcWell], codes: dict[int, str]):
    if frame.empty:
        return []
    summary = summarise_replicates(frame)
    members: dict[tuple[int, str], list[QcWell]] = {}
    # Replicate groups are RT products': NTCs and standards hold none.
    for record in frame.loc[frame["kind"].ne("ntc") & frame["sample_id"].notna()].to_dict(
        "records"
    ):
        key = (int(record["sample_id"]), record["target"])
        members.setdefault(key, []).append(wells[int(record["well_id"])])
    groups = []
    for row in summary.to_dict("records"):
        key = (int(row["sample_id"]), row["target"])
        replicates = members.get(key, [])
        determined = [w.cq for w in replicates if w.cq is not None and not w.undetermined]
        groups.append(
            QcGroup(
                sample=codes.get(key[0], "?"),
                target=row["target"],
                patient="" if row["patient_id"] is pd.NA else str(row["patient_id"] or ""),
                timepoint="" if row["timepoint"] is pd.NA else str(row["timepoint"] or ""),
                wells=sorted(replicates, key=lambda w: w.replicate),
                mean_cq=_number(row["mean_cq"]),
                sd_cq=_number(row["sd_cq"]),
                spread=round(max(determined) - min(determined), 3) if determined else None,
                n_accepted=int(row["n_accepted"]),
                n_wells=int(row["n_wells"]),
                flag=str(row["flag"] or ""),
            )
        )
    return groups


def wells_at(plate: QpcrPlate, row: int, column: int) -> list[Well]:
    """The wells at one position: one, or one per assay at a multiplex position."""
    return list(
        plate.wells.filter(row=row, column=column).select_related("assay").order_by("assay__target")
    )
