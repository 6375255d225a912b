"""Moving a box's, a rack's or a freezer's tubes to the same places elsewhere: all or
nothing, a MOVE custody event per tube, kept places following, constant queries."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.models import Aliquot, PositionReservation, StorageEvent
from biobank.services.aliquots import Position, aliquot_check_out, aliquots_create
from biobank.services.storage_moves import box_contents_move, freezer_evacuate, rack_contents_move

from .factories import AliquotFactory, BoxFactory, FreezerFactory, RackFactory, SerumDrawFactory

pytestmark = pytest.mark.django_db


def fill(box, count, user, *, start=0):
    """`count` tubes in `box`, row by row from position number `start`."""
    places = [divmod(n, box.columns) for n in range(start, start + count)]
    draw = SerumDrawFactory(serum_volume_ul=Decimal(10 * count))
    return aliquots_create(
        draw=draw,
        volume_ul=10,
        user=user,
        positions=[Position(box, row + 1, column + 1) for row, column in places],
    )


def places(box):
    return set(Aliquot.objects.filter(box=box).values_list("barcode", "row", "column"))


def test_a_box_moves_to_the_same_positions_with_a_custody_event_each(technician, curator):
    source, target = BoxFactory(), BoxFactory()
    tubes = fill(source, 5, technician)
    before = places(source)
    plan = box_contents_move(source=source, target=target, user=curator, reason="box cracked")
    assert plan.applied and plan.tube_count == 5
    assert places(target) == before and not places(source)
    events = StorageEvent.objects.filter(kind="move").order_by("aliquot_id")
    assert [(e.aliquot_id, e.from_box_id, e.to_box_id, e.reason) for e in events] == [
        (tube.pk, source.pk, target.pk, "box cracked") for tube in sorted(tubes, key=lambda t: t.pk)
    ]
    assert all(e.from_row == e.to_row and e.from_column == e.to_column for e in events)
    history = Aliquot.history.filter(history_change_reason="box cracked", box_id=target.pk)
    assert history.count() == 5


def test_a_refusal_names_each_tube_and_position_and_moves_nothing(technician, curator):
    source, target = BoxFactory(rows=9, columns=9), BoxFactory(rows=5, columns=5)
    fill(source, 3, technician)  # A1, A2, A3
    deep = AliquotFactory(box=source, row=7, column=1, barcode="DEEP")
    AliquotFactory(box=target, row=1, column=2, barcode="SITTER")
    before = places(source)
    with pytest.raises(ValidationError) as caught:
        box_contents_move(source=source, target=target, user=curator, reason="tidy")
    messages = caught.value.message_dict["tubes"]
    assert any("DEEP" in m and "G1" in m and "5 x 5" in m for m in messages)
    assert any("A2" in m and "SITTER" in m for m in messages)
    assert len(messages) == 2
    assert places(source) == before and deep.events.filter(kind="move").count() == 0
    assert not StorageEvent.objects.filter(kind="move").exists()


def test_a_position_kept_for_another_tube_is_refused(technician, curator):
    source, target = BoxFactory(), BoxFactory()
    fill(source, 2, technician)
    away = AliquotFactory(box=target, row=1, column=1, barcode="AWAY")
    away = aliquot_check_out(aliquot=away, user=technician, reason="retrieval")
    PositionReservation.objects.create(box=target, row=1, column=1, aliquot=away, reason="R-7")
    with pytest.raises(ValidationError) as caught:
        box_contents_move(source=source, target=target, user=curator, reason="tidy")
    (message,) = caught.value.message_dict["tubes"]
    assert "A1" in message and "kept for aliquot AWAY" in message


def test_places_kept_in_the_source_follow_the_tubes(technician, curator):
    source, target = BoxFactory(), BoxFactory()
    fill(source, 2, technician)
    away = aliquot_check_out(
        aliquot=AliquotFactory(box=source, row=4, column=4), user=technician, reason="retrieval"
    )
    PositionReservation.objects.create(box=source, row=4, column=4, aliquot=away, reason="R-1")
    plan = box_contents_move(source=source, target=target, user=curator, reason="box cracked")
    assert plan.kept_places == 1
    kept = PositionReservation.objects.get()
    assert (kept.box_id, kept.row, kept.column) == (target.pk, 4, 4)


def test_the_reason_is_required_and_the_same_box_refused(technician, curator):
    box = BoxFactory()
    fill(box, 1, technician)
    with pytest.raises(ValidationError) as caught:
        box_contents_move(source=box, target=BoxFactory(), user=curator, reason=" ")
    assert "reason" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        box_contents_move(source=box, target=box, user=curator, reason="x")
    assert "target" in caught.value.message_dict


def test_a_dry_run_shows_the_plan_and_writes_nothing(technician, curator):
    source, target = BoxFactory(), BoxFactory()
    fill(source, 4, technician)
    AliquotFactory(box=target, row=1, column=1, barcode="SITTER")
    plan = box_contents_move(source=source, target=target, user=curator, reason="", dry_run=True)
    assert not plan.applied and plan.tube_count == 3 and len(plan.problems) == 1
    assert "SITTER" in plan.problems[0]
    assert not StorageEvent.objects.filter(kind="move").exists()


def test_racks_pair_their_boxes_by_name_and_refuse_an_unmatched_box(technician, curator):
    old, new = RackFactory(name="R-old"), RackFactory(name="R-new")
    a_old, b_old = BoxFactory(rack=old, name="A"), BoxFactory(rack=old, name="B")
    BoxFactory(rack=old, name="Empty")  # no partner, nothing in it: ignored
    a_new = BoxFactory(rack=new, name="A")
    fill(a_old, 2, technician)
    fill(b_old, 1, technician)
    with pytest.raises(ValidationError) as caught:
        rack_contents_move(source=old, target=new, user=curator, reason="rack retired")
    (message,) = caught.value.message_dict["tubes"]
    assert "Box B" in message and b_old.barcode in message and "R-new" in message
    b_new = BoxFactory(rack=new, name="B")
    plan = rack_contents_move(source=old, target=new, user=curator, reason="rack retired")
    assert plan.tube_count == 3
    assert len(places(a_new)) == 2 and len(places(b_new)) == 1


def test_a_freezer_is_evacuated_rack_by_rack_box_by_box(technician, curator):
    broken, spare = FreezerFactory(name="ULT-1"), FreezerFactory(name="ULT-2")
    boxes = {}
    for freezer in (broken, spare):
        for rack_name in ("R1", "R2"):
            rack = RackFactory(freezer=freezer, name=rack_name)
            for box_name in ("A", "B"):
                boxes[freezer.name, rack_name, box_name] = BoxFactory(rack=rack, name=box_name)
    for (freezer, _rack, _name), box in boxes.items():
        if freezer == "ULT-1":
            fill(box, 3, technician)
    plan = freezer_evacuate(source=broken, target=spare, user=curator, reason="compressor failed")
    assert plan.tube_count == 12
    assert not Aliquot.objects.filter(box__rack__freezer=broken).exists()
    for rack in ("R1", "R2"):
        for name in ("A", "B"):
            assert len(places(boxes["ULT-2", rack, name])) == 3
    assert StorageEvent.objects.filter(kind="move", reason="compressor failed").count() == 12


def test_an_unmatched_rack_refuses_the_evacuation(technician, curator):
    broken, spare = FreezerFactory(name="ULT-1"), FreezerFactory(name="ULT-2")
    box = BoxFactory(rack=RackFactory(freezer=broken, name="R9"), name="A")
    fill(box, 1, technician)
    with pytest.raises(ValidationError) as caught:
        freezer_evacuate(source=broken, target=spare, user=curator, reason="x")
    (message,) = caught.value.message_dict["tubes"]
    assert "Rack R9" in message and "ULT-2" in message


def count_queries(n, technician, curator):
    broken, spare = FreezerFactory(), FreezerFactory()
    for freezer in (broken, spare):
        rack = RackFactory(freezer=freezer, name="R1")
        for name in ("A", "B", "C"):
            BoxFactory(rack=rack, name=name)
    sources = list(broken.racks.get().boxes.order_by("name"))
    left = n
    for box in sources:
        take = min(left, box.capacity)
        if take:
            fill(box, take, technician)
        left -= take
    with CaptureQueriesContext(connection) as queries:
        plan = freezer_evacuate(source=broken, target=spare, user=curator, reason="bench")
    assert plan.tube_count == n
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_tubes(technician, curator):
    assert count_queries(10, technician, curator) == count_queries(200, technician, curator)


@pytest.mark.postgres
def test_tubes_then_boxes_are_locked_in_pk_order(technician, curator):
    source, target = BoxFactory(), BoxFactory()
    fill(source, 3, technician)
    with CaptureQueriesContext(connection) as queries:
        box_contents_move(source=source, target=target, user=curator, reason="tidy")
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 2
    assert 'FROM "biobank_aliquot"' in locks[0] and 'FROM "biobank_box"' in locks[1]
    # Ordered by the primary key (values_list names it by its place in the SELECT).
    assert all(re.search(r'ORDER BY (1|"biobank_\w+"\."id") ASC', sql) for sql in locks)
