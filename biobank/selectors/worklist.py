"""Today's work for the home page: what waits for a technician's hands.

Each list is capped at LIST_LIMIT (oldest first, with the full count beside it)
and read in a fixed number of queries, so the home page stays fast however busy
the lab gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from biobank.models import QpcrPlate
from biobank.selectors.draws import draws_awaiting_aliquots
from biobank.selectors.plates import plates_awaiting_export
from biobank.selectors.samples import checked_out_aliquots

LIST_LIMIT = 25
QC_RECENT_PLATES = 20  # imported plates whose QC the home page checks, the newest first


@dataclass(frozen=True)
class QcProblem:
    plate: QpcrPlate
    flagged_groups: int
    ntc_flags: list[str]


@dataclass(frozen=True)
class Worklist:
    draws_to_aliquot: list
    draws_to_aliquot_total: int
    checked_out: list
    checked_out_total: int
    plates_awaiting_export: list
    qc_problems: list[QcProblem]


def qc_problems(limit: int = QC_RECENT_PLATES) -> list[QcProblem]:
    """Recently imported plates with a replicate group short of accepted wells or an
    amplifying no-template control, decided by analysis.qc."""
    # pandas (analysis.qc, the wells frame) only once there are plates to check: the
    # process serving the home page does not load it at start-up (issue 16).
    from analysis.qc import apply_replicate_qc, ntc_contamination, summarise_replicates
    from biobank.selectors.plate_qc import qc_settings
    from biobank.selectors.wells import wells_frame

    plates = list(
        QpcrPlate.objects.filter(status=QpcrPlate.Status.IMPORTED).order_by("-created_at")[:limit]
    )
    if not plates:
        return []
    frame = apply_replicate_qc(wells_frame(plate_ids=[p.pk for p in plates]), **qc_settings())
    if frame.empty:
        return []
    summary = summarise_replicates(frame)
    # summarise_replicates is per (RT product, assay); bring back the plate of each group.
    plate_of = frame.loc[frame["kind"].ne("ntc"), ["sample_id", "target", "plate_id"]]
    flagged = summary.loc[summary["flag"].ne(""), ["sample_id", "target"]].merge(
        plate_of.drop_duplicates(), on=["sample_id", "target"]
    )
    flagged_per_plate = flagged.groupby("plate_id").size().to_dict()
    ntc = ntc_contamination(frame)
    ntc = ntc.loc[ntc["flag"].ne("")]
    problems = []
    for plate in plates:
        ntc_flags = [
            f"{row.target}: {row.flag}"
            for row in ntc.loc[ntc["plate_id"].eq(plate.pk)].itertuples()
        ]
        count = int(flagged_per_plate.get(plate.pk, 0))
        if count or ntc_flags:
            problems.append(QcProblem(plate, count, ntc_flags))
    return problems


def _capped(queryset) -> tuple[list, int]:
    """The first LIST_LIMIT items and how many there are in all (two queries, always)."""
    return list(queryset[:LIST_LIMIT]), queryset.count()


def worklist() -> Worklist:
    draws, draws_total = _capped(draws_awaiting_aliquots())
    out, out_total = _capped(checked_out_aliquots())
    return Worklist(
        draws_to_aliquot=draws,
        draws_to_aliquot_total=draws_total,
        checked_out=out,
        checked_out_total=out_total,
        plates_awaiting_export=list(plates_awaiting_export()[:LIST_LIMIT]),
        qc_problems=qc_problems(),
    )
