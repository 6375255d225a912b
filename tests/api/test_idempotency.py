"""Idempotency-Key: a client that lost a response retries with the same key and the
write is not made twice; the same key with another request is a 422."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from biobank.api import views as api_views
from biobank.api.urls import router
from biobank.infra.models import IdempotencyRecord
from biobank.models import (
    Aliquot,
    PlateImport,
    ReverseTranscription,
    RnaIsolation,
    StorageEvent,
    Well,
)

from .helpers import build_world, client_for
from .test_bench_chain import RNA_URL, RT_URL, rna_body, tubes  # noqa: F401 (fixture)
from .test_rules import lc480_export, upload

pytestmark = pytest.mark.django_db

KEY = "5f0c1e9a-4b1e-4c1d-9a57-0d6b3c1f2e77"
# Writes that take no Idempotency-Key: the preview writes nothing; a re-run is asked for
# again harmlessly (an unchanged input gives an `unchanged` run) and its answer is the
# run as computed after commit, which a stored answer could not be.
NOT_IDEMPOTENT = {("plate", "import_preview"), ("analysis-plan", "rerun")}


def consume_url(aliquot):
    return reverse("api:aliquot-consume", args=[aliquot.pk])


def consumes(aliquot) -> int:
    return StorageEvent.objects.filter(aliquot=aliquot, kind="consume").count()


def volume(aliquot) -> Decimal:
    return Aliquot.objects.get(pk=aliquot.pk).volume_ul


def test_repeating_a_consume_with_the_same_key_takes_once(clients, world):
    """The acceptance test: 250 µl, take 40 twice with one key: 210 µl, one event."""
    aliquot, api = world["aliquot"], clients["technician"]
    body = {"volume_ul": "40", "reason": "RNA isolation"}
    first = api.post(consume_url(aliquot), body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    second = api.post(consume_url(aliquot), body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert Decimal(first.json()["volume_ul"]) == Decimal("210")
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert volume(aliquot) == Decimal("210")
    assert consumes(aliquot) == 1


def test_without_a_key_a_repeat_takes_twice(clients, world):
    aliquot, api = world["aliquot"], clients["technician"]
    for _ in range(2):
        api.post(consume_url(aliquot), {"volume_ul": "40", "reason": "RNA"}, format="json")
    assert volume(aliquot) == Decimal("170") and consumes(aliquot) == 2


def test_the_same_key_with_another_body_is_a_422(clients, world):
    aliquot, api = world["aliquot"], clients["technician"]
    api.post(consume_url(aliquot), {"volume_ul": "40", "reason": "RNA"}, HTTP_IDEMPOTENCY_KEY=KEY)
    other = api.post(
        consume_url(aliquot), {"volume_ul": "50", "reason": "RNA"}, HTTP_IDEMPOTENCY_KEY=KEY
    )
    assert other.status_code == 422 and other["Content-Type"] == "application/json"
    assert "Idempotency-Key was already used for a different request" in other.json()["detail"]
    assert volume(aliquot) == Decimal("210") and consumes(aliquot) == 1


def test_the_same_key_on_another_tube_is_a_422(clients, world):
    first, second = world["_aliquots"][:2]
    api, body = clients["technician"], {"volume_ul": "40", "reason": "RNA"}
    api.post(consume_url(first), body, HTTP_IDEMPOTENCY_KEY=KEY)
    assert api.post(consume_url(second), body, HTTP_IDEMPOTENCY_KEY=KEY).status_code == 422
    assert volume(second) == Decimal("250")


def test_the_body_is_compared_by_value_not_by_spelling(clients, world):
    aliquot, api = world["aliquot"], clients["technician"]
    url = consume_url(aliquot)
    api.post(
        url,
        '{"volume_ul": "40", "reason": "RNA"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    again = api.post(
        url,
        '{ "reason" : "RNA",  "volume_ul" : "40" }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert consumes(aliquot) == 1


def test_keys_belong_to_their_user(clients, world):
    aliquot, body = world["aliquot"], {"volume_ul": "40", "reason": "RNA"}
    clients["technician"].post(consume_url(aliquot), body, HTTP_IDEMPOTENCY_KEY=KEY)
    other = clients["curator"].post(consume_url(aliquot), body, HTTP_IDEMPOTENCY_KEY=KEY)
    assert other.status_code == 200 and "Idempotent-Replayed" not in other
    assert volume(aliquot) == Decimal("170") and consumes(aliquot) == 2


def test_a_refused_write_leaves_the_key_free(clients, world):
    """An error wrote nothing, so nothing is stored: the corrected request may use the key."""
    aliquot, api = world["aliquot"], clients["technician"]
    too_much = api.post(
        consume_url(aliquot), {"volume_ul": "900", "reason": "RNA"}, HTTP_IDEMPOTENCY_KEY=KEY
    )
    assert too_much.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    fixed = api.post(
        consume_url(aliquot), {"volume_ul": "40", "reason": "RNA"}, HTTP_IDEMPOTENCY_KEY=KEY
    )
    assert fixed.status_code == 200 and volume(aliquot) == Decimal("210")


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "bad\x01key"])
def test_a_malformed_key_is_a_400_naming_the_header(clients, world, key):
    response = clients["technician"].post(
        consume_url(world["aliquot"]),
        {"volume_ul": "40", "reason": "RNA"},
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    assert consumes(world["aliquot"]) == 0


def test_the_stored_answer_is_in_the_database(clients, world, technician):
    aliquot = world["aliquot"]
    answer = clients["technician"].post(
        consume_url(aliquot), {"volume_ul": "40", "reason": "RNA"}, HTTP_IDEMPOTENCY_KEY=KEY
    )
    record = IdempotencyRecord.objects.get()
    assert (record.user, record.key, record.method) == (technician, KEY, "POST")
    assert record.path == consume_url(aliquot) and record.status_code == 200
    assert len(record.fingerprint) == 64
    assert answer.json()["volume_ul"] in record.response_body


def test_check_out_and_in_take_the_key(clients, world):
    aliquot, api = world["aliquot"], clients["technician"]
    out = reverse("api:aliquot-check-out", args=[aliquot.pk])
    for _ in range(2):
        assert (
            api.post(out, {"reason": "to bench"}, HTTP_IDEMPOTENCY_KEY="out-1").status_code == 200
        )
    box = world["box"]
    place = {"box": box.pk, "row": 2, "column": 1, "reason": "back"}
    back = reverse("api:aliquot-check-in", args=[aliquot.pk])
    for _ in range(2):
        assert api.post(back, place, HTTP_IDEMPOTENCY_KEY="in-1").status_code == 200
    kinds = list(
        StorageEvent.objects.filter(aliquot=aliquot).order_by("id").values_list("kind", flat=True)
    )
    assert kinds[-2:] == ["check_out", "check_in"] and kinds.count("check_out") == 1


def test_rna_and_rt_batches_are_recorded_once(clients, tubes):  # noqa: F811
    from tests.factories import study_assays

    study_assays()
    api = clients["technician"]
    first = api.post(RNA_URL, rna_body(tubes), format="json", HTTP_IDEMPOTENCY_KEY="rna-1")
    again = api.post(RNA_URL, rna_body(tubes), format="json", HTTP_IDEMPOTENCY_KEY="rna-1")
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert RnaIsolation.objects.count() == 2

    rt = {"samples": [{"aliquot": "API-2"}], "performed_on": "2014-01-02", "kit_lot": "RT-1"}
    first = api.post(RT_URL, rt, format="json", HTTP_IDEMPOTENCY_KEY="rt-1")
    again = api.post(RT_URL, rt, format="json", HTTP_IDEMPOTENCY_KEY="rt-1")
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert ReverseTranscription.objects.filter(code__startswith="API-2-RT").count() == 1


def test_a_plate_import_is_confirmed_once(clients, world, settings, tmp_path):
    """Multipart: the file's bytes are part of the fingerprint."""
    settings.MEDIA_ROOT = tmp_path
    api, plate = clients["technician"], world["plate"]
    wells = Well.objects.filter(plate=plate).select_related("sample").order_by("row", "column")
    rows = [
        (w.position, w.sample.code if w.sample else "NTC", "" if w.sample is None else "24.5")
        for w in wells
    ]
    export = lc480_export(rows)
    url = reverse("api:plate-import", args=[plate.pk])
    first = api.post(url, {"file": upload(export)}, format="multipart", HTTP_IDEMPOTENCY_KEY="imp")
    again = api.post(url, {"file": upload(export)}, format="multipart", HTTP_IDEMPOTENCY_KEY="imp")
    assert first.status_code == again.status_code == 201, first.json()
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert PlateImport.objects.filter(plate=plate).count() == 1

    changed = lc480_export([(pos, name, "25.0" if cq else "") for pos, name, cq in rows])
    other = api.post(url, {"file": upload(changed)}, format="multipart", HTTP_IDEMPOTENCY_KEY="imp")
    assert other.status_code == 422


