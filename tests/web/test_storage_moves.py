"""The curators' pages that move a box's or a rack's tubes, or evacuate a freezer:
choose the target, preview the plan with what stands in the way, confirm."""

from __future__ import annotations

import pytest
from django.urls import reverse

from biobank.models import Aliquot, StorageEvent

from ..factories import AliquotFactory, BoxFactory, FreezerFactory, RackFactory

pytestmark = pytest.mark.django_db


def test_a_box_move_is_previewed_then_confirmed(curator_client):
    source, target = BoxFactory(), BoxFactory()
    for column in (1, 2, 3):
        AliquotFactory(box=source, row=1, column=column)
    url = reverse("web:box_move", args=[source.pk])
    assert curator_client.get(url).status_code == 200
    preview = curator_client.post(url, {"target": target.pk, "reason": "box cracked"})
    text = preview.content.decode()
    assert "3 tubes in 1 box" in text and 'id="confirm-form"' in text
    assert Aliquot.objects.filter(box=source).count() == 3  # nothing moved yet
    done = curator_client.post(
        url, {"target": target.pk, "reason": "box cracked", "confirm": "1"}, follow=True
    )
    assert done.redirect_chain[-1][0] == reverse("web:box_detail", args=[target.pk])
    assert "3 tubes moved" in done.content.decode()
    assert Aliquot.objects.filter(box=target).count() == 3
    assert StorageEvent.objects.filter(kind="move", reason="box cracked").count() == 3


def test_the_preview_names_what_stands_in_the_way_and_offers_no_confirm(curator_client):
    source, target = BoxFactory(), BoxFactory(barcode="TGT-1")
    AliquotFactory(box=source, row=1, column=1, barcode="MOVER")
    AliquotFactory(box=target, row=1, column=1, barcode="SITTER")
    preview = curator_client.post(
        reverse("web:box_move", args=[source.pk]), {"target": target.pk, "reason": "tidy"}
    )
    text = preview.content.decode()
    assert "MOVER" in text and "SITTER" in text and "TGT-1 A1" in text
    assert 'id="confirm-form"' not in text
    # A confirm sent anyway is refused with the same message, and nothing moves.
    refused = curator_client.post(
        reverse("web:box_move", args=[source.pk]),
        {"target": target.pk, "reason": "tidy", "confirm": "1"},
    )
    assert refused.status_code == 200 and "SITTER" in refused.content.decode()
    assert Aliquot.objects.get(barcode="MOVER").box_id == source.pk


def test_a_freezer_is_evacuated_from_the_boxes_page(curator_client):
    broken, spare = FreezerFactory(name="ULT-9"), FreezerFactory(name="ULT-10")
    old = BoxFactory(rack=RackFactory(freezer=broken, name="R1"), name="A")
    new = BoxFactory(rack=RackFactory(freezer=spare, name="R1"), name="A")
    AliquotFactory(box=old, row=2, column=2)
    listing = curator_client.get(reverse("web:box_list")).content.decode()
    url = reverse("web:freezer_evacuate", args=[broken.pk])
    assert url in listing and reverse("web:rack_move", args=[old.rack_id]) in listing
    curator_client.post(url, {"target": spare.pk, "reason": "alarm", "confirm": "1"})
    assert Aliquot.objects.get().box_id == new.pk


def test_technicians_may_not_move_boxes(tech_client):
    box = BoxFactory()
    assert tech_client.get(reverse("web:box_move", args=[box.pk])).status_code == 403
    assert (
        reverse("web:box_move", args=[box.pk])
        not in tech_client.get(reverse("web:box_detail", args=[box.pk])).content.decode()
    )
