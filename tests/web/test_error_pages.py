"""The styled error pages: a wrong link or a page beyond one's role gets ExoTrack's page,
with the header and a way back, never Django's bare text (issue 15)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_an_unknown_address_is_a_styled_404_with_a_tube_search(tech_client):
    response = tech_client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Nothing here" in body
    assert "/no/such/page/" in body
    assert 'class="top"' in body  # the site's header, with the role's links
    assert 'name="barcode"' in body  # a technician can look the tube up from here


def test_a_page_beyond_the_role_is_a_styled_403_that_says_who_is_signed_in(client, analyst):
    client.force_login(analyst)
    response = client.get("/draws/new/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "You may not open this page" in body
    assert analyst.get_username() in body
    assert "Nothing was changed" in body


def test_the_api_still_answers_json_for_both():
    response = Client().get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_analysts_header_reaches_the_analyses_and_the_export(client, analyst):
    client.force_login(analyst)
    body = client.get("/").content.decode()
    assert 'href="/analysis/"' in body
    assert 'href="/api/v1/export/cohort.csv"' in body


def test_the_export_link_follows_the_exports_permission(client, django_user_model):
    """Shown exactly to those the export answers (analysis.view_analysisrun)."""
    nobody = django_user_model.objects.create_user("visitor", password="x")
    client.force_login(nobody)
    assert "/api/v1/export/cohort.csv" not in client.get("/").content.decode()
    assert client.get("/api/v1/export/cohort.csv").status_code == 403