def test_every_write_endpoint_takes_the_key():
    """A new write endpoint cannot forget the decorator (or must be listed above)."""
    missing = []
    for _prefix, viewset, basename in router.registry:
        handlers = {
            name: getattr(viewset, name)
            for name in ("create", "update", "partial_update")
            if hasattr(viewset, name)
        }
        for extra in viewset.get_extra_actions():
            if {"post", "put", "patch"} & set(extra.mapping):
                handlers[extra.__name__] = extra
        for name, handler in handlers.items():
            if (basename, name) not in NOT_IDEMPOTENT and not getattr(handler, "idempotent", False):
                missing.append(f"{basename}.{name}")
    assert missing == []


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_take_once(curator, technician, monkeypatch):
    """Both requests leave at once; the service is slowed inside the transaction so that
    the second arrives while the first holds the key. One take, two equal answers."""
    world = build_world(curator, study_id="RACE-1")
    aliquot = world["aliquot"]
    real_consume = api_views.aliquot_services.aliquot_consume

    def slow_consume(**kwargs):
        taken = real_consume(**kwargs)
        time.sleep(0.5)
        return taken

    monkeypatch.setattr(api_views.aliquot_services, "aliquot_consume", slow_consume)
    start = threading.Barrier(2)
    answers = [None, None]

    def client_thread(index):
        try:
            api = client_for(technician)
            start.wait()
            answers[index] = api.post(
                consume_url(aliquot),
                {"volume_ul": "40", "reason": "RNA"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=KEY,
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(answer is not None for answer in answers)
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert sorted("Idempotent-Replayed" in a for a in answers) == [False, True]
    assert volume(aliquot) == Decimal("210") and consumes(aliquot) == 1
    assert IdempotencyRecord.objects.count() == 1


def test_the_schema_documents_the_header_and_its_422():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    consume = schema["paths"]["/api/v1/aliquots/{id}/consume/"]["post"]
    header = [p for p in consume["parameters"] if p["name"] == "Idempotency-Key"]
    assert header and header[0]["in"] == "header" and header[0].get("required", False) is False
    assert consume["responses"]["422"]["content"]["application/json"]
    preview = schema["paths"]["/api/v1/plates/{id}/import-preview/"]["post"]
    assert "Idempotency-Key" not in {p["name"] for p in preview.get("parameters", [])}
