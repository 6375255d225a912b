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
