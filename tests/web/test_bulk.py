"""The bench's bulk page /samples/bulk/: scan a list, preview each tube's outcome,
confirm, see what was done; and the admin's bulk actions through the same services."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.models import Aliquot, PositionReservation, StorageEvent
from biobank.services.bulk import aliquots_check_out

from ..factories import AliquotFactory, BoxFactory, SerumDrawFactory

pytestmark = pytest.mark.django_db

URL = "/samples/bulk/"


def rack(count, *, barcode="RACK-1", prefix="T"):
    box = BoxFactory(barcode=barcode, rows=8, columns=12)
    draw = SerumDrawFactory()
    return [
        AliquotFactory(
            barcode=f"{prefix}-{i:03d}", draw=draw, box=box, row=i // 12 + 1, column=i % 12 + 1
        )
        for i in range(count)
    ]


def post(client, **data):
    return client.post(URL, {"preview": "1", **data})


def rows(response):
    return [(o.code, o.ok, o.message) for o in response.context["result"].outcomes]


def test_the_page_is_for_those_who_may_change_tubes(tech_client, analyst_client):
    assert reverse("web:samples_bulk") == URL
    page = tech_client.get(URL).content.decode()
    assert 'name="tubes"' in page and "Required to check out, move, discard" in page
    assert f'href="{URL}"' in tech_client.get("/").content.decode()  # the header
    assert 'id="bulk-link"' in tech_client.get(reverse("web:sample_find")).content.decode()
    assert analyst_client.get(URL).status_code == 403


def test_preview_then_confirm_a_check_out(tech_client, technician):
    a, b, c = rack(3)
    listed = f"{a.barcode}\n\nNOPE-9\n{b.barcode}\n{a.barcode}\n"
    preview = post(tech_client, action="check_out", tubes=listed, reason="qPCR run 7")
    assert rows(preview) == [
        ("T-000", True, "Aliquot T-000 will be checked out from RACK-1 A1"),
        ("NOPE-9", False, "No tube has barcode NOPE-9"),
        ("T-001", True, "Aliquot T-001 will be checked out from RACK-1 A2"),
        ("T-000", False, "Aliquot T-000 is scanned twice; it is done once, on its first line"),
    ]
    html = preview.content.decode()
    assert "Confirm: check out 2 tubes" in html and "2 to do" in html
    assert not StorageEvent.objects.exists()

    done = tech_client.post(
        URL, {"confirm": "1", "action": "check_out", "tubes": listed, "reason": "qPCR run 7"}
    )
    assert done.context["result"].applied
    assert rows(done)[0] == ("T-000", True, "Aliquot T-000 checked out from RACK-1 A1")
    html = done.content.decode()
    assert "2 tube(s) done, 2 refused." in html and 'id="confirm"' not in html
    assert not done.context["form"].is_bound  # an empty list for the next rack
    assert done.context["form"]["action"].value() == "check_out"
    assert set(Aliquot.objects.filter(status="out").values_list("barcode", flat=True)) == {
        "T-000",
        "T-001",
    }
    assert StorageEvent.objects.filter(reason="qPCR run 7", user=technician).count() == 2
    assert Aliquot.objects.get(pk=c.pk).status == "stored"


def test_the_reason_follows_the_policy_and_bad_lines_are_named(tech_client):
    rack(2)
    response = post(tech_client, action="check_out", tubes="T-000", reason="")
    assert response.context["result"] is None
    assert "Say why" in response.context["form"].errors["reason"][0]
    response = post(tech_client, action="check_out", tubes="T-000 A1", reason="x")
    assert response.context["form"].errors["tubes"] == [
        "Line 1: a position means nothing for a check_out"
    ]
    response = post(tech_client, action="move", tubes="T-000\nT-001 12", reason="x")
    assert response.context["form"].errors["tubes"] == ["Line 2: '12' is not a position like A1"]
    response = post(tech_client, action="move", tubes="T-000", reason="x")
    assert response.context["form"].errors["box"] == ["Scan the box the tubes go into"]
    assert not StorageEvent.objects.exists()


def test_move_takes_named_positions_and_the_next_free_ones_in_scan_order(tech_client, technician):
    rack(4)
    target = BoxFactory(barcode="BOX-T", rows=2, columns=3)
    AliquotFactory(barcode="SITTER", box=target, row=1, column=1)
    out = AliquotFactory(barcode="AWAY", box=target, row=1, column=3)
    aliquots_check_out(codes=["AWAY"], user=technician, reason="retrieval")
    PositionReservation.objects.create(box=target, row=1, column=3, aliquot=out, reason="R-9")
    tubes = "T-000\nT-001 A2\nT-002\nT-003"
    preview = post(tech_client, action="move", tubes=tubes, box="BOX-T", reason="consolidate")
    # A1 is taken, A2 named by T-001, A3 kept for AWAY: B1, B2, B3 in scan order.
    assert [o.target.label for o in preview.context["result"].outcomes] == [
        "BOX-T B1",
        "BOX-T A2",
        "BOX-T B2",
        "BOX-T B3",
    ]
    done = tech_client.post(
        URL,
        {"confirm": "1", "action": "move", "tubes": tubes, "box": "BOX-T", "reason": "consolidate"},
    )
    assert len(done.context["result"].done) == 4
    assert Aliquot.objects.get(barcode="T-001").position == "A2"
    full = post(tech_client, action="move", tubes="\n".join(["T-000"] * 7), box="BOX-T", reason="x")
    assert "free positions for the 7 tubes" in full.context["form"].errors["box"][0]


def test_check_in_without_a_box_goes_back_to_the_last_positions(tech_client, technician):
    tubes = rack(3)
    aliquots_check_out(codes=[t.barcode for t in tubes], user=technician, reason="bench")
    done = tech_client.post(
        URL, {"confirm": "1", "action": "check_in", "tubes": "T-002\nT-000", "reason": ""}
    )
    assert rows(done) == [
        ("T-002", True, "Aliquot T-002 checked in at RACK-1 A3 (its last position)"),
        ("T-000", True, "Aliquot T-000 checked in at RACK-1 A1 (its last position)"),
    ]
    assert Aliquot.objects.get(barcode="T-001").status == "out"


def test_confirming_96_tubes_costs_the_queries_of_one(tech_client):
    def confirm(prefix, count):
        tubes = rack(count, barcode=f"BOX-{prefix}", prefix=prefix)
        with CaptureQueriesContext(connection) as captured:
            response = tech_client.post(
                URL,
                {
                    "confirm": "1",
                    "action": "move",
                    "tubes": "\n".join(t.barcode for t in tubes),
                    "box": f"BOX-{prefix}-NEW",
                    "reason": "freezer failure",
                },
            )
        assert len(response.context["result"].done) == count
        return len(captured)

    BoxFactory(barcode="BOX-ONE-NEW", rows=8, columns=12)
    BoxFactory(barcode="BOX-RACK-NEW", rows=8, columns=12)
    assert confirm("RACK", 96) == confirm("ONE", 1)


def test_the_admins_bulk_actions_go_through_the_bulk_services(client, curator):
    a, b = rack(2)
    aliquots_check_out(codes=[b.barcode], user=curator, reason="bench")
    client.force_login(curator)
    response = client.post(
        reverse("admin:biobank_aliquot_changelist"),
        {"action": "check_out", "_selected_action": [a.pk, b.pk]},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert "Aliquot T-001 is checked out; it cannot be checked out" in shown
    assert "1 aliquot(s) checked out." in shown
    assert Aliquot.objects.get(pk=a.pk).status == "out"
