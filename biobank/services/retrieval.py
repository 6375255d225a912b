"""Retrieval requests: ask for tubes, a curator decides, the pick list is checked out
and the tubes come back to the positions kept for them.

    request_create     tubes by barcode, or criteria (patients, timepoint, volume)
                       resolved to tubes now and recorded
    request_submit     the requester hands it to the curators
    request_approve    a curator; eligibility is checked again and only the eligible
                       tubes kept, each refused one with its reasons (stored evidence)
    request_reject     a curator, saying why
    request_cancel     the requester or a curator, before any tube is out
    pick_list_check_out  the scanned tubes of the pick list leave (bulk check-out); each
                       vacated position is kept for its tube (PositionReservation)
    pick_list_check_in   they come back to their kept positions (bulk check-in, which
                       frees them); the request is fulfilled when no approved tube is
                       left to pick and none is out
    legal_hold_place / legal_hold_release   a curator keeps a tube's or a patient's
                       serum in the freezer, and lets it go

Every service locks the request row first, then the tubes in pk order, and writes in a
constant number of queries whatever the number of tubes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from biobank.models import (
    Aliquot,
    LegalHold,
    Patient,
    PositionReservation,
    RetrievalItem,
    RetrievalRequest,
    SerumDraw,
)
from biobank.selectors.retrieval import tubes_eligibility, tubes_matching

from .bulk import BulkOutcome, TubeOutcome, aliquots_check_in, aliquots_check_out

ReqStatus = RetrievalRequest.Status
ItemStatus = RetrievalItem.Status
DECIDE = "biobank.decide_retrievalrequest"
HOLD = "biobank.add_legalhold"


def _text(value: str | None, *, field: str, what: str, limit: int = 300) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: f"Say {what}"})
    if len(value) > limit:
        raise ValidationError({field: f"At most {limit} characters are kept, not {len(value)}"})
    return value


def _volume(value) -> Decimal:
    try:
        volume = Decimal(str(value or 0))
    except InvalidOperation:
        raise ValidationError({"min_volume_ul": f"{value!r} is not a volume in µl"}) from None
    if volume < 0 or not volume.is_finite():
        raise ValidationError({"min_volume_ul": "The minimum volume cannot be negative"})
    return volume


def _lines(values: Iterable[str] | str | None) -> list[str]:
    """Barcodes or study ids as typed or scanned: one per line or separated by commas or
    spaces, blanks dropped, first occurrence kept."""
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    seen: dict[str, None] = {}
    for value in values or ():
        value = (value or "").strip()
        if value:
            seen.setdefault(value, None)
    return list(seen)


def _lock(request: RetrievalRequest) -> RetrievalRequest:
    return RetrievalRequest.objects.select_for_update().get(pk=request.pk)


def _require(request: RetrievalRequest, *allowed: str, action: str) -> None:
    if request.status not in allowed:
        raise ValidationError(
            {
                "status": f"Request {request.code} is {request.get_status_display().lower()}; "
                f"it cannot be {action}"
            }  # fmt: skip
        )


def _require_perm(user, perm: str, what: str) -> None:
    if not user.has_perm(perm):
        raise ValidationError({"user": f"Only a curator may {what}"})


@transaction.atomic
def request_create(
    *,
    user,
    purpose: str,
    barcodes: Iterable[str] | str | None = None,
    study_ids: Iterable[str] | str | None = None,
    timepoint: str = "",
    min_volume_ul=0,
    submit: bool = False,
) -> RetrievalRequest:
    """A request for tubes named by barcode, or for the stored tubes of patients (and a
    timepoint) with at least `min_volume_ul` left. Unknown barcodes or study ids are
    refused by name and nothing is saved. Constant queries."""
    purpose = _text(purpose, field="purpose", what="what the tubes are for")
    minimum = _volume(min_volume_ul)
    codes, patients = _lines(barcodes), _lines(study_ids)
    if bool(codes) == bool(patients):
        raise ValidationError(
            {"barcodes": "Name the tubes by barcode, or give patients' study ids; not both"}
        )
    if timepoint and timepoint not in SerumDraw.Timepoint.values:
        raise ValidationError(
            {
                "timepoint": f"Timepoint {timepoint!r} is not one of {', '.join(SerumDraw.Timepoint.values)}"
            }
        )
    if codes:
        found = dict(Aliquot.objects.filter(barcode__in=codes).values_list("barcode", "pk"))
        unknown = [code for code in codes if code not in found]
        if unknown:
            raise ValidationError({"barcodes": f"No tube has barcode {', '.join(unknown)}"})
        tube_ids = [found[code] for code in codes]
        criteria = {"barcodes": codes}
    else:
        known = set(
            Patient.objects.filter(study_id__in=patients).values_list("study_id", flat=True)
        )
        unknown = [study_id for study_id in patients if study_id not in known]
        if unknown:
            raise ValidationError({"study_ids": f"No patient has study id {', '.join(unknown)}"})
        tube_ids = list(
            tubes_matching(
                study_ids=patients, timepoint=timepoint, min_volume_ul=minimum
            ).values_list("pk", flat=True)
        )
        if not tube_ids:
            raise ValidationError(
                {
                    "study_ids": "No stored tube of these patients"
                    + (f" at {timepoint}" if timepoint else "")
                    + (f" holds {minimum} µl" if minimum else "")
                }  # fmt: skip
            )
        criteria = {"study_ids": patients, "timepoint": timepoint, "resolved": len(tube_ids)}
    criteria["min_volume_ul"] = str(minimum)
    request = RetrievalRequest.objects.create(
        code=f"new-{uuid.uuid4().hex[:24]}",
        purpose=purpose,
        requested_by=user,
        requested_at=timezone.now(),
        status=ReqStatus.SUBMITTED if submit else ReqStatus.DRAFT,
        min_volume_ul=minimum,
        criteria=criteria,
    )
    request.code = f"RQ-{request.pk:05d}"
    RetrievalRequest.objects.filter(pk=request.pk).update(code=request.code)
    RetrievalItem.objects.bulk_create(
        RetrievalItem(request=request, aliquot_id=pk) for pk in tube_ids
    )
    return request


@transaction.atomic
def request_submit(*, request: RetrievalRequest, user) -> RetrievalRequest:
    request = _lock(request)
    if request.requested_by_id != user.pk:
        _require_perm(user, DECIDE, "submit another person's request")
    _require(request, ReqStatus.DRAFT, action="submitted")
    request.status = ReqStatus.SUBMITTED
    request.save(update_fields=["status"])
    return request


def _decide(request: RetrievalRequest, user, status: str, note: str) -> None:
    request.status = status
    request.decided_by = user
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])


@transaction.atomic
def request_approve(*, request: RetrievalRequest, user, note: str = "") -> RetrievalRequest:
    """A curator approves: each tube is checked again now and only the eligible ones are
    kept; every refused one keeps its reasons on its item. Refused (nothing changes)
    when no tube is eligible: reject it instead. Constant queries."""
    _require_perm(user, DECIDE, "approve a request")
    note = (note or "").strip()[:300]
    request = _lock(request)
    _require(request, ReqStatus.SUBMITTED, action="approved")
    items = list(request.items.order_by("aliquot_id"))
    # The tubes, locked in pk order: a competing approval waits, then sees ours.
    list(
        Aliquot.objects.select_for_update()
        .filter(pk__in=[i.aliquot_id for i in items])
        .order_by("pk")
        .values_list("pk")
    )
    verdicts = tubes_eligibility(
        [item.aliquot_id for item in items], min_volume_ul=request.min_volume_ul, request=request
    )
    for item in items:
        verdict = verdicts[item.aliquot_id]
        item.eligible = verdict.eligible
        item.reasons = verdict.reasons
        item.status = ItemStatus.APPROVED if verdict.eligible else ItemStatus.REFUSED
    if not any(item.eligible for item in items):
        raise ValidationError(
            {
                "tubes": [
                    f"Aliquot {verdicts[item.aliquot_id].aliquot.barcode}: "
                    + "; ".join(item.reasons)
                    for item in items
                ]
            }  # fmt: skip
        )
    RetrievalItem.objects.bulk_update(items, ["eligible", "reasons", "status"])
    _decide(request, user, ReqStatus.APPROVED, note)
    return request


@transaction.atomic
def request_reject(*, request: RetrievalRequest, user, note: str) -> RetrievalRequest:
    _require_perm(user, DECIDE, "reject a request")
    note = _text(note, field="note", what="why the request is rejected")
    request = _lock(request)
    _require(request, ReqStatus.SUBMITTED, action="rejected")
    _decide(request, user, ReqStatus.REJECTED, note)
    return request


@transaction.atomic
def request_cancel(*, request: RetrievalRequest, user, note: str = "") -> RetrievalRequest:
    """The requester or a curator withdraws a request no tube of which is out."""
    request = _lock(request)
    if request.requested_by_id != user.pk:
        _require_perm(user, DECIDE, "cancel another person's request")
    _require(request, ReqStatus.DRAFT, ReqStatus.SUBMITTED, ReqStatus.APPROVED, action="cancelled")
    if request.items.filter(status=ItemStatus.OUT).exists():
        raise ValidationError(
            {"status": f"Tubes of request {request.code} are out; return them first"}
        )
    _decide(request, user, ReqStatus.CANCELLED, (note or "").strip()[:300])
    return request


# --- the pick list ------------------------------------------------------------------


def _merged(codes: list[str], refusals: dict[int, str], bulk: BulkOutcome | None, items):
    """The outcome of every scanned code, in scan order: ours (not on the list) or the
    bulk service's for the codes it was given."""
    passed = iter(bulk.outcomes if bulk else [])
    outcomes = []
    for index, code in enumerate(codes):
        if index in refusals:
            item = items.get(code)
            outcomes.append(
                TubeOutcome(
                    code=code,
                    aliquot=item.aliquot if item else None,
                    ok=False,
                    message=refusals[index],
                )
            )
        else:
            outcomes.append(next(passed))
    return outcomes


