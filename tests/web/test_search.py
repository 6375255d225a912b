"""The header's search: any part of a code, any case, every kind the user may view; a
scanned whole code opens its page (issue 15)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ..factories import (
    AliquotFactory,
    BoxFactory,
    ExosomeIsolationBatchFactory,
    ReverseTranscriptionFactory,
)

pytestmark = pytest.mark.django_db


def test_a_scanned_barcode_opens_the_tube(tech_client):
    tube = AliquotFactory(barcode="SER-0042-PRE-A")
    AliquotFactory(barcode="SER-0042-PRE-AB")  # contains the scan, but is not it
    response = tech_client.get("/search/", {"q": "SER-0042-PRE-A"})
    assert response.status_code == 302
    assert response["Location"] == f"/samples/{tube.pk}/"


def test_a_whole_code_in_the_wrong_case_still_opens_it(tech_client):
    box = BoxFactory(barcode="BOX-FRZ1-07")
    response = tech_client.get("/search/", {"q": "box-frz1-07"})
    assert response["Location"] == f"/boxes/{box.pk}/"


def test_part_of_a_code_in_lower_case_lists_every_kind_that_matches(tech_client):
    AliquotFactory(barcode="HCC-77-PRE-1")
    AliquotFactory(barcode="HCC-77-POST-1")
    AliquotFactory(barcode="OTHER-1")
    BoxFactory(barcode="BOX-HCC-77")
    ReverseTranscriptionFactory(code="RT-HCC-770")
    ExosomeIsolationBatchFactory(code="EXO-2026-01")
    response = tech_client.get("/search/", {"q": "hcc-77"})
    assert response.status_code == 200
    body = response.content.decode()
    for code in ("HCC-77-PRE-1", "HCC-77-POST-1", "BOX-HCC-77", "RT-HCC-770"):
        assert code in body
    assert "OTHER-1" not in body and "EXO-2026-01" not in body


def test_a_study_id_opens_the_patients_page_with_their_tubes(tech_client):
    tube = AliquotFactory(barcode="AL-X1")
    AliquotFactory(barcode="AL-X2", draw=tube.draw)
    study_id = tube.draw.patient.study_id
    response = tech_client.get("/search/", {"q": study_id.lower()})
    assert response["Location"] == f"/patients/{study_id}/"
    body = tech_client.get(response["Location"]).content.decode()
    assert "AL-X1" in body and "AL-X2" in body


def test_part_of_a_study_id_lists_the_patients_and_their_tubes(tech_client):
    tube = AliquotFactory(barcode="AL-Y1")
    study_id = tube.draw.patient.study_id
    body = tech_client.get("/search/", {"q": study_id[:-1].lower()}).content.decode()
    assert f'href="/patients/{study_id}/"' in body and "AL-Y1" in body


def test_nothing_found_says_so(tech_client):
    body = tech_client.get("/search/", {"q": "zz-nothing"}).content.decode()
    assert "Nothing matches" in body


def test_one_character_matches_only_a_whole_code(tech_client):
    AliquotFactory(barcode="A1-TUBE")
    body = tech_client.get("/search/", {"q": "a"}).content.decode()
    assert "A1-TUBE" not in body


def test_kinds_the_user_may_not_view_are_not_searched(client, analyst):
    AliquotFactory(barcode="HIDDEN-1")
    client.force_login(analyst)
    response = client.get("/search/", {"q": "HIDDEN"})
    assert response.status_code == 200
    assert "HIDDEN-1" not in response.content.decode()


def test_the_search_runs_a_constant_number_of_queries(tech_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            tech_client.get("/search/", {"q": "hcc"})
        return len(captured)

    AliquotFactory(barcode="HCC-1")
    one = queries()
    for n in range(2, 12):
        AliquotFactory(barcode=f"HCC-{n}")
        BoxFactory(barcode=f"BOX-HCC-{n}")
    assert queries() == one
