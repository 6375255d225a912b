"""Free space and the use of the freezers (issue 15): the first box with room for N
tubes, a draw's tubes kept together by default, and capacity per freezer and rack."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.selectors.boxes import box_for_new_tubes, box_with_space, storage_utilisation

from ..factories import AliquotFactory, BoxFactory

pytestmark = pytest.mark.django_db


def fill(box, count):
    positions = [(r, c) for r in range(1, box.rows + 1) for c in range(1, box.columns + 1)]
    for row, column in positions[:count]:
        AliquotFactory(box=box, row=row, column=column)


@pytest.fixture
def boxes():
    """Three 3 x 3 boxes in one rack, named in shelf order: 1 free, 4 free, 9 free."""
    first = BoxFactory(name="A", rows=3, columns=3)
    second = BoxFactory(name="B", rows=3, columns=3, rack=first.rack)
    third = BoxFactory(name="C", rows=3, columns=3, rack=first.rack)
    fill(first, 8)
    fill(second, 5)
    return first, second, third


def test_the_first_box_with_room_for_all(boxes):
    first, second, third = boxes
    assert box_with_space(1) == first
    assert box_with_space(4) == second
    assert box_with_space(5) == third
    assert box_with_space(10) is None


def test_new_tubes_go_where_all_of_them_fit_else_where_any_fit(boxes):
    first, second, third = boxes
    assert box_for_new_tubes(4) == second
    fill(third, 9)
    assert box_for_new_tubes(6) == first  # none has 6: the first with a hole


def test_the_finder_page_names_the_box_and_its_free_positions(tech_client, boxes):
    body = tech_client.get("/boxes/", {"space": "4"}).content.decode()
    assert boxes[1].barcode in body
    assert "C3, " not in body  # B's free positions are the last four: B2 … C3
    assert "B3, C1, C2, C3" in body


def test_the_finder_refuses_a_count_that_is_not_a_number(tech_client, boxes):
    body = tech_client.get("/boxes/", {"space": "lots"}).content.decode()
    assert "Positions: give a whole number" in body


def test_the_finder_says_when_no_box_has_room(tech_client, boxes):
    body = tech_client.get("/boxes/", {"space": "10"}).content.decode()
    assert "No box has 10 free positions" in body


def test_utilisation_per_freezer_and_rack(boxes):
    usage = storage_utilisation()
    (freezer,) = usage.freezers
    (rack,) = freezer.parts
    assert (freezer.capacity, freezer.stored, freezer.free) == (27, 13, 14)
    assert (rack.capacity, rack.stored, rack.boxes) == (27, 13, 3)
    assert freezer.percent_used == 48
    assert usage.total.stored == 13


def test_the_box_list_runs_a_constant_number_of_queries(tech_client, boxes):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert tech_client.get("/boxes/").status_code == 200
        return len(captured)

    before = queries()
    for _ in range(4):
        fill(BoxFactory(rows=2, columns=2), 2)
    assert queries() == before