def _scanned(codes: Iterable[str] | str) -> list[str]:
    if isinstance(codes, str):
        codes = codes.split()
    return [code.strip() for code in codes if code and code.strip()]


def _items_by_code(request: RetrievalRequest, codes: Sequence[str]) -> dict[str, RetrievalItem]:
    items = request.items.filter(aliquot__barcode__in=set(codes)).select_related("aliquot")
    return {item.aliquot.barcode: item for item in items}


def _settle(request: RetrievalRequest) -> None:
    """Tubes used up or discarded while out count as consumed; the request is fulfilled
    when no approved tube is left to pick and none is out (two queries)."""
    request.items.filter(
        status=ItemStatus.OUT,
        aliquot__status__in=[Aliquot.Status.USED_UP, Aliquot.Status.DISCARDED],
    ).update(status=ItemStatus.CONSUMED)
    if not request.items.filter(status__in=[ItemStatus.APPROVED, ItemStatus.OUT]).exists():
        request.status = ReqStatus.FULFILLED
        request.save(update_fields=["status"])


@transaction.atomic
def pick_list_check_out(
    *, request: RetrievalRequest, codes: Iterable[str] | str, user, dry_run: bool = False
) -> BulkOutcome:
    """Check out the scanned tubes of an approved request's pick list in one go; each
    keeps its position (reason "retrieval <code>") until it returns. A tube not on the
    list, or no longer eligible (a legal hold placed since, consent withdrawn), is
    refused by name; the others are checked out. Constant queries."""
    request = _lock(request)
    _require(request, ReqStatus.APPROVED, action="picked")
    codes = _scanned(codes)
    items = _items_by_code(request, codes)
    refusals: dict[int, str] = {}
    for index, code in enumerate(codes):
        item = items.get(code)
        if item is None:
            refusals[index] = f"Aliquot {code} is not on the pick list of {request.code}"
        elif item.status == ItemStatus.OUT:
            refusals[index] = f"Aliquot {code} is already checked out for {request.code}"
        elif item.status != ItemStatus.APPROVED:
            refusals[index] = (
                f"Aliquot {code} is {item.get_status_display().lower()} on {request.code}; "
                "it is not to be picked"
            )
    wanted = {items[code].aliquot_id for i, code in enumerate(codes) if i not in refusals}
    # Lock the tubes (pk order) and read where they are before they leave.
    places = {
        pk: (box_id, row, column)
        for pk, box_id, row, column in Aliquot.objects.select_for_update()
        .filter(pk__in=wanted)
        .order_by("pk")
        .values_list("pk", "box_id", "row", "column")
    }
    verdicts = tubes_eligibility(wanted, min_volume_ul=0, request=request)
    for index, code in enumerate(codes):
        if index in refusals:
            continue
        reasons = [
            reason
            for reason in verdicts[items[code].aliquot_id].reasons
            if not reason.startswith("not stored")  # the bulk service says it better
        ]
        if reasons:
            refusals[index] = f"Aliquot {code} is no longer eligible: {'; '.join(reasons)}"
    passed = [code for index, code in enumerate(codes) if index not in refusals]
    bulk = None
    if passed:
        bulk = aliquots_check_out(
            codes=passed,
            user=user,
            reason=f"retrieval {request.code}: {request.purpose}"[:300],
            dry_run=dry_run,
        )
    outcomes = _merged(codes, refusals, bulk, items)
    applied = bool(bulk and bulk.applied)
    if applied:
        done = [items[outcome.code] for outcome in bulk.done]
        author = user if getattr(user, "is_authenticated", False) else None
        PositionReservation.objects.bulk_create(
            PositionReservation(
                box_id=places[item.aliquot_id][0],
                row=places[item.aliquot_id][1],
                column=places[item.aliquot_id][2],
                aliquot_id=item.aliquot_id,
                reason=f"retrieval {request.code}",
                retrieval_item=item,
                created_by=author,
            )
            for item in done
        )
        RetrievalItem.objects.filter(pk__in=[item.pk for item in done]).update(
            status=ItemStatus.OUT
        )
    return BulkOutcome(outcomes=outcomes, applied=applied)


