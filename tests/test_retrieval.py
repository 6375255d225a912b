"""Retrieval requests: eligibility with every reason, the curator's decision kept as
evidence, the pick list in freezer order, check-out keeping the positions and the
return to them; and reserved positions are not free space."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.models import Aliquot, PositionReservation, RetrievalItem, RetrievalRequest
from biobank.selectors.boxes import box_grid, boxes_with_occupancy, storage_utilisation
from biobank.selectors.retrieval import pick_list, tubes_eligibility
from biobank.services.aliquots import aliquot_check_out
from biobank.services.retrieval import (
    legal_hold_place,
    legal_hold_release,
    pick_list_check_in,
    pick_list_check_out,
    request_approve,
    request_cancel,
    request_create,
    request_reject,
    request_submit,
)

from .factories import AliquotFactory, BoxFactory, PatientFactory, SerumDrawFactory

pytestmark = pytest.mark.django_db


def approved(technician, curator, tubes, **kwargs):
    request = request_create(
        user=technician, purpose="miR-122 validation", barcodes=[t.barcode for t in tubes],
        submit=True, **kwargs,
    )  # fmt: skip
    return request_approve(request=request, user=curator)


def reasons_of(tube, **kwargs):
    return tubes_eligibility([tube.pk], **kwargs)[tube.pk].reasons


def test_the_qc_thresholds_are_the_qcs_own(settings):
    """Eligibility reads the thresholds the cohort's QC reads, overrides included."""
    from biobank.selectors.cohort import qc_thresholds as cohort_thresholds

    settings.EXOTRACK = {**settings.EXOTRACK, "QC": {"a414_limit": 0.3}}
    tube = AliquotFactory(draw=SerumDrawFactory(a414=0.25))
    assert cohort_thresholds().a414_limit == 0.3
    assert not [r for r in reasons_of(tube) if "A414" in r]
    settings.EXOTRACK = {**settings.EXOTRACK, "QC": {}}
    assert [r for r in reasons_of(tube) if "A414" in r]


def test_each_reason_is_given(technician, curator, settings):
    assert reasons_of(AliquotFactory()) == []
    withdrawn = PatientFactory(withdrawn_on=dt.date(2012, 1, 1))
    tube = AliquotFactory(draw=SerumDrawFactory(treatment__patient=withdrawn))
    assert reasons_of(tube)[0].startswith("consent withdrawn: patient")
    assert "graded gross" in reasons_of(AliquotFactory(draw__haemolysis="gross"))[0]
    assert "A414 0.350 is above 0.2" in reasons_of(AliquotFactory(draw__a414=0.35))[0]
    assert reasons_of(AliquotFactory(draw__a414=0.15)) == []
    assert "thawed 2 times" in reasons_of(AliquotFactory(freeze_thaw_count=2))[0]
    settings.EXOTRACK = {**settings.EXOTRACK, "QC": {"freeze_thaw_limit": 2}}
    assert reasons_of(AliquotFactory(freeze_thaw_count=2)) == []
    low = AliquotFactory(volume_ul=Decimal("40"))
    assert reasons_of(low, min_volume_ul=50) == ["not enough volume: 40.0 µl left, 50 µl asked"]
    held = AliquotFactory()
    legal_hold_place(user=curator, reason="court order 12/3", aliquot=held)
    assert reasons_of(held) == ["legal hold on the tube: court order 12/3"]
    patient_held = AliquotFactory()
    hold = legal_hold_place(user=curator, reason="audit", patient=patient_held.draw.patient)
    assert "legal hold on patient" in reasons_of(patient_held)[0]
    legal_hold_release(hold=hold, user=curator)
    assert reasons_of(patient_held) == []
    out = aliquot_check_out(aliquot=AliquotFactory(), user=technician, reason="bench")
    assert reasons_of(out) == ["not stored: it is checked out"]
    taken = AliquotFactory()
    first = approved(technician, curator, [taken])
    assert reasons_of(taken) == [f"already reserved for request {first.code}"]
    pick_list_check_out(request=first, codes=[taken.barcode], user=technician)
    assert "already reserved: it is out on a retrieval" in " ".join(reasons_of(taken))


def test_only_a_curator_places_a_hold_or_decides(technician):
    with pytest.raises(ValidationError):
        legal_hold_place(user=technician, reason="x", aliquot=AliquotFactory())
    request = request_create(
        user=technician, purpose="p", barcodes=[AliquotFactory().barcode], submit=True
    )
    with pytest.raises(ValidationError):
        request_approve(request=request, user=technician)


