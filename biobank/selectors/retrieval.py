"""What a retrieval request may take, and the pick list of an approved one.

Eligibility of a tube for a request, every reason it is refused, in one query whatever
the number of tubes (`tubes_eligibility`):

- not stored: checked out, used up or discarded;
- consent withdrawn: its patient's `withdrawn_on` is set;
- QC fail, with the QC's own thresholds (analysis.thresholds.QcThresholds, overridden by
  settings.EXOTRACK["QC"] as the QC reads them): the draw graded moderate or gross
  haemolysis (rule haemolysis_grade, fail), its A414 above `a414_limit` (0.2, rule
  haemolysis_a414, fail), or the tube thawed more than `freeze_thaw_limit` times (rule
  freeze_thaw: a warning in the QC, a refusal here because a retrieval thaws it again);
- already reserved: a position is kept for it (it is out on a retrieval) or it is a
  tube of another approved request not yet returned;
- not enough volume: less than the request's minimum left;
- legal hold: an unreleased hold on the tube or on its patient.

The thresholds are read by biobank.selectors.qc_thresholds, as the cohort's QC reads
them (no pandas: a page must not load it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, Subquery

from biobank.models import (
    Aliquot,
    LegalHold,
    PositionReservation,
    RetrievalItem,
    RetrievalRequest,
    SerumDraw,
    position_label,
)
from biobank.selectors.qc_thresholds import qc_thresholds

QC_FAIL_GRADES = (SerumDraw.Haemolysis.MODERATE, SerumDraw.Haemolysis.GROSS)

HOLDING = (RetrievalItem.Status.APPROVED, RetrievalItem.Status.OUT)


@dataclass(frozen=True)
class Eligibility:
    aliquot: Aliquot
    reasons: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.reasons


def _annotated(tubes):
    active_holds = LegalHold.objects.filter(released_at__isnull=True)
    return tubes.select_related("draw__patient", "box__rack__freezer").annotate(
        tube_hold=Subquery(
            active_holds.filter(aliquot_id=OuterRef("pk")).order_by("pk").values("reason")[:1]
        ),
        patient_hold=Subquery(
            active_holds.filter(patient_id=OuterRef("draw__patient_id"))
            .order_by("pk")
            .values("reason")[:1]
        ),
        kept=Exists(PositionReservation.objects.filter(aliquot_id=OuterRef("pk"))),
    )


def _held_by_other_requests(aliquot_ids, exclude_request_id) -> dict[int, str]:
    """tube id -> the code of another approved request holding it (one query)."""
    items = RetrievalItem.objects.filter(
        aliquot_id__in=aliquot_ids,
        status__in=HOLDING,
        request__status=RetrievalRequest.Status.APPROVED,
    )
    if exclude_request_id:
        items = items.exclude(request_id=exclude_request_id)
    return dict(
        items.order_by("aliquot_id", "-request_id").values_list("aliquot_id", "request__code")
    )


def tubes_eligibility(
    aliquot_ids: Iterable[int], *, min_volume_ul=0, request: RetrievalRequest | None = None
) -> dict[int, Eligibility]:
    """Each tube's verdict for a request (`request` itself does not count as another
    request holding it), with every reason that refuses it. Two queries."""
    ids = sorted(set(aliquot_ids))
    if not ids:
        return {}
    limits = qc_thresholds()
    minimum = Decimal(str(min_volume_ul or 0))
    held = _held_by_other_requests(ids, request.pk if request else None)
    verdicts = {}
    for tube in _annotated(Aliquot.objects.filter(pk__in=ids)):
        reasons, draw, patient = [], tube.draw, tube.draw.patient
        if tube.status != Aliquot.Status.STORED:
            reasons.append(f"not stored: it is {tube.get_status_display().lower()}")
        if patient.withdrawn_on:
            reasons.append(
                f"consent withdrawn: patient {patient.study_id} withdrew on {patient.withdrawn_on}"
            )
        if draw.haemolysis in QC_FAIL_GRADES:
            reasons.append(f"QC fail: the draw was graded {draw.haemolysis} haemolysis")
        if draw.a414 is not None and draw.a414 > limits.a414_limit:
            reasons.append(
                f"QC fail: the draw's A414 {draw.a414:.3f} is above {limits.a414_limit:g}"
            )
        if tube.freeze_thaw_count > limits.freeze_thaw_limit:
            reasons.append(
                f"QC fail: thawed {tube.freeze_thaw_count} times, more than "
                f"{limits.freeze_thaw_limit}"
            )
        if tube.kept:
            reasons.append("already reserved: it is out on a retrieval, its position kept")
        elif tube.pk in held:
            reasons.append(f"already reserved for request {held[tube.pk]}")
        if tube.volume_ul < minimum:
            reasons.append(f"not enough volume: {tube.volume_ul} µl left, {minimum} µl asked")
        if tube.tube_hold:
            reasons.append(f"legal hold on the tube: {tube.tube_hold}")
        if tube.patient_hold:
            reasons.append(f"legal hold on patient {patient.study_id}: {tube.patient_hold}")
        verdicts[tube.pk] = Eligibility(aliquot=tube, reasons=reasons)
    return verdicts


def tubes_matching(*, study_ids: Iterable[str] = (), timepoint: str = "", min_volume_ul=0):
    """The stored tubes of these patients (and timepoint), with at least the volume:
    what a criteria request asks for, in barcode order."""
    tubes = Aliquot.objects.filter(
        draw__patient__study_id__in=sorted(set(study_ids)), status=Aliquot.Status.STORED
    )
    if timepoint:
        tubes = tubes.filter(draw__timepoint=timepoint)
    if min_volume_ul:
        tubes = tubes.filter(volume_ul__gte=min_volume_ul)
    return tubes.order_by("barcode")


# --- pages ---------------------------------------------------------------------------


def retrieval_requests(*, status: str = ""):
    found = RetrievalRequest.objects.select_related("requested_by", "decided_by")
    if status:
        found = found.filter(status=status)
    return found


def retrieval_request_by_id(pk: int) -> RetrievalRequest | None:
    return retrieval_requests().filter(pk=pk).first()


def request_items(request: RetrievalRequest):
    """The request's tubes with where they are, in barcode order (one query)."""
    return (
        request.items.select_related("aliquot__draw__patient", "aliquot__box__rack__freezer")
        .annotate(
            kept_box=Subquery(
                PositionReservation.objects.filter(aliquot_id=OuterRef("aliquot_id")).values(
                    "box__barcode"
                )[:1]
            ),
        )
        .order_by("aliquot__barcode")
    )


