"""Finding a tube, its record, and check-out / check-in / move / thaw / discard."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.models import Aliquot, PatientIdentity, StorageEvent
from biobank.services.aliquots import aliquot_check_out, aliquot_thaw

from ..factories import AliquotFactory, BoxFactory
from .conftest import field_errors, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def aliquot(draw, box):
    return AliquotFactory(barcode="P-001-PRE-01", draw=draw, box=box, row=2, column=3)


@pytest.fixture
def identity(draw):
    return PatientIdentity.objects.create(
        patient=draw.patient,
        full_name="Hanako Tanaka",
        hospital_number="H1234567",
        date_of_birth=dt.date(1940, 1, 1),
    )


def detail(aliquot):
    return reverse("web:sample_detail", args=[aliquot.pk])


class TestFind:
    def test_scanning_a_barcode_opens_its_record(self, tech_client, aliquot):
        response = tech_client.get(reverse("web:sample_find"), {"barcode": " P-001-PRE-01 "})
        assert response.status_code == 302 and response["Location"] == detail(aliquot)

    def test_an_unknown_barcode_is_said_beside_the_scan_field(self, tech_client, aliquot):
        response = tech_client.get(reverse("web:sample_find"), {"barcode": "NOPE"})
        assert field_errors(response, "barcode") == ["No aliquot has the barcode 'NOPE'"]

    def test_the_scan_field_has_the_focus(self, tech_client):
        html = tech_client.get(reverse("web:sample_find")).content.decode()
        assert 'name="barcode" autofocus' in html.replace('type="text" ', "")


class TestRecord:
    def test_it_says_where_the_tube_is_how_much_is_left_and_what_happened(
        self, tech_client, aliquot, technician
    ):
        aliquot_thaw(aliquot=aliquot, user=technician, reason="bench thaw")
        page = text(tech_client.get(detail(aliquot)))
        assert "P-001-PRE-01" in page and "Stored" in page
        assert "BOX-1" in page and " B3 " in page
        assert "250.0 µl of 250.0 µl left" in page
        assert "1 freeze-thaw cycle" in page
        assert "Thaw" in page and "bench thaw" in page and "tech" in page

    def test_a_technician_never_sees_the_identity_nor_reads_it(
        self, tech_client, aliquot, identity
    ):
        with CaptureQueriesContext(connection) as queries:
            page = tech_client.get(detail(aliquot)).content.decode()
        assert "Hanako" not in page and "H1234567" not in page
        assert not any("patientidentity" in q["sql"].lower() for q in queries)

    def test_a_curator_sees_name_and_hospital_number(self, curator_client, aliquot, identity):
        page = curator_client.get(detail(aliquot)).content.decode()
        assert "Hanako Tanaka" in page and "H1234567" in page

    def test_constant_queries_however_long_the_history(self, tech_client, aliquot, technician):
        def queries():
            with CaptureQueriesContext(connection) as captured:
                tech_client.get(detail(aliquot))
            return len(captured)

        aliquot_thaw(aliquot=aliquot, user=technician, reason="one")
        one = queries()
        for n in range(8):
            aliquot_thaw(aliquot=aliquot, user=technician, reason=f"again {n}")
        assert queries() == one

    def test_analysts_may_not_look_up_tubes(self, analyst_client, aliquot):
        assert analyst_client.get(detail(aliquot)).status_code == 403
        assert analyst_client.get(reverse("web:sample_find")).status_code == 403


class TestCheckOutAndIn:
    def test_check_out_with_a_reason(self, tech_client, aliquot, technician):
        response = tech_client.post(
            reverse("web:sample_check_out", args=[aliquot.pk]), {"reason": "qPCR rerun"}
        )
        assert response.status_code == 302 and response["Location"] == detail(aliquot)
        aliquot.refresh_from_db()
        assert aliquot.status == "out" and aliquot.box is None
        event = StorageEvent.objects.get(kind="check_out")
        assert event.reason == "qPCR rerun" and event.user == technician and event.from_row == 2

    def test_check_out_needs_a_reason(self, tech_client, aliquot):
        response = tech_client.post(
            reverse("web:sample_check_out", args=[aliquot.pk]), {"reason": ""}
        )
        assert field_errors(response, "reason") == ["This field is required."]
        aliquot.refresh_from_db()
        assert aliquot.status == "stored"

    def test_a_tube_already_out_cannot_be_checked_out(self, tech_client, aliquot, technician):
        aliquot_check_out(aliquot=aliquot, user=technician, reason="first")
        response = tech_client.post(
            reverse("web:sample_check_out", args=[aliquot.pk]), {"reason": "again"}
        )
        assert "is checked out; it cannot be checked out" in field_errors(response, None)[0]
        assert StorageEvent.objects.filter(kind="check_out").count() == 1

    def test_check_in_offers_the_box_it_came_from(self, tech_client, aliquot, technician):
        aliquot_check_out(aliquot=aliquot, user=technician, reason="out")
        html = tech_client.get(reverse("web:sample_check_in", args=[aliquot.pk])).content.decode()
        assert 'data-box="BOX-1"' in html and 'data-grid-mode="one"' in html
        assert html.count('class="cell free"') == 12  # its old place is free again

    def test_check_in_suggests_the_position_it_came_from(self, tech_client, aliquot, technician):
        place = aliquot.position
        aliquot_check_out(aliquot=aliquot, user=technician, reason="out")
        html = tech_client.get(reverse("web:sample_check_in", args=[aliquot.pk])).content.decode()
        assert f'value="{place}"' in html
        assert f"Suggested: {place}" in html

    def test_no_suggestion_when_its_old_position_was_taken(self, tech_client, aliquot, technician):
        box, row, column = aliquot.box, aliquot.row, aliquot.column
        aliquot_check_out(aliquot=aliquot, user=technician, reason="out")
        AliquotFactory(box=box, row=row, column=column)
        html = tech_client.get(reverse("web:sample_check_in", args=[aliquot.pk])).content.decode()
        assert "Suggested:" not in html

    def test_check_in_at_a_clicked_position(self, tech_client, aliquot, technician):
        aliquot_check_out(aliquot=aliquot, user=technician, reason="out")
        response = tech_client.post(
            reverse("web:sample_check_in", args=[aliquot.pk]),
            {"box": "BOX-1", "position": "c4", "reason": "back from the bench"},
        )
        assert response.status_code == 302
        aliquot.refresh_from_db()
        assert (aliquot.status, aliquot.position) == ("stored", "C4")
        assert StorageEvent.objects.filter(kind="check_in", reason="back from the bench").exists()

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"position": "A1"}, "position", "already holds aliquot TAKEN-1"),
            ({"position": "Z9"}, "position", "outside box BOX-1"),
            ({"position": "12"}, "position", "not a position like A1"),
            ({"position": "B1", "reason": ""}, "reason", "This field is required."),
            ({"position": "B1", "box": "NOPE"}, "box", "No box has the barcode 'NOPE'"),
        ],
        ids=["taken", "outside", "unreadable", "no-reason", "unknown-box"],
    )
    def test_check_in_refusals_in_place(
        self, tech_client, aliquot, technician, data, field, message
    ):
        AliquotFactory(barcode="TAKEN-1", box=aliquot.box, row=1, column=1)
        aliquot_check_out(aliquot=aliquot, user=technician, reason="out")
        response = tech_client.post(
            reverse("web:sample_check_in", args=[aliquot.pk]),
            {"box": "BOX-1", "reason": "back", **data},
        )
        assert any(message in error for error in field_errors(response, field))
        aliquot.refresh_from_db()
        assert aliquot.status == "out"

    def test_a_stored_tube_cannot_be_checked_in(self, tech_client, aliquot):
        response = tech_client.post(
            reverse("web:sample_check_in", args=[aliquot.pk]),
            {"box": "BOX-1", "position": "A1", "reason": "x"},
        )
        assert "it cannot be checked in" in field_errors(response, None)[0]


class TestMoveThawDiscard:
    def test_move_to_another_box(self, tech_client, aliquot):
        BoxFactory(barcode="BOX-2", rows=2, columns=2)
        page = tech_client.get(reverse("web:sample_move", args=[aliquot.pk]), {"box": "BOX-2"})
        assert 'data-box="BOX-2"' in page.content.decode()
        tech_client.post(
            reverse("web:sample_move", args=[aliquot.pk]),
            {"box": "BOX-2", "position": "B2", "reason": "consolidating"},
        )
        aliquot.refresh_from_db()
        assert (aliquot.box.barcode, aliquot.position) == ("BOX-2", "B2")

    def test_moving_onto_itself_is_refused(self, tech_client, aliquot):
        response = tech_client.post(
            reverse("web:sample_move", args=[aliquot.pk]),
            {"box": "BOX-1", "position": "B3", "reason": "x"},
        )
        assert "is already at BOX-1 B3" in field_errors(response, "position")[0]

    def test_move_page_marks_where_the_tube_is(self, tech_client, aliquot):
        html = tech_client.get(reverse("web:sample_move", args=[aliquot.pk])).content.decode()
        assert 'class="cell taken here" disabled data-position="B3"' in html

    def test_thaw_counts_a_cycle(self, tech_client, aliquot):
        tech_client.post(reverse("web:sample_thaw", args=[aliquot.pk]), {"reason": "freezer alarm"})
        aliquot.refresh_from_db()
        assert aliquot.freeze_thaw_count == 1

    def test_discard_needs_a_reason_then_frees_the_position(self, tech_client, aliquot):
        url = reverse("web:sample_discard", args=[aliquot.pk])
        assert field_errors(tech_client.post(url, {"reason": "  "}), "reason")
        tech_client.post(url, {"reason": "haemolysed"})
        aliquot.refresh_from_db()
        assert aliquot.status == "discarded" and aliquot.box is None
        page = text(tech_client.get(detail(aliquot)))
        assert "nothing more can be done" in page

    def test_action_pages_render_their_form(self, tech_client, aliquot):
        for name in ("sample_check_out", "sample_thaw", "sample_discard"):
            html = tech_client.get(reverse(f"web:{name}", args=[aliquot.pk])).content.decode()
            assert 'name="reason"' in html and "autofocus" in html

    def test_analysts_may_not_act(self, analyst_client, aliquot):
        response = analyst_client.post(
            reverse("web:sample_check_out", args=[aliquot.pk]), {"reason": "x"}
        )
        assert response.status_code == 403
        assert Aliquot.objects.get().status == "stored"