def test_eligibility_of_96_tubes_is_constant_queries(curator):
    tubes = [AliquotFactory(row=1 + i // 12, column=1 + i % 12) for i in range(0, 8)]
    with CaptureQueriesContext(connection) as few:
        tubes_eligibility([t.pk for t in tubes])
    box = BoxFactory(rows=8, columns=12)
    many = [AliquotFactory(box=box, row=1 + i // 12, column=1 + i % 12) for i in range(96)]
    legal_hold_place(user=curator, reason="x", aliquot=many[5])
    with CaptureQueriesContext(connection) as lots:
        verdicts = tubes_eligibility([t.pk for t in many])
    assert len(lots) == len(few) == 2
    assert sum(not v.eligible for v in verdicts.values()) == 1


def test_create_by_barcode_refuses_unknown_and_changes_nothing(technician):
    with pytest.raises(ValidationError) as caught:
        request_create(user=technician, purpose="p", barcodes="AL-NOPE " + AliquotFactory().barcode)
    assert "AL-NOPE" in caught.value.message_dict["barcodes"][0]
    with pytest.raises(ValidationError) as caught:
        request_create(user=technician, purpose=" ", barcodes=[AliquotFactory().barcode])
    assert "purpose" in caught.value.message_dict
    assert not RetrievalRequest.objects.exists()


def test_create_by_criteria_resolves_and_records(technician):
    draw = SerumDrawFactory(timepoint="POST")
    box = BoxFactory()
    wanted = AliquotFactory(draw=draw, box=box, row=1, column=1)
    AliquotFactory(draw=draw, box=box, row=1, column=2, volume_ul=Decimal("10"))
    AliquotFactory(
        draw=SerumDrawFactory(treatment=draw.treatment, timepoint="PRE"), box=box, row=1, column=3
    )
    request = request_create(
        user=technician, purpose="p", study_ids=[draw.patient.study_id],
        timepoint="POST", min_volume_ul=100,
    )  # fmt: skip
    assert [i.aliquot_id for i in request.items.all()] == [wanted.pk]
    assert request.criteria["study_ids"] == [draw.patient.study_id]
    assert request.criteria["resolved"] == 1
    assert request.code.startswith("RQ-") and request.status == "draft"
    with pytest.raises(ValidationError) as caught:
        request_create(user=technician, purpose="p", study_ids=["T-NOBODY"])
    assert "T-NOBODY" in caught.value.message_dict["study_ids"][0]


def test_approval_keeps_only_the_eligible_and_explains_the_refused(technician, curator):
    good, low = AliquotFactory(), AliquotFactory(volume_ul=Decimal("20"))
    request = request_create(
        user=technician, purpose="p", barcodes=[good.barcode, low.barcode], min_volume_ul=50
    )
    with pytest.raises(ValidationError):
        request_approve(request=request, user=curator)  # still a draft
    request_submit(request=request, user=technician)
    request = request_approve(request=request, user=curator, note="ok")
    assert request.status == "approved" and request.decided_by == curator
    items = {i.aliquot_id: i for i in request.items.all()}
    assert items[good.pk].status == "approved" and items[good.pk].eligible
    assert items[low.pk].status == "refused" and "not enough volume" in items[low.pk].reasons[0]


def test_nothing_eligible_is_refused_and_rejection_says_why(technician, curator):
    low = AliquotFactory(volume_ul=Decimal("20"))
    request = request_create(
        user=technician, purpose="p", barcodes=[low.barcode], min_volume_ul=50, submit=True
    )
    with pytest.raises(ValidationError) as caught:
        request_approve(request=request, user=curator)
    assert low.barcode in caught.value.message_dict["tubes"][0]
    request.refresh_from_db()
    assert request.status == "submitted"
    with pytest.raises(ValidationError):
        request_reject(request=request, user=curator, note="")
    assert request_reject(request=request, user=curator, note="too little").status == "rejected"


def test_pick_list_is_in_freezer_rack_box_position_order(technician, curator):
    late = BoxFactory(rack__freezer__name="ULT-B", rack__name="R1", name="Box 1")
    early = BoxFactory(rack__freezer__name="ULT-A", rack__name="R2", name="Box 9")
    tubes = [
        AliquotFactory(box=late, row=1, column=1),
        AliquotFactory(box=early, row=2, column=1),
        AliquotFactory(box=early, row=1, column=5),
    ]
    request = approved(technician, curator, tubes)
    assert [line.aliquot.pk for line in pick_list(request)] == [
        tubes[2].pk, tubes[1].pk, tubes[0].pk,
    ]  # fmt: skip
    assert [line.position for line in pick_list(request)] == ["A5", "B1", "A1"]


def test_round_trip_keeps_and_frees_the_positions(technician, curator):
    box = BoxFactory(rows=2, columns=2)
    tubes = [AliquotFactory(box=box, row=1, column=c) for c in (1, 2)]
    stranger = AliquotFactory()
    request = approved(technician, curator, tubes)
    outcome = pick_list_check_out(
        request=request, codes=[t.barcode for t in tubes] + [stranger.barcode], user=technician
    )
    assert [o.ok for o in outcome.outcomes] == [True, True, False]
    assert "not on the pick list" in outcome.outcomes[2].message
    kept = PositionReservation.objects.order_by("column")
    assert [(r.box_id, r.row, r.column, r.reason) for r in kept] == [
        (box.pk, 1, 1, f"retrieval {request.code}"), (box.pk, 1, 2, f"retrieval {request.code}"),
    ]  # fmt: skip
    assert set(request.items.values_list("status", flat=True)) == {"out"}
    # Kept positions are not free space.
    assert box_grid(box).free_positions() == [(2, 1), (2, 2)]
    assert boxes_with_occupancy().get(pk=box.pk).n_free == 2
    usage = storage_utilisation()
    line = next(f for f in usage.freezers if f.label == box.rack.freezer.name)
    assert (line.stored, line.reserved, line.free) == (0, 2, 2)

    back = pick_list_check_in(request=request, codes=[tubes[0].barcode], user=technician)
    assert back.applied and back.outcomes[0].target.row == 1
    request.refresh_from_db()
    assert request.status == "approved"
    pick_list_check_in(request=request, codes=[tubes[1].barcode], user=technician)
    request.refresh_from_db()
    assert request.status == "fulfilled"
    assert not PositionReservation.objects.exists()
    assert [(t.row, t.column) for t in Aliquot.objects.filter(box=box).order_by("column")] == [
        (1, 1), (1, 2),
    ]  # fmt: skip


def test_a_hold_placed_after_approval_stops_the_check_out(technician, curator):
    tube = AliquotFactory()
    request = approved(technician, curator, [tube])
    legal_hold_place(user=curator, reason="subpoena", patient=tube.draw.patient)
    outcome = pick_list_check_out(request=request, codes=[tube.barcode], user=technician)
    assert not outcome.applied and "subpoena" in outcome.outcomes[0].message
    tube.refresh_from_db()
    assert tube.status == "stored" and not PositionReservation.objects.exists()


def test_check_out_and_in_of_96_tubes_is_constant_queries(technician, curator):
    def round_trip(n):
        box = BoxFactory(rows=8, columns=12)
        tubes = [AliquotFactory(box=box, row=1 + i // 12, column=1 + i % 12) for i in range(n)]
        request = approved(technician, curator, tubes)
        codes = [t.barcode for t in tubes]
        with CaptureQueriesContext(connection) as out:
            pick_list_check_out(request=request, codes=codes, user=technician)
        with CaptureQueriesContext(connection) as back:
            pick_list_check_in(request=request, codes=codes, user=technician)
        request.refresh_from_db()
        assert request.status == "fulfilled"
        return len(out), len(back)

    assert round_trip(3) == round_trip(96)


def test_a_request_with_tubes_out_cannot_be_cancelled(technician, curator):
    tube = AliquotFactory()
    request = approved(technician, curator, [tube])
    pick_list_check_out(request=request, codes=[tube.barcode], user=technician)
    with pytest.raises(ValidationError):
        request_cancel(request=request, user=technician)
    pick_list_check_in(request=request, codes=[tube.barcode], user=technician)
    assert RetrievalItem.objects.get().status == "returned"


def test_only_the_requester_or_a_curator_submits_or_cancels(technician, curator):
    from .factories import UserFactory

    other = UserFactory(groups=["technician"])
    request = request_create(user=technician, purpose="p", barcodes=[AliquotFactory().barcode])
    with pytest.raises(ValidationError):
        request_submit(request=request, user=other)
    with pytest.raises(ValidationError):
        request_cancel(request=request, user=other)
    assert request_submit(request=request, user=technician).status == "submitted"
    assert request_cancel(request=request, user=curator).status == "cancelled"
