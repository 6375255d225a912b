"""The plate map as the editor: place, move and clear without JavaScript (a text field
of positions and ranges), every write through the services, errors in place, and the
sample sheets to download."""

from __future__ import annotations

import pytest
from django.urls import reverse

from biobank.forms.plates import expand_positions
from biobank.models import QpcrPlate, Well
from biobank.services.plates import plate_create, plate_layout, plate_place

from ..factories import ReverseTranscriptionFactory
from .conftest import field_errors, messages_of, text
from .test_plates import count_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def empty_plate(technician):
    return plate_create(barcode="PL-HAND", operator=technician)


@pytest.fixture
def rt(assays):
    return ReverseTranscriptionFactory(code="RT-E1")


def edit(client, plate, **data):
    body = {f"edit-{k}": v for k, v in data.items()}
    return client.post(reverse("web:plate_edit", args=[plate.pk]), body)


def positions(plate) -> list[str]:
    return [w.position for w in plate.wells.order_by("row", "column", "assay_id")]


class TestPositionsField:
    @pytest.mark.parametrize(
        ("typed", "labels"),
        [
            ("A1 a2,B3", ["A1", "A2", "B3"]),
            ("A1-A3", ["A1", "A2", "A3"]),
            ("A1 - C1", ["A1", "B1", "C1"]),
            ("A1-B2 H12", ["A1", "A2", "B1", "B2", "H12"]),
            ("A01-A02", ["A1", "A2"]),
        ],
    )
    def test_positions_and_ranges(self, typed, labels):
        assert expand_positions(typed) == labels

    @pytest.mark.parametrize(
        ("typed", "message"),
        [
            ("A1 Z9", "'Z9' is not a position like A1 or a range like A1-A3"),
            ("A1-", "'A1-' is not a position"),
            ("B3-A1", "'B3-A1' runs backwards"),
        ],
    )
    def test_bad_tokens_are_named(self, typed, message):
        from django import forms

        with pytest.raises(forms.ValidationError, match=message):
            expand_positions(typed)


