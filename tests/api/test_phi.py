"""No identifying field reaches anyone but a curator's identity endpoint: not through
the API (JSON or the browsable HTML), the export, the analysis report, or an error.

A patient is enrolled with a planted name, hospital number and birth date
(helpers.PLANTED); every response is searched for them in several spellings."""

from __future__ import annotations

import inspect
import io
import zipfile

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework import serializers as drf_serializers

from analysis.models import AnalysisRun
from analysis.services import analysis_run
from biobank.api import serializers as api_serializers

from .helpers import METHODS, all_routes, phi_found

pytestmark = pytest.mark.django_db

IDENTITY_ROUTES = {"patient-identity:list", "patient-identity:detail"}
IDENTITY_FIELDS = {"full_name", "hospital_number", "date_of_birth", "identity"}


def body(response) -> str:
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    if content.startswith(b"PK\x03\x04"):  # a zipped file (RDML): search what it holds
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "".join(archive.read(name).decode() for name in archive.namelist())
    return content.decode()


def test_the_plant_is_visible_to_curators_on_the_identity_endpoint(clients, world):
    response = clients["curator"].get(reverse("api:patient-identity-list"))
    assert set(phi_found(body(response))) >= {"Zebulon", "HN-PLANT-7731", "1931-07-19"}


@pytest.mark.parametrize("role", ["technician", "analyst", "curator"])
def test_no_read_returns_identities(role, clients, world):
    """Every GET route, as JSON and as the browsable HTML page; curators included
    (the patient serializer is pseudonymous for everyone)."""
    client = clients[role]
    leaks = []
    for route in all_routes():
        if "GET" not in route.methods or route.key in IDENTITY_ROUTES:
            continue
        url = route.url(world)
        for accept in ("application/json", "text/html"):
            response = client.get(url, HTTP_ACCEPT=accept)
            if found := phi_found(body(response)):
                leaks.append(f"{role} GET {url} ({accept}, {response.status_code}): {found}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("role", ["anonymous", "technician", "analyst"])
def test_no_error_returns_identities(role, clients, world):
    """Refused, invalid, unknown and unsupported requests on every route."""
    client = clients[role]
    junk = {
        "patient": world["patient"].pk,
        "study_id": world["patient"].study_id,
        "volume_ul": "-1",
        "reason": "",
        "pt_percent": 750,
        "drawn_at": "yesterday",
        "positions": [{"box": 999999, "row": 99, "column": 0}],
    }
    leaks = []
    for route in all_routes():
        urls = [route.url(world)]
        if route.detail:
            urls.append(urls[0].replace(f"/{world[route.basename].pk}/", "/999999/"))
        for url in urls:
            for method in METHODS:
                response = getattr(client, method.lower())(url, junk, format="json")
                if found := phi_found(body(response)):
                    leaks.append(f"{role} {method} {url} ({response.status_code}): {found}")
            response = client.get(url, {"patient": "x", "ordering": "identity__full_name"})
            if found := phi_found(body(response)):
                leaks.append(f"{role} GET {url} with filters: {found}")
    assert not leaks, "\n".join(leaks)


def test_the_export_holds_no_identity(clients, world, tmp_path):
    for name in ("api:export-cohort-csv", "api:export-cohort-json"):
        for role in ("technician", "analyst", "curator"):
            text = body(clients[role].get(reverse(name)))
            assert world["patient"].study_id in text
            assert not phi_found(text), (name, role)
    out = tmp_path / "cohort.csv"
    call_command("export_cohort", "--output", str(out), stderr=None)
    assert not phi_found(out.read_text())
    for column in ("full_name", "hospital_number", "date_of_birth", "name"):
        assert column not in out.read_text().splitlines()[5].split(",")


def test_the_report_holds_no_identity(users, world):
    run = analysis_run(plan=world["analysis-plan"], trigger=AnalysisRun.Trigger.MANUAL)
    for role in ("technician", "analyst"):
        browser = Client()
        browser.force_login(users[role])
        for url in (
            reverse("analysis:plans"),
            reverse("analysis:run", args=[run.pk]),
            reverse("analysis:run-download", args=[run.pk]),
            reverse("analysis:run-miqe", args=[run.pk]),
            reverse("analysis:run-miqe-csv", args=[run.pk]),
        ):
            response = browser.get(url)
            assert response.status_code == 200, (role, url)
            assert not phi_found(response.content.decode()), (role, url)


def test_the_rdml_and_miqe_files_hold_no_identity(users, world):
    """RDML and the MIQE checklist go to reviewers and other labs: codes, never names."""
    import io
    import zipfile

    browser = Client()
    browser.force_login(users["technician"])
    plate = world["plate"]
    for url in (reverse("web:plate_rdml", args=[plate.pk]), reverse("web:study_rdml")):
        response = browser.get(url)
        assert response.status_code == 200, url
        xml = zipfile.ZipFile(io.BytesIO(response.content)).read("rdml_data.xml").decode()
        assert not phi_found(xml), url
    for url in (
        reverse("web:plate_miqe", args=[plate.pk]),
        reverse("web:plate_miqe_csv", args=[plate.pk]),
    ):
        response = browser.get(url)
        assert response.status_code == 200, url
        assert not phi_found(response.content.decode()), url


def test_the_schema_and_docs_hold_no_identity(clients, world):
    for name in ("api:schema", "api:docs"):
        assert not phi_found(body(clients["analyst"].get(reverse(name))))


def test_no_serializer_but_the_identity_one_has_identity_fields():
    allowed = {api_serializers.PatientIdentitySerializer, api_serializers.IdentityInput}
    for _name, cls in inspect.getmembers(api_serializers, inspect.isclass):
        if not issubclass(cls, drf_serializers.BaseSerializer) or cls in allowed:
            continue
        fields = set(cls().fields) if cls is not drf_serializers.Serializer else set()
        if cls is api_serializers.PatientInput:
            assert cls().fields["identity"].write_only
            fields -= {"identity"}
        assert not fields & IDENTITY_FIELDS, cls.__name__


def test_anonymous_gets_nothing(clients, world):
    for route in all_routes():
        if route.key == "token":
            continue
        response = clients["anonymous"].get(route.url(world))
        assert response.status_code == 401, route.key
        assert not phi_found(body(response))
