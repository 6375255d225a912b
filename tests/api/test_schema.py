"""The OpenAPI 3 schema validates with no warning and lists every route and method."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse

from .helpers import all_routes

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yml"
    # --validate checks it against the OpenAPI 3 meta-schema; --fail-on-warn makes any
    # generator warning (an unresolvable field, an enum collision) a failure.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(path), stderr=io.StringIO()
    )
    return yaml.safe_load(path.read_text())


def test_the_schema_is_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "ExoTrack API"
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_every_route_and_method_is_in_the_schema(schema, world):
    paths = schema["paths"]
    missing = []
    for route in all_routes():
        template = route.url(world)
        if route.detail:
            template = template.replace(f"/{world[route.basename].pk}/", "/{id}/")
        if template not in paths:
            missing.append(template)
            continue
        for method in route.methods:
            if method.lower() not in paths[template]:
                missing.append(f"{method} {template}")
    assert not missing


def test_no_path_outside_the_api(schema):
    assert all(path.startswith("/api/v1/") for path in schema["paths"])


def test_writes_document_their_field_errors(schema):
    post = schema["paths"]["/api/v1/aliquots/{id}/consume/"]["post"]
    assert {"200", "400"} <= set(post["responses"])
    assert "AliquotRequest" not in str(post)  # requests and responses are split


def test_the_served_schema_is_the_generated_one(clients, schema):
    response = clients["analyst"].get(reverse("api:schema"), {"format": "json"})
    assert response.status_code == 200
    assert set(response.json()["paths"]) == set(schema["paths"])


def local_urls(html: str) -> list[str]:
    """Every src/href in a page; fails if any leaves the application."""
    import re

    urls = re.findall(r'(?:src|href|spec-url)="([^"]*)"', html)
    remote = [url for url in urls if url.startswith(("http:", "https:", "//"))]
    assert not remote, f"loaded from outside the application: {remote}"
    assert "https://" not in html and "http://" not in html
    return urls


@pytest.mark.parametrize("name", ["api:docs", "api:redoc"])
def test_the_api_docs_load_only_the_applications_own_static_files(clients, name):
    from django.conf import settings
    from django.contrib.staticfiles import finders

    response = clients["analyst"].get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    urls = local_urls(html)
    static = [url for url in urls if url.startswith(settings.STATIC_URL)]
    scripts = [url for url in static if url.endswith(".js")]
    assert scripts, "the UI's bundle is one of our static files"
    for url in static:
        assert finders.find(url.removeprefix(settings.STATIC_URL)), f"missing: {url}"
    # No inline script: Swagger UI's start-up code is its own request (strict CSP).
    assert "<script>" not in html.replace(" ", "")
    for url in urls:
        if "script=" in url:
            script = clients["analyst"].get(url.replace("&amp;", "&"))
            assert script.status_code == 200
            assert script["Content-Type"].startswith("application/javascript")
            assert "SwaggerUIBundle" in script.content.decode()


def component(schema, name):
    return schema["components"]["schemas"][name]


def test_a_cursor_paginated_list_has_no_count_and_actions_answer_plain_arrays(schema):
    wells = schema["paths"]["/api/v1/wells/"]["get"]["responses"]["200"]
    ref = wells["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "count" not in component(schema, ref)["properties"]
    assert "cursor" in {p["name"] for p in schema["paths"]["/api/v1/wells/"]["get"]["parameters"]}
    patients = schema["paths"]["/api/v1/patients/"]["get"]["responses"]["200"]
    ref = patients["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "count" in component(schema, ref)["required"]  # page-number pagination
    for path, method in [
        ("/api/v1/plates/{id}/imports/", "get"),
        ("/api/v1/plates/{id}/layout/", "post"),
    ]:
        answer = schema["paths"][path][method]["responses"]["200"]
        assert answer["content"]["application/json"]["schema"]["type"] == "array", path


def test_usernames_are_nullable_and_blank_choices_list_the_empty_string(schema):
    for name, field in [("AnalysisRun", "requested_by"), ("PlateImport", "reverted_by")]:
        assert component(schema, name)["properties"][field]["nullable"] is True
    for name, field in [("ClinicalAssessment", "bclc_stage"), ("FollowUp", "cause_of_death")]:
        refs = str(component(schema, name)["properties"][field])
        assert "BlankEnum" in refs, refs
    assert component(schema, "BlankEnum")["enum"] == [""]


def test_every_operation_documents_its_json_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "403", "404"} <= set(responses), (method, path)
            for code in ("400", "403", "404"):
                assert "application/json" in responses[code]["content"], (method, path, code)
            if method in {"post", "put", "patch", "delete"}:
                assert "409" in responses, (method, path)


def test_a_post_to_no_route_with_a_session_is_a_json_404_not_a_csrf_page(curator):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(curator)
    response = client.post("/api/v1/wells/0.5/restore/", {"reason": "x"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("Not found.")