class TestTechnicianLaysOutByHand:
    def test_an_empty_plate_from_the_setup_form_opens_the_editor(self, tech_client, assays):
        ReverseTranscriptionFactory(code="RT-NEW")
        response = tech_client.post(
            reverse("web:plate_setup"),
            {
                "layout": "by_hand",
                "barcode": "PL-E",
                "plate_format": "96",
                "instrument": "Roche LightCycler 480 II",
                "replicates": "3",
                "ntc_replicates": "1",
            },
        )
        plate = QpcrPlate.objects.get(barcode="PL-E")
        assert response["Location"] == reverse("web:plate_detail", args=[plate.pk])
        page = tech_client.get(response["Location"])
        html = page.content.decode()
        assert plate.wells.count() == 0 and "Lay out by hand" in html
        assert 'name="edit-positions"' in html and 'data-grid-for="id_edit-positions"' in html
        assert html.count('class="pick"') == 96
        assert '<option value="RT-NEW">' in html and "Not yet on a plate: RT-NEW" in text(page)

    def test_place_a_sample_with_two_assays_in_a_range(self, tech_client, empty_plate, rt, assays):
        response = edit(
            tech_client,
            empty_plate,
            positions="A1-A3",
            kind="sample",
            sample="RT-E1",
            assays=[assays[0].pk, assays[2].pk],
            action="place",
        )
        assert response.status_code == 302
        assert "sample=RT-E1" in response["Location"]
        assert positions(empty_plate) == ["A1", "A1", "A2", "A2", "A3", "A3"]
        page = tech_client.get(response["Location"])
        assert messages_of(page) == ["Placed RT-E1 in 3 positions (6 wells)."]
        html = page.content.decode()
        # The next placement starts from the same sample and assays.
        assert 'value="RT-E1"' in html
        assert html.count('class="well multiplex kind-sample"') == 3
        assert "hsa-miR-122-5p" in html and "cel-miR-39-3p" in html

    def test_controls_are_marked_on_the_map(self, tech_client, empty_plate, rt, assays):
        edit(
            tech_client,
            empty_plate,
            positions="H12",
            kind="ntc",
            assays=[assays[0].pk],
            action="place",
        )
        edit(
            tech_client,
            empty_plate,
            positions="H1 H2",
            kind="irc",
            sample="RT-E1",
            assays=[assays[0].pk],
            action="place",
        )
        assert set(empty_plate.wells.values_list("kind", flat=True)) == {"ntc", "irc"}
        html = tech_client.get(reverse("web:plate_detail", args=[empty_plate.pk])).content.decode()
        assert html.count('title="inter-run calibrator">IRC</abbr>') == 2
        assert 'kind-ntc" title="H12: No-template control"' in html

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"positions": "A1 Z9"}, "positions", "'Z9' is not a position like A1"),
            ({"positions": "I1"}, "positions", "'I1' is not a position of plate PL-HAND"),
            ({"positions": ""}, "positions", "required"),
            ({"sample": "RT-NONE"}, "sample", "No RT product has the code RT-NONE"),
            ({"sample": ""}, "sample", "Sample wells need an RT product"),
            ({"assays": []}, "assays", "Choose at least one assay"),
            ({"kind": "ntc"}, "sample", "A no-template control holds no sample"),
        ],
        ids=["token", "off-plate", "none", "unknown-rt", "no-rt", "no-assay", "ntc-with-rt"],
    )
    def test_refusals_in_place(self, tech_client, empty_plate, rt, assays, data, field, message):
        values = {
            "positions": "A1",
            "kind": "sample",
            "sample": "RT-E1",
            "assays": [assays[0].pk],
            "action": "place",
            **data,
        }
        response = edit(tech_client, empty_plate, **values)
        assert response.status_code == 200
        errors = field_errors(response, field)
        assert any(message in error for error in errors), response.context["form"].errors
        assert not Well.objects.exists()
        assert "has-error" in response.content.decode()

    def test_unprimed_and_occupied_are_named(self, tech_client, empty_plate, rt, assays):
        plate_place(plate=empty_plate, positions=["A2"], assays=assays[:1], sample=rt)
        unprimed = ReverseTranscriptionFactory(code="RT-SP", assays=assays[2:])
        response = edit(
            tech_client,
            empty_plate,
            positions="B1",
            kind="sample",
            sample="RT-SP",
            assays=[assays[0].pk],
            action="place",
        )
        assert (
            "Not reverse-transcribed for: RT-SP / hsa-miR-122-5p"
            in field_errors(response, "sample")[0]
        )
        response = edit(
            tech_client,
            empty_plate,
            positions="A1-A3",
            kind="sample",
            sample="RT-E1",
            assays=[assays[0].pk],
            action="place",
        )
        assert field_errors(response, "positions") == ["A2 already has a hsa-miR-122-5p well"]
        assert positions(empty_plate) == ["A2"] and unprimed.wells.count() == 0

    def test_move_source_then_target_and_clear(self, tech_client, empty_plate, rt, assays):
        plate_place(plate=empty_plate, positions=["A1", "A2"], assays=assays[:2], sample=rt)
        response = edit(tech_client, empty_plate, positions="A1 C4", action="move")
        assert response.status_code == 302
        assert positions(empty_plate) == ["A2", "A2", "C4", "C4"]
        response = edit(tech_client, empty_plate, positions="A2 C4", action="move")
        assert field_errors(response, "positions") == ["C4 is not empty; clear it first"]
        response = edit(tech_client, empty_plate, positions="A2", action="move")
        assert "A move takes two positions" in field_errors(response, "positions")[0]
        response = edit(tech_client, empty_plate, positions="A2 D1", action="clear")
        assert field_errors(response, "positions") == ["Nothing to clear at D1"]
        edit(tech_client, empty_plate, positions="A2", action="clear")
        assert positions(empty_plate) == ["C4", "C4"]

    def test_a_plate_with_results_has_no_editor_and_refuses_edits(
        self, tech_client, imported_plate, assays
    ):
        url = reverse("web:plate_detail", args=[imported_plate.pk])
        html = tech_client.get(url).content.decode()
        assert "Lay out by hand" not in html and 'class="pick"' not in html
        response = edit(tech_client, imported_plate, positions="A1", action="clear")
        assert response.status_code == 302
        assert messages_of(tech_client.get(response["Location"])) == [
            "Plate PL-W1 has imported results; its layout is fixed"
        ]
        assert imported_plate.wells.count() == 21