@transaction.atomic
def pick_list_check_in(
    *, request: RetrievalRequest, codes: Iterable[str] | str, user, dry_run: bool = False
) -> BulkOutcome:
    """Return the scanned tubes of a request to the positions kept for them (bulk
    check-in, which frees the reservations). Constant queries."""
    request = _lock(request)
    _require(request, ReqStatus.APPROVED, action="returned to")
    codes = _scanned(codes)
    items = _items_by_code(request, codes)
    refusals: dict[int, str] = {}
    for index, code in enumerate(codes):
        item = items.get(code)
        if item is None:
            refusals[index] = f"Aliquot {code} is not on request {request.code}"
        elif item.status != ItemStatus.OUT:
            refusals[index] = (
                f"Aliquot {code} is {item.get_status_display().lower()} on {request.code}, not out"
            )
    passed = [code for index, code in enumerate(codes) if index not in refusals]
    bulk = None
    if passed:
        bulk = aliquots_check_in(
            placements=[(code, None) for code in passed],
            user=user,
            reason=f"back from retrieval {request.code}",
            dry_run=dry_run,
        )
    outcomes = _merged(codes, refusals, bulk, items)
    applied = bool(bulk and bulk.applied)
    if applied:
        RetrievalItem.objects.filter(
            pk__in=[items[outcome.code].pk for outcome in bulk.done]
        ).update(status=ItemStatus.RETURNED)
    if not dry_run:
        _settle(request)
    return BulkOutcome(outcomes=outcomes, applied=applied)


# --- legal holds --------------------------------------------------------------------


@transaction.atomic
def legal_hold_place(
    *, user, reason: str, patient: Patient | None = None, aliquot: Aliquot | None = None
) -> LegalHold:
    """A curator keeps a tube, or every tube of a patient, from any retrieval."""
    _require_perm(user, HOLD, "place a legal hold")
    reason = _text(reason, field="reason", what="why the serum is held")
    if (patient is None) == (aliquot is None):
        raise ValidationError({"aliquot": "Hold one tube or one patient"})
    return LegalHold.objects.create(
        patient=patient, aliquot=aliquot, reason=reason, placed_by=user, placed_at=timezone.now()
    )


@transaction.atomic
def legal_hold_release(*, hold: LegalHold, user) -> LegalHold:
    _require_perm(user, "biobank.change_legalhold", "release a legal hold")
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at:
        raise ValidationError(
            {"hold": f"The hold was already released on {hold.released_at:%Y-%m-%d}"}
        )
    hold.released_at = timezone.now()
    hold.released_by = user
    hold.save(update_fields=["released_at", "released_by"])
    return hold