@dataclass(frozen=True)
class PickLine:
    item: RetrievalItem
    freezer: str
    rack: str
    box: str
    box_barcode: str
    position: str

    @property
    def aliquot(self) -> Aliquot:
        return self.item.aliquot


def pick_list(request: RetrievalRequest) -> list[PickLine]:
    """The approved tubes still in their boxes, in the order a technician walks the
    freezers: freezer, rack, box, row, column (one query)."""
    items = (
        request.items.filter(status=RetrievalItem.Status.APPROVED)
        .select_related("aliquot__draw__patient", "aliquot__box__rack__freezer")
        .filter(aliquot__box__isnull=False)
        .order_by(
            "aliquot__box__rack__freezer__name",
            "aliquot__box__rack__name",
            "aliquot__box__name",
            "aliquot__row",
            "aliquot__column",
        )
    )
    lines = []
    for item in items:
        box = item.aliquot.box
        lines.append(
            PickLine(
                item=item,
                freezer=box.rack.freezer.name,
                rack=box.rack.name,
                box=box.name,
                box_barcode=box.barcode,
                position=position_label(item.aliquot.row, item.aliquot.column),
            )
        )
    return lines


def legal_holds_of(aliquot: Aliquot):
    """The unreleased holds on a tube or on its patient (one query): its page shows them."""
    return (
        LegalHold.objects.filter(released_at__isnull=True)
        .filter(Q(aliquot_id=aliquot.pk) | Q(patient_id=aliquot.draw.patient_id))
        .select_related("placed_by", "patient", "aliquot")
    )


def legal_hold_by_id(pk: int) -> LegalHold | None:
    return LegalHold.objects.filter(pk=pk).first()