class TestWhoMayEdit:
    def test_analysts_may_neither_see_nor_edit(self, analyst_client, empty_plate, rt, assays):
        url = reverse("web:plate_detail", args=[empty_plate.pk])
        assert analyst_client.get(url).status_code == 403
        response = edit(
            analyst_client,
            empty_plate,
            positions="A1",
            kind="sample",
            sample="RT-E1",
            assays=[assays[0].pk],
            action="place",
        )
        assert response.status_code == 403 and not Well.objects.exists()

    def test_edits_are_posts(self, tech_client, empty_plate):
        assert tech_client.get(reverse("web:plate_edit", args=[empty_plate.pk])).status_code == 405


class TestQueries:
    def test_the_editor_is_constant_in_queries(self, tech_client, assays, technician):
        small = plate_create(barcode="PL-Q1", operator=technician)
        plate_place(
            plate=small, positions=["A1"], assays=assays[:1], sample=ReverseTranscriptionFactory()
        )
        full = plate_create(barcode="PL-Q2", operator=technician)
        plate_layout(
            plate=full, samples=[ReverseTranscriptionFactory() for _ in range(9)], assays=assays
        )
        plate_place(
            plate=full,
            positions=expand_positions("H7-H12"),
            assays=assays,
            kind="irc",
            sample=ReverseTranscriptionFactory(),
        )
        for _ in range(5):
            ReverseTranscriptionFactory()  # recent RT products to offer
        one = count_queries(tech_client, reverse("web:plate_detail", args=[small.pk]))
        many = count_queries(tech_client, reverse("web:plate_detail", args=[full.pk]))
        assert one == many


class TestSampleSheets:
    def test_one_link_each_and_the_files(self, tech_client, laid_out_plate):
        html = tech_client.get(
            reverse("web:plate_detail", args=[laid_out_plate.pk])
        ).content.decode()
        for instrument in ("lc480", "abi", "cfx"):
            assert reverse("web:plate_sample_sheet", args=[laid_out_plate.pk, instrument]) in html
        assert "Bio-Rad CFX (" not in html  # one fluor: one file
        response = tech_client.get(
            reverse("web:plate_sample_sheet", args=[laid_out_plate.pk, "lc480"])
        )
        assert response["Content-Disposition"] == (
            'attachment; filename="PL-W1-lc480-sample-information.txt"'
        )
        assert response.content.startswith(b"General:Pos\tGeneral:Sample Name")
        abi = tech_client.get(reverse("web:plate_sample_sheet", args=[laid_out_plate.pk, "abi"]))
        assert b"[Sample Setup]" in abi.content and b"\tRT-1\t" in abi.content
        cfx = tech_client.get(reverse("web:plate_sample_sheet", args=[laid_out_plate.pk, "cfx"]))
        assert cfx.content.startswith(b"Row,Column,*Target Name,*Sample Name\r\nA,1,")
        assert cfx["Content-Disposition"].endswith('-cfx-plate-setup-FAM.csv"')

    def test_a_multiplex_plate_gets_one_cfx_file_per_fluor(
        self, tech_client, empty_plate, rt, assays
    ):
        plate_place(plate=empty_plate, positions=["A1"], assays=assays[:2], sample=rt)
        html = tech_client.get(reverse("web:plate_detail", args=[empty_plate.pk])).content.decode()
        assert "Bio-Rad CFX (FAM)" in html and "Bio-Rad CFX (HEX)" in html
        url = reverse("web:plate_sample_sheet", args=[empty_plate.pk, "cfx"])
        assert tech_client.get(url + "?dye=1").content.endswith(b"A,1,hsa-miR-21-5p,RT-E1\r\n")
        assert tech_client.get(url + "?dye=3").status_code == 404

    def test_an_empty_plate_has_no_sheet(self, tech_client, empty_plate):
        response = tech_client.get(reverse("web:plate_sample_sheet", args=[empty_plate.pk, "abi"]))
        assert response.status_code == 302
        assert (
            tech_client.get(
                reverse("web:plate_sample_sheet", args=[empty_plate.pk, "x"])
            ).status_code
            == 404
        )
