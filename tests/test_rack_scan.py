"""Rack-scanner import: the preview says what the file would do to the rack, the confirm
does all of it in one transaction or nothing, in a constant number of queries."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.models import Aliquot, PositionReservation, RackScanImport, StorageEvent
from biobank.services.aliquots import aliquot_check_out, aliquot_discard
from biobank.services.rack_scan import (
    IN_PLACE,
    MISSING,
    MOVED,
    REFUSED,
    RETURNING,
    UNREAD_HERE,
    rack_scan_confirm,
    rack_scan_preview,
)
from tests.factories import AliquotFactory, BoxFactory, SerumDrawFactory

pytestmark = pytest.mark.django_db
FIXTURE = Path(__file__).parent / "fixtures" / "rack-scans" / "RK00000101.csv"
ROWS = "ABCDEFGH"


def code(index: int) -> str:
    return f"FX{10000000 + index}"


def place(index: int) -> tuple[int, int]:
    return (index - 1) // 12 + 1, (index - 1) % 12 + 1


def label(index: int) -> str:
    row, column = place(index)
    return f"{ROWS[row - 1]}{column}"


def rack(barcode="RK00000101"):
    return BoxFactory(barcode=barcode, rows=8, columns=12)


def fill(box, indexes):
    """Tube code(i) at position i of `box` for each i."""
    draw = SerumDrawFactory()
    tubes = [
        AliquotFactory.build(
            barcode=code(i), draw=draw, box=box, row=place(i)[0], column=place(i)[1]
        )
        for i in indexes
    ]
    Aliquot.objects.bulk_create(tubes)
    return list(Aliquot.objects.filter(barcode__in=[t.barcode for t in tubes]).order_by("pk"))


def scan_file(contents: dict[int, str]) -> bytes:
    """A FluidX file of the 96 positions: `contents` index -> code or word."""
    return "".join(f"{label(i)},{contents.get(i, 'NO READ')}\r\n" for i in range(1, 97)).encode()


@pytest.fixture
def fixture_rack():
    """The database for RK00000101.csv: 93 tubes in place, FX10000084 recorded at G12
    (read NO READ), FX10000095 recorded in another box (read at H11)."""
    box = rack()
    fill(box, [i for i in range(1, 95)])
    elsewhere = BoxFactory()
    AliquotFactory(barcode=code(95), box=elsewhere, row=3, column=4)
    return box, elsewhere


def test_preview_of_a_scan_with_a_no_read_and_a_moved_tube(fixture_rack):
    box, elsewhere = fixture_rack
    with CaptureQueriesContext(connection) as queries:
        preview = rack_scan_preview(box=box, data=FIXTURE.read_bytes(), filename=FIXTURE.name)
    assert len(queries) == 4
    assert not preview.refused, preview.refusals
    by_label = {outcome.label: outcome for outcome in preview.positions}
    assert by_label["A1"].kind == IN_PLACE
    assert by_label["H11"].kind == MOVED
    assert by_label["H11"].message == f"FX10000095 moved here from {elsewhere.barcode} C4"
    assert by_label["G12"].kind == UNREAD_HERE
    assert by_label["G12"].expected.barcode == "FX10000084"
    assert "FX10000084 is recorded here and stays" in by_label["G12"].message
    counts = preview.counts()
    assert (counts["in_place"], counts["moved"], counts["unread"], counts["missing"]) == (
        93,
        1,
        2,
        0,
    )
    assert "records 94 tubes" in preview.count_mismatch
    assert Aliquot.objects.get(barcode=code(95)).box == elsewhere  # nothing written


def test_confirm_moves_the_tube_and_leaves_the_unread_one(fixture_rack, technician):
    box, elsewhere = fixture_rack
    record = rack_scan_confirm(
        box=box, data=FIXTURE.read_bytes(), filename=FIXTURE.name, user=technician, reason=""
    )
    moved = Aliquot.objects.get(barcode=code(95))
    assert (moved.box, moved.row, moved.column) == (box, 8, 11)
    unread = Aliquot.objects.get(barcode=code(84))
    assert (unread.box, unread.row, unread.column) == (box, 7, 12)
    event = StorageEvent.objects.get(aliquot=moved)
    assert event.kind == "move" and event.user == technician
    assert (event.from_box, event.from_row, event.from_column) == (elsewhere, 3, 4)
    assert (event.to_box, event.to_row, event.to_column) == (box, 8, 11)
    assert event.reason == "rack scan RK00000101.csv"
    assert StorageEvent.objects.count() == 1
    assert moved.history.first().history_change_reason == "rack scan RK00000101.csv"
    assert (record.vendor, record.tubes_moved, record.tubes_in_place) == ("azenta_fluidx", 1, 93)
    assert (record.positions_unread, record.imported_by) == (2, technician)


def test_the_same_file_twice_is_refused(fixture_rack, technician):
    box, _ = fixture_rack
    data = FIXTURE.read_bytes()
    rack_scan_confirm(box=box, data=data, filename=FIXTURE.name, user=technician)
    preview = rack_scan_preview(box=box, data=data, filename=FIXTURE.name)
    assert "already imported into RK00000101" in preview.errors[0]
    with pytest.raises(ValidationError, match="already imported"):
        rack_scan_confirm(box=box, data=data, filename=FIXTURE.name, user=technician)
    assert RackScanImport.objects.count() == 1 and StorageEvent.objects.count() == 1


def test_an_unknown_barcode_refuses_the_whole_file(technician):
    box = rack()
    fill(box, [1, 2])
    other = BoxFactory()
    AliquotFactory(barcode=code(3), box=other)
    data = scan_file({1: code(1), 2: code(2), 3: code(3), 4: "FX99999999"})
    with pytest.raises(ValidationError) as error:
        rack_scan_confirm(box=box, data=data, filename="RK00000101.csv", user=technician)
    assert error.value.message_dict["tubes"] == ["A4: no tube has the barcode FX99999999"]
    assert Aliquot.objects.get(barcode=code(3)).box == other
    assert not StorageEvent.objects.exists() and not RackScanImport.objects.exists()


def test_a_checked_out_tube_returns_and_frees_its_kept_position(technician):
    box = rack()
    (tube,) = fill(box, [5])
    aliquot_check_out(aliquot=tube, user=technician, reason="retrieval")
    PositionReservation.objects.create(box=box, row=1, column=5, aliquot=tube, reason="request 1")
    data = scan_file({5: code(5)})
    preview = rack_scan_preview(box=box, data=data, filename="RK00000101.csv")
    assert preview.positions[4].kind == RETURNING
    rack_scan_confirm(box=box, data=data, filename="RK00000101.csv", user=technician)
    tube.refresh_from_db()
    assert (tube.status, tube.box, tube.row, tube.column) == ("stored", box, 1, 5)
    assert not PositionReservation.objects.exists()
    assert tube.events.last().kind == "check_in"


def test_a_position_kept_for_another_tube_is_refused(technician):
    box = rack()
    kept, stranger = fill(box, [5, 6])
    aliquot_check_out(aliquot=kept, user=technician, reason="retrieval")
    PositionReservation.objects.create(box=box, row=1, column=5, aliquot=kept, reason="request 1")
    preview = rack_scan_preview(box=box, data=scan_file({5: code(6)}), filename="RK00000101.csv")
    assert preview.positions[4].kind == REFUSED
    assert "kept for FX10000005 (request 1)" in preview.positions[4].message


def test_a_missing_tube_is_reported_and_left_alone(technician):
    box = rack()
    fill(box, [1, 2])
    data = scan_file({1: code(1), 2: "EMPTY"})
    preview = rack_scan_preview(box=box, data=data, filename="RK00000101.csv")
    assert [t.barcode for t in preview.missing] == [code(2)]
    assert preview.positions[1].kind == MISSING
    rack_scan_confirm(box=box, data=data, filename="RK00000101.csv", user=technician)
    assert Aliquot.objects.get(barcode=code(2)).column == 2


def test_a_tube_read_where_a_missing_tube_is_recorded_is_refused(technician):
    box = rack()
    fill(box, [1, 2])
    AliquotFactory(barcode=code(50), box=BoxFactory())
    preview = rack_scan_preview(
        box=box, data=scan_file({1: code(1), 2: code(50)}), filename="RK00000101.csv"
    )
    assert preview.positions[1].kind == REFUSED
    assert "FX10000002 is still recorded here" in preview.positions[1].message


def test_tubes_that_changed_places_in_the_rack_are_swapped(technician):
    box = rack()
    fill(box, [1, 2, 3])
    data = scan_file({1: code(2), 2: code(3), 3: code(1)})
    rack_scan_confirm(box=box, data=data, filename="RK00000101.csv", user=technician)
    places = dict(Aliquot.objects.values_list("barcode", "column"))
    assert places == {code(1): 3, code(2): 1, code(3): 2}
    assert StorageEvent.objects.filter(kind="move").count() == 3


def test_discarded_tube_and_wrong_rack_are_refused(technician):
    box = rack()
    (tube,) = fill(box, [1])
    aliquot_discard(aliquot=tube, user=technician, reason="broken")
    preview = rack_scan_preview(box=box, data=scan_file({1: code(1)}), filename="RK00000101.csv")
    assert "recorded as discarded" in preview.positions[0].message
    wrong = rack_scan_preview(box=box, data=scan_file({}), filename="RK00000999.csv")
    assert (
        "is a scan of rack RK00000999 (from its file name), not of RK00000101" in (wrong.errors[0])
    )
    bad = rack_scan_preview(box=box, data=b"A1,T1\nA1,T2\n", filename="RK00000101.csv")
    assert "line 2, column 1: position A1 is listed twice" in bad.errors[0]


def queries_to_confirm(moves: int, technician, *, rack_barcode: str, prefix: str):
    """Queries to confirm a full 96-tube rack whose first `moves` positions are read one
    place on (a rotation: every one of them moves)."""
    box = rack(rack_barcode)
    draw = SerumDrawFactory()
    Aliquot.objects.bulk_create(
        AliquotFactory.build(
            barcode=f"{prefix}{i}", draw=draw, box=box, row=place(i)[0], column=place(i)[1]
        )
        for i in range(1, 97)
    )
    contents = {i: f"{prefix}{i}" for i in range(1, 97)}
    for i in range(1, moves + 1):
        contents[i] = f"{prefix}{i % moves + 1}"
    with CaptureQueriesContext(connection) as queries:
        record = rack_scan_confirm(
            box=box, data=scan_file(contents), filename=f"{rack_barcode}.csv", user=technician
        )
    assert record.tubes_moved == moves
    inserts = [q for q in queries if 'INSERT INTO "biobank_storageevent"' in q["sql"]]
    return len(queries) - len(inserts), len(inserts)


def test_a_96_tube_confirm_runs_a_constant_number_of_queries(technician):
    two, two_inserts = queries_to_confirm(2, technician, rack_barcode="RK1", prefix="A")
    all_96, inserts_96 = queries_to_confirm(96, technician, rack_barcode="RK2", prefix="B")
    assert two == all_96 <= 17, (two, all_96)
    assert two_inserts == inserts_96 == 1
    assert StorageEvent.objects.count() == 98


def test_a_tube_read_elsewhere_in_the_rack_leaves_its_old_position(technician):
    box = rack()
    fill(box, [1, 2])
    preview = rack_scan_preview(
        box=box, data=scan_file({2: code(2), 3: code(1)}), filename="RK00000101.csv"
    )
    a1 = preview.positions[0]
    assert a1.kind == UNREAD_HERE  # the file says NO READ at A1
    assert a1.message == "no code read; FX10000001, recorded here, was read at A3 and moves there"
    assert preview.positions[2].kind == MOVED and preview.missing == []
