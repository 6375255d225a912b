"""Every API error is JSON, whatever raised it; a database that dropped the connection
is a 503 the client may retry, never an HTML 500; kept connections are health-checked."""

from __future__ import annotations

import json

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import RequestFactory
from django.urls import reverse

from biobank.api import views as api_views
from biobank.models import Aliquot, StorageEvent
from biobank.views import errors

pytestmark = pytest.mark.django_db

DRIVER_TEXT = "server closed the connection unexpectedly"


def consume_url(world):
    return reverse("api:aliquot-consume", args=[world["aliquot"].pk])


def assert_json(response, status):
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return json.loads(response.content)


def test_kept_connections_are_health_checked():
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_dropped_connection_during_a_write_is_a_json_503(clients, world, monkeypatch, error):
    def dropped(**kwargs):
        raise error(DRIVER_TEXT)

    monkeypatch.setattr(api_views.aliquot_services, "aliquot_consume", dropped)
    before = Aliquot.objects.get(pk=world["aliquot"].pk).volume_ul
    response = clients["technician"].post(
        consume_url(world), {"volume_ul": "10", "reason": "RNA"}, format="json"
    )
    body = assert_json(response, 503)
    assert body == {"detail": "The database is unavailable; retry (with the same Idempotency-Key)"}
    assert int(response["Retry-After"]) > 0
    assert DRIVER_TEXT not in response.content.decode()
    assert Aliquot.objects.get(pk=world["aliquot"].pk).volume_ul == before


def test_a_dropped_connection_during_a_read_is_a_json_503(clients, world, monkeypatch):
    def dropped(self, *args, **kwargs):
        raise OperationalError(DRIVER_TEXT)

    monkeypatch.setattr(api_views.AliquotViewSet, "list", dropped)
    body = assert_json(clients["technician"].get(reverse("api:aliquot-list")), 503)
    assert "retry" in body["detail"]


def test_an_unexpected_error_in_an_api_view_is_a_json_500(clients, world, monkeypatch, settings):
    settings.DEBUG = False

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(api_views.AliquotViewSet, "list", broken)
    client = clients["technician"]
    client.raise_request_exception = False
    body = assert_json(client.get(reverse("api:aliquot-list")), 500)
    assert body == {"detail": "Server error; the administrators have the details."}


def test_the_500_handler_answers_a_lost_database_with_a_503():
    """What escapes DRF (a middleware's query, say) reaches Django's handler500."""
    request = RequestFactory().get("/api/v1/aliquots/")
    try:
        raise OperationalError(DRIVER_TEXT)
    except OperationalError:
        response = errors.server_error(request)
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    assert DRIVER_TEXT not in response.content.decode()


def test_the_error_handlers_answer_json_under_api_and_html_elsewhere():
    factory = RequestFactory()
    api, page = factory.get("/api/v1/nothing/"), factory.get("/nothing/")
    for handler, status in (
        (errors.page_not_found, 404),
        (errors.permission_denied, 403),
        (errors.bad_request, 400),
    ):
        assert_json(handler(api, Exception("x")), status)
        html = handler(page, Exception("x"))
        assert html.status_code == status and html["Content-Type"].startswith("text/html")
    assert_json(errors.server_error(api), 500)
    assert errors.server_error(page)["Content-Type"].startswith("text/html")


def test_403_404_405_from_the_api_are_json(clients, world):
    assert "detail" in assert_json(
        clients["analyst"].post(consume_url(world), {"volume_ul": "1", "reason": "x"}), 403
    )
    assert "detail" in assert_json(
        clients["technician"].get(reverse("api:aliquot-detail", args=[999999])), 404
    )
    assert "detail" in assert_json(clients["technician"].delete(consume_url(world)), 405)
    assert "detail" in assert_json(clients["analyst"].get("/api/v1/no-such-thing/"), 404)
    assert StorageEvent.objects.filter(aliquot=world["aliquot"], kind="consume").count() == 0
