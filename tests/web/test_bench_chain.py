"""The bench chain after extraction: the batch page's next step, RNA isolation and
reverse transcription for the whole batch or for tubes scanned by hand, RT product
pages and labels."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from biobank.models import PatientIdentity, ReverseTranscription, RnaIsolation
from biobank.services.plates import plate_create, plate_layout

from ..factories import (
    AliquotFactory,
    ExosomeIsolationBatchFactory,
    ExosomeIsolationFactory,
    ReverseTranscriptionFactory,
    RnaIsolationFactory,
)
from .conftest import field_errors, text

pytestmark = pytest.mark.django_db

DAY = "2014-01-02"  # the day after the factories' ExoQuick batch


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def make_batch(n: int, code: str = "EXO-1"):
    batch = ExosomeIsolationBatchFactory(code=code, performed_on=dt.date(2014, 1, 1))
    for k in range(1, n + 1):
        ExosomeIsolationFactory(batch=batch, aliquot=AliquotFactory(barcode=f"{code}-AL-{k}"))
    return batch


def isolation_of(barcode: str):
    from biobank.models import ExosomeIsolation

    return ExosomeIsolation.objects.get(aliquot__barcode=barcode)


def step_data(chain_rows: dict[int, str | None], **shared) -> dict:
    """POST data: `chain_rows` maps an exosome isolation pk to its deviation (None: left out)."""
    data = {"performed_on": DAY, "kit_lot": "LOT-7", **shared}
    for key, deviation in chain_rows.items():
        if deviation is not None:
            data[f"include_{key}"] = "on"
            data[f"deviation_{key}"] = deviation
    return data


def rna_data(rows, **shared):
    defaults = {"kit": "mirVana miRNA Isolation Kit", "elution_volume_ul": "100"}
    return step_data(rows, **{**defaults, **shared})


def rt_data(rows, assays, **shared):
    defaults = {
        "kit": "TaqMan MicroRNA Reverse Transcription Kit",
        "input_volume_ul": "5",
        "assays": [assay.pk for assay in assays],
    }
    return step_data(rows, **{**defaults, **shared})


class TestBatchPage:
    def test_the_next_step_walks_rna_then_rt_then_a_plate(self, tech_client, assays):
        batch = make_batch(2)
        url = reverse("web:isolation_batch_detail", args=[batch.pk])
        page = text(tech_client.get(url))
        assert "Isolate the RNA of 2 samples" in page
        assert (
            reverse("web:isolation_batch_rna", args=[batch.pk])
            in tech_client.get(url).content.decode()
        )

        rows = {isolation_of(f"EXO-1-AL-{k}").pk: "" for k in (1, 2)}
        tech_client.post(reverse("web:isolation_batch_rna", args=[batch.pk]), rna_data(rows))
        assert "Reverse-transcribe the RNA of 2 samples" in text(tech_client.get(url))

        response = tech_client.post(
            reverse("web:isolation_batch_rt", args=[batch.pk]), rt_data(rows, assays)
        )
        assert response.status_code == 302
        html = tech_client.get(url).content.decode()
        plate_setup = reverse("web:plate_setup")
        assert f"{plate_setup}?samples=EXO-1-AL-1-RT1%0AEXO-1-AL-2-RT1" in html
        product = ReverseTranscription.objects.get(code="EXO-1-AL-1-RT1")
        assert reverse("web:rt_product_detail", args=[product.pk]) in html

    def test_a_sample_left_out_of_the_rna_does_not_hold_the_others_back(self, tech_client):
        batch = make_batch(2)
        rows = {isolation_of("EXO-1-AL-1").pk: "", isolation_of("EXO-1-AL-2").pk: None}
        tech_client.post(reverse("web:isolation_batch_rna", args=[batch.pk]), rna_data(rows))
        response = tech_client.get(reverse("web:isolation_batch_detail", args=[batch.pk]))
        page, html = text(response), response.content.decode()
        assert "Isolate the RNA of 1 sample." in page
        assert "Reverse-transcribe the RNA of 1 sample." in page
        assert reverse("web:isolation_batch_rt", args=[batch.pk]) in html

    def test_the_plate_form_opens_with_the_codes_prefilled(self, tech_client, assays):
        ReverseTranscriptionFactory(code="X-RT1")
        html = tech_client.get(
            reverse("web:plate_setup"), {"samples": "X-RT1\nY-RT1"}
        ).content.decode()
        assert "X-RT1\nY-RT1</textarea>" in html

    def test_a_batch_all_on_plates_says_so(self, tech_client, assays, technician):
        batch = make_batch(1)
        rna = RnaIsolationFactory(isolation=isolation_of("EXO-1-AL-1"))
        product = ReverseTranscriptionFactory(code="EXO-1-AL-1-RT1", rna=rna, assays=assays)
        plate_layout(
            plate=plate_create(barcode="PL-9", operator=technician),
            samples=[product],
            assays=assays,
            replicates=1,
        )
        page = text(tech_client.get(reverse("web:isolation_batch_detail", args=[batch.pk])))
        assert "Every sample of this batch is reverse-transcribed and on a plate" in page
        assert "EXO-1-AL-1-RT1 (3 wells)" in page

    def test_the_batch_page_is_pinned_at_few_queries_whatever_its_size(
        self, tech_client, assays, technician
    ):
        def url_of(batch):
            return reverse("web:isolation_batch_detail", args=[batch.pk])

        small, large = make_batch(1, "EXO-S"), make_batch(6, "EXO-L")
        for batch in (small, large):
            for isolation in batch.isolations.all()[:1]:
                rna = RnaIsolationFactory(isolation=isolation)
                ReverseTranscriptionFactory(code=f"{batch.code}-RT", rna=rna, assays=assays)
        for isolation in large.isolations.all()[1:4]:
            rna = RnaIsolationFactory(isolation=isolation)
            ReverseTranscriptionFactory(rna=rna, assays=assays)
        assert queries(tech_client, url_of(small)) == queries(tech_client, url_of(large)) == 7


class TestIsolateRnaFromTheBatch:
    def test_the_form_ticks_every_sample_and_defaults_the_protocol(self, tech_client):
        batch = make_batch(2)
        html = tech_client.get(reverse("web:isolation_batch_rna", args=[batch.pk])).content.decode()
        key = isolation_of("EXO-1-AL-1").pk
        assert f'name="include_{key}" id="id_include_{key}" checked' in html
        assert 'value="mirVana miRNA Isolation Kit"' in html
        assert 'name="elution_volume_ul" value="100"' in html.replace('type="number" ', "")

    def test_ticked_samples_are_isolated_with_their_deviation_and_the_rest_left_out(
        self, tech_client, technician
    ):
        batch = make_batch(3)
        one, two, three = (isolation_of(f"EXO-1-AL-{k}").pk for k in (1, 2, 3))
        response = tech_client.post(
            reverse("web:isolation_batch_rna", args=[batch.pk]),
            rna_data({one: "", two: "spilled 10 µl", three: None}),
        )
        assert response["Location"] == reverse("web:isolation_batch_detail", args=[batch.pk])
        rnas = {rna.isolation_id: rna for rna in RnaIsolation.objects.all()}
        assert set(rnas) == {one, two}
        assert rnas[two].deviation == "spilled 10 µl" and rnas[one].operator == technician
        # The sample left out is still offered; the two done are not.
        html = tech_client.get(reverse("web:isolation_batch_rna", args=[batch.pk])).content.decode()
        assert f"include_{three}" in html and f"include_{one}" not in html

    def test_a_date_before_the_batch_names_the_samples_and_saves_nothing(self, tech_client):
        batch = make_batch(2)
        rows = {isolation_of(f"EXO-1-AL-{k}").pk: "" for k in (1, 2)}
        response = tech_client.post(
            reverse("web:isolation_batch_rna", args=[batch.pk]),
            rna_data(rows, performed_on="2013-12-31"),
        )
        assert response.status_code == 200
        assert field_errors(response, None) == [
            "Nothing was saved: 2 samples refused (EXO-1-AL-1, EXO-1-AL-2); see each row."
        ]
        page = text(response)
        assert (
            "EXO-1-AL-2: RNA isolation on 2013-12-31 cannot precede its exosome isolation" in page
        )
        assert not RnaIsolation.objects.exists()

    def test_shared_field_errors_stay_beside_their_field(self, tech_client):
        batch = make_batch(1)
        rows = {isolation_of("EXO-1-AL-1").pk: ""}
        response = tech_client.post(
            reverse("web:isolation_batch_rna", args=[batch.pk]),
            rna_data(rows, elution_volume_ul="0"),
        )
        assert field_errors(response, "elution_volume_ul") == [
            "The volume must be more than 0 µl, not 0"
        ]
        assert not RnaIsolation.objects.exists()

    def test_leaving_every_sample_out_is_refused(self, tech_client):
        batch = make_batch(1)
        response = tech_client.post(
            reverse("web:isolation_batch_rna", args=[batch.pk]),
            rna_data({isolation_of("EXO-1-AL-1").pk: None}),
        )
        assert field_errors(response, None) == ["Choose at least one sample"]

    def test_the_form_is_pinned_at_few_queries_whatever_the_batch_size(self, tech_client):
        small, large = make_batch(1, "EXO-S"), make_batch(8, "EXO-L")
        assert (
            queries(tech_client, reverse("web:isolation_batch_rna", args=[small.pk]))
            == queries(tech_client, reverse("web:isolation_batch_rna", args=[large.pk]))
            == 6
        )


@pytest.fixture
def isolated(assays):
    """A batch of three whose RNA is isolated."""
    batch = make_batch(3)
    for isolation in batch.isolations.all():
        RnaIsolationFactory(isolation=isolation, performed_on=dt.date(2014, 1, 2))
    return batch


class TestReverseTranscribeFromTheBatch:
    def test_codes_are_generated_and_the_primers_recorded(self, tech_client, isolated, assays):
        keys = {isolation_of(f"EXO-1-AL-{k}").pk: "" for k in (1, 2, 3)}
        keys[isolation_of("EXO-1-AL-3").pk] = "RT at 20 °C"
        response = tech_client.post(
            reverse("web:isolation_batch_rt", args=[isolated.pk]), rt_data(keys, assays[:2])
        )
        assert response.status_code == 302
        products = ReverseTranscription.objects.prefetch_related("assays").order_by("code")
        assert [p.code for p in products] == ["EXO-1-AL-1-RT1", "EXO-1-AL-2-RT1", "EXO-1-AL-3-RT1"]
        assert {a.target for a in products[0].assays.all()} == {"hsa-miR-122-5p", "hsa-miR-21-5p"}
        assert products[2].deviation == "RT at 20 °C"

    def test_the_code_is_never_typed(self, tech_client, isolated):
        html = tech_client.get(
            reverse("web:isolation_batch_rt", args=[isolated.pk])
        ).content.decode()
        assert 'name="code"' not in html and "-RT&lt;n&gt;" in html

    def test_the_same_primers_again_are_refused_on_the_row(self, tech_client, isolated, assays):
        rna = isolation_of("EXO-1-AL-2").rna
        ReverseTranscriptionFactory(code="EXO-1-AL-2-RT1", rna=rna, assays=assays)
        keys = {isolation_of(f"EXO-1-AL-{k}").pk: "" for k in (1, 2, 3)}
        response = tech_client.post(
            reverse("web:isolation_batch_rt", args=[isolated.pk]), rt_data(keys, assays)
        )
        assert response.status_code == 200
        assert "1 sample refused (EXO-1-AL-2)" in field_errors(response, None)[0]
        assert (
            "EXO-1-AL-2: its RNA was already reverse-transcribed with the same primers "
            "(EXO-1-AL-2-RT1)" in text(response)
        )
        assert ReverseTranscription.objects.count() == 1

    def test_an_rna_already_transcribed_is_offered_unticked(self, tech_client, isolated, assays):
        rna = isolation_of("EXO-1-AL-2").rna
        ReverseTranscriptionFactory(code="EXO-1-AL-2-RT1", rna=rna, assays=assays[:1])
        html = tech_client.get(
            reverse("web:isolation_batch_rt", args=[isolated.pk])
        ).content.decode()
        done, fresh = isolation_of("EXO-1-AL-2").pk, isolation_of("EXO-1-AL-1").pk
        assert f'name="include_{done}" id="id_include_{done}">' in html
        assert f'name="include_{fresh}" id="id_include_{fresh}" checked' in html

    def test_the_form_is_pinned_at_few_queries_whatever_the_batch_size(self, tech_client, assays):
        small, large = make_batch(1, "EXO-S"), make_batch(8, "EXO-L")
        for batch in (small, large):
            for isolation in batch.isolations.all():
                RnaIsolationFactory(isolation=isolation)
        assert (
            queries(tech_client, reverse("web:isolation_batch_rt", args=[small.pk]))
            == queries(tech_client, reverse("web:isolation_batch_rt", args=[large.pk]))
            == 9
        )


class TestByScanning:
    def test_scanned_tubes_go_from_rna_to_rt_to_their_labels(self, tech_client, assays):
        make_batch(2, "EXO-A")
        make_batch(1, "EXO-B")
        tubes = "EXO-A-AL-2\nEXO-B-AL-1"
        url = reverse("web:rna_scan")
        form = tech_client.get(url, {"tubes": tubes})
        assert [row.barcode for row, *_ in form.context["rows"]] == ["EXO-A-AL-2", "EXO-B-AL-1"]
        keys = {isolation_of(code).pk: "" for code in tubes.split()}
        response = tech_client.post(url, {**rna_data(keys), "tubes": tubes})
        assert response["Location"] == reverse("web:rt_scan") + "?" + urlencode({"tubes": tubes})
        assert RnaIsolation.objects.count() == 2

        response = tech_client.post(
            reverse("web:rt_scan"), {**rt_data(keys, assays), "tubes": tubes}
        )
        codes = "EXO-A-AL-2-RT1 EXO-B-AL-1-RT1"
        assert response["Location"] == reverse("web:rt_labels") + "?" + urlencode({"codes": codes})
        labels = tech_client.get(response["Location"]).content.decode()
        assert 'aria-label="Code 128 barcode EXO-A-AL-2-RT1"' in labels
        assert "samples=EXO-A-AL-2-RT1%0AEXO-B-AL-1-RT1" in labels

    def test_an_unknown_or_unextracted_tube_is_named_on_the_scan(self, tech_client):
        make_batch(1)
        AliquotFactory(barcode="FRESH")
        response = tech_client.get(reverse("web:rna_scan"), {"tubes": "EXO-1-AL-1 NOPE FRESH"})
        assert response.context["scan_form"].errors["tubes"] == [
            "No aliquot has the barcode NOPE",
            "FRESH went into no extraction batch",
        ]
        assert "No aliquot has the barcode NOPE" in text(response)
        response = tech_client.get(reverse("web:rt_scan"), {"tubes": "EXO-1-AL-1"})
        assert response.context["scan_form"].errors["tubes"] == [
            "EXO-1-AL-1 has no RNA isolated yet"
        ]

    def test_a_scanned_tube_already_isolated_is_refused_not_skipped(self, tech_client):
        make_batch(2)
        RnaIsolationFactory(isolation=isolation_of("EXO-1-AL-2"))
        tubes = "EXO-1-AL-1\nEXO-1-AL-2"
        keys = {isolation_of(code).pk: "" for code in tubes.split()}
        response = tech_client.post(reverse("web:rna_scan"), {**rna_data(keys), "tubes": tubes})
        assert response.status_code == 200
        assert "EXO-1-AL-2: its RNA was already isolated" in text(response)
        assert RnaIsolation.objects.count() == 1

    def test_the_scanned_form_is_pinned_at_few_queries_whatever_the_count(self, tech_client):
        make_batch(8)
        one = reverse("web:rna_scan") + "?" + urlencode({"tubes": "EXO-1-AL-1"})
        eight = (
            reverse("web:rna_scan")
            + "?"
            + urlencode({"tubes": "\n".join(f"EXO-1-AL-{k}" for k in range(1, 9))})
        )
        assert queries(tech_client, one) == queries(tech_client, eight) == 6


@pytest.fixture
def product(assays, technician):
    batch = make_batch(1)
    rna = RnaIsolationFactory(isolation=isolation_of("EXO-1-AL-1"), deviation="slow spin")
    product = ReverseTranscriptionFactory(code="EXO-1-AL-1-RT1", rna=rna, assays=assays)
    PatientIdentity.objects.create(
        patient=rna.isolation.aliquot.draw.patient,
        full_name="Hanako Yamada",
        hospital_number="H-99",
        date_of_birth=dt.date(1940, 1, 1),
    )
    assert batch
    return product


class TestRtProductPage:
    def test_the_lineage_runs_back_to_the_study_id_and_never_the_identity(
        self, tech_client, product
    ):
        draw = product.rna.isolation.aliquot.draw
        page = text(tech_client.get(reverse("web:rt_product_detail", args=[product.pk])))
        assert "EXO-1-AL-1-RT1" in page and "slow spin" in page
        assert "Exosome isolation batch EXO-1 2014-01-01" in page
        assert "Aliquot EXO-1-AL-1" in page
        assert f"Serum draw {draw.get_timepoint_display()}" in page
        assert f"Patient {draw.patient.study_id}" in page
        assert "Hanako" not in page and "H-99" not in page
        assert "Not on a plate yet" in page

    def test_it_lists_its_wells_in_pinned_queries(self, tech_client, product, assays, technician):
        url = reverse("web:rt_product_detail", args=[product.pk])
        before = queries(tech_client, url)
        plate_layout(
            plate=plate_create(barcode="PL-7", operator=technician),
            samples=[product],
            assays=assays,
            replicates=3,
        )
        assert queries(tech_client, url) == before == 7
        page = text(tech_client.get(url))
        assert "PL-7 A1 hsa-miR-122-5p Sample — " in page

    def test_the_sample_page_links_its_rt_products(self, tech_client, product):
        aliquot = product.rna.isolation.aliquot
        html = tech_client.get(reverse("web:sample_detail", args=[aliquot.pk])).content.decode()
        assert reverse("web:rt_product_detail", args=[product.pk]) in html

    def test_its_label_prints_the_code_as_a_barcode(self, tech_client, product):
        html = tech_client.get(reverse("web:rt_labels"), {"codes": product.code}).content.decode()
        assert 'aria-label="Code 128 barcode EXO-1-AL-1-RT1"' in html
        missing = text(tech_client.get(reverse("web:rt_labels"), {"codes": "NOPE"}))
        assert "No RT product has the code NOPE" in missing


class TestWhoMay:
    def test_an_analyst_may_open_none_of_it(self, analyst_client, product):
        batch = product.rna.isolation.batch
        for url in [
            reverse("web:isolation_batch_rna", args=[batch.pk]),
            reverse("web:isolation_batch_rt", args=[batch.pk]),
            reverse("web:rna_scan"),
            reverse("web:rt_scan"),
            reverse("web:rt_labels"),
            reverse("web:rt_product_detail", args=[product.pk]),
        ]:
            assert analyst_client.get(url).status_code == 403, url
            assert analyst_client.post(url, {}).status_code == 403, url
        assert not RnaIsolation.objects.exclude(pk=product.rna_id).exists()

    def test_a_technician_may(self, tech_client, product):
        batch = product.rna.isolation.batch
        for url in [
            reverse("web:isolation_batch_rna", args=[batch.pk]),
            reverse("web:isolation_batch_rt", args=[batch.pk]),
            reverse("web:rna_scan"),
            reverse("web:rt_scan"),
            reverse("web:rt_product_detail", args=[product.pk]),
        ]:
            assert tech_client.get(url).status_code == 200, url
