"""The rules hold through the API: every write goes through the service the web
forms use, and a refusal is a 400 naming the field, never a 500."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import reverse

from biobank.models import Aliquot, ExosomeIsolationBatch, PatientIdentity, StorageEvent, Well

from .helpers import aware

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"api:{name}", args=args)


def assert_field_error(response, field):
    assert response.status_code == 400, (response.status_code, response.content[:400])
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json(), response.json()


class TestAliquots:
    def test_a_negative_volume_is_refused_naming_the_field(self, clients, world):
        box = world["box"]
        response = clients["technician"].post(
            url("aliquot-list"),
            {
                "draw": world["draw"].pk,
                "volume_ul": "-5",
                "positions": [{"box": box.pk, "row": 5, "column": 5}],
            },
        )
        assert_field_error(response, "volume_ul")

    def test_more_than_the_draw_holds_is_refused(self, clients, world):
        box = world["box"]
        response = clients["technician"].post(
            url("aliquot-list"),
            {
                "draw": world["draw"].pk,
                "volume_ul": "400",
                "positions": [{"box": box.pk, "row": 5, "column": c} for c in (1, 2)],
            },
        )
        assert_field_error(response, "volume_ul")

    def test_cut_and_place(self, clients, world):
        box = world["box"]
        response = clients["technician"].post(
            url("aliquot-list"),
            {
                "draw": world["draw"].pk,
                "volume_ul": "100",
                "positions": [{"box": box.pk, "row": 4, "column": 1}],
                "barcodes": ["SCANNED-1"],
            },
        )
        assert response.status_code == 201, response.json()
        [created] = response.json()
        assert created["barcode"] == "SCANNED-1" and created["position"] == "D1"
        assert created["location"]["box_barcode"] == box.barcode

    def test_a_taken_position_is_refused(self, clients, world):
        first, second, _ = world["_aliquots"]
        response = clients["technician"].post(
            url("aliquot-move", first.pk),
            {"box": second.box_id, "row": second.row, "column": second.column, "reason": "tidy"},
        )
        assert_field_error(response, "position")
        assert "already holds" in response.json()["position"][0]

    def test_a_position_outside_the_box_is_refused(self, clients, world):
        first = world["aliquot"]
        response = clients["technician"].post(
            url("aliquot-move", first.pk),
            {"box": first.box_id, "row": 10, "column": 1, "reason": "tidy"},
        )
        assert_field_error(response, "position")

    def test_check_out_and_in_with_the_custody_log(self, clients, world, technician):
        aliquot = world["aliquot"]
        api = clients["technician"]
        out = api.post(url("aliquot-check-out", aliquot.pk), {"reason": "to the bench"})
        assert out.status_code == 200 and out.json()["status"] == "out"
        assert out.json()["location"] is None
        again = api.post(url("aliquot-check-out", aliquot.pk), {"reason": "twice"})
        assert_field_error(again, "status")
        back = api.post(
            url("aliquot-check-in", aliquot.pk), {"box": aliquot.box_id, "row": 9, "column": 9}
        )
        assert back.status_code == 200 and back.json()["position"] == "I9"
        events = StorageEvent.objects.filter(aliquot=aliquot).order_by("at", "id")
        assert [e.kind for e in events][-2:] == ["check_out", "check_in"]
        assert events.last().user == technician
        log = api.get(url("storage-event-list"), {"aliquot": aliquot.pk}).json()
        assert {e["kind"] for e in log["results"]} >= {"check_in", "check_out"}

    def test_check_out_needs_a_reason(self, clients, world):
        response = clients["technician"].post(url("aliquot-check-out", world["aliquot"].pk), {})
        assert_field_error(response, "reason")

    def test_consume_never_below_zero(self, clients, world):
        aliquot = world["aliquot"]
        api = clients["technician"]
        too_much = api.post(
            url("aliquot-consume", aliquot.pk), {"volume_ul": "300", "reason": "assay"}
        )
        assert_field_error(too_much, "volume_ul")
        taken = api.post(url("aliquot-consume", aliquot.pk), {"volume_ul": "100", "reason": "x"})
        assert taken.status_code == 200 and taken.json()["volume_ul"] == "150.0"
        rest = api.post(url("aliquot-consume", aliquot.pk), {"volume_ul": "150", "reason": "x"})
        assert rest.json()["status"] == "used_up" and rest.json()["box"] is None

    def test_thaw_and_discard(self, clients, world):
        aliquot = world["aliquot"]
        api = clients["technician"]
        thawed = api.post(url("aliquot-thaw", aliquot.pk), {"reason": "freezer door"})
        assert thawed.json()["freeze_thaw_count"] == 1
        discarded = api.post(url("aliquot-discard", aliquot.pk), {"reason": "haemolysed"})
        assert discarded.json()["status"] == "discarded"

    def test_no_put_patch_or_delete_on_an_aliquot(self, clients, world):
        api = clients["curator"]
        detail = url("aliquot-detail", world["aliquot"].pk)
        for method in ("put", "patch", "delete"):
            assert getattr(api, method)(detail, {"volume_ul": "1"}).status_code == 405
        assert Aliquot.objects.get(pk=world["aliquot"].pk).volume_ul == Decimal("250")

    def test_an_extraction_batch_short_of_serum_saves_nothing(self, clients, world):
        first, second, _ = world["_aliquots"]
        api = clients["technician"]
        api.post(url("aliquot-consume", second.pk), {"volume_ul": "200", "reason": "x"})
        response = api.post(
            url("extraction-batch-list"),
            {
                "code": "EXO-SHORT",
                "performed_on": "2014-03-01",
                "exoquick_lot": "EQ",
                "spike_in_lot": "CEL",
                "aliquots": [first.pk, second.pk],
            },
        )
        assert_field_error(response, "volume_ul")
        assert not ExosomeIsolationBatch.objects.filter(code="EXO-SHORT").exists()
        assert Aliquot.objects.get(pk=first.pk).volume_ul == Decimal("250")

    def test_an_extraction_batch_takes_the_serum(self, clients, world):
        first = world["aliquot"]
        response = clients["technician"].post(
            url("extraction-batch-list"),
            {
                "code": "EXO-OK",
                "performed_on": "2014-03-01",
                "exoquick_lot": "EQ",
                "spike_in_lot": "CEL",
                "aliquots": [first.pk],
                "serum_volume_ul": "200",
            },
        )
        assert response.status_code == 201, response.json()
        assert response.json()["isolations"][0]["barcode"] == first.barcode
        assert Aliquot.objects.get(pk=first.pk).volume_ul == Decimal("50")


class TestDraws:
    def test_a_post_draw_before_its_tace_is_refused(self, clients, world):
        treatment = world["treatment"]
        response = clients["technician"].post(
            url("draw-list"),
            {
                "treatment": treatment.pk,
                "timepoint": "POST",
                "drawn_at": aware(2014, 1, 5).isoformat(),
                "serum_volume_ul": "1000",
            },
        )
        assert_field_error(response, "drawn_at")

    def test_a_post_draw_outside_the_window_is_flagged(self, clients, world):
        response = clients["technician"].post(
            url("draw-list"),
            {
                "treatment": world["treatment"].pk,
                "timepoint": "POST",
                "drawn_at": aware(2014, 1, 30).isoformat(),
                "serum_volume_ul": "800",
            },
        )
        assert response.status_code == 201, response.json()
        assert response.json()["outside_window"] is True
        assert response.json()["days_after_treatment"] == 20

    def test_a_second_pre_draw_is_refused(self, clients, world):
        response = clients["technician"].post(
            url("draw-list"),
            {
                "treatment": world["treatment"].pk,
                "timepoint": "PRE",
                "drawn_at": aware(2014, 1, 9).isoformat(),
                "serum_volume_ul": "800",
            },
        )
        assert_field_error(response, "timepoint")

    def test_a_negative_a414_is_refused_naming_the_field(self, clients, world):
        response = clients["technician"].post(
            url("draw-list"),
            {
                "treatment": world["treatment"].pk,
                "timepoint": "POST",
                "drawn_at": aware(2014, 1, 17).isoformat(),
                "serum_volume_ul": "800",
                "a414": -0.05,
            },
        )
        assert_field_error(response, "a414")
        patched = clients["technician"].patch(
            url("draw-detail", world["draw"].pk), {"a414": -0.3}, format="json"
        )
        assert_field_error(patched, "a414")
        world["draw"].refresh_from_db()
        assert world["draw"].a414 is None

    def test_an_a414_is_recorded_and_read_back(self, clients, world):
        detail = url("draw-detail", world["draw"].pk)
        response = clients["technician"].patch(detail, {"a414": 0.31}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["a414"] == 0.31
        cleared = clients["technician"].patch(detail, {"a414": None}, format="json")
        assert cleared.status_code == 200 and cleared.json()["a414"] is None

    def test_a_correction_applies_the_timing_rules(self, clients, world):
        detail = url("draw-detail", world["draw"].pk)
        late = clients["technician"].patch(detail, {"drawn_at": aware(2014, 1, 12).isoformat()})
        assert_field_error(late, "drawn_at")
        note = clients["technician"].patch(detail, {"note": "label smudged"})
        assert note.status_code == 200 and note.json()["note"] == "label smudged"


class TestClinical:
    def test_pt_750_is_refused_naming_the_field(self, clients, world):
        response = clients["curator"].post(
            url("clinical-assessment-list"),
            {"patient": world["patient"].pk, "assessed_on": "2014-01-08", "pt_percent": 750},
        )
        assert_field_error(response, "pt_percent")
        assert "150" in response.json()["pt_percent"][0]

    def test_pt_750_is_refused_on_update_too(self, clients, world):
        response = clients["curator"].patch(
            url("clinical-assessment-detail", world["clinical-assessment"].pk),
            {"pt_percent": 750},
        )
        assert_field_error(response, "pt_percent")

    def test_child_pugh_is_derived_and_a_disagreeing_score_flagged(self, clients, world):
        response = clients["curator"].patch(
            url("clinical-assessment-detail", world["clinical-assessment"].pk),
            {"child_pugh_score_recorded": 9},
        )
        body = response.json()
        assert body["child_pugh_score"] == 5 and body["child_pugh_grade"] == "A"
        assert body["child_pugh_disagrees"] is True

    def test_a_technician_cannot_write_clinical_data(self, clients, world):
        response = clients["technician"].patch(
            url("clinical-assessment-detail", world["clinical-assessment"].pk), {"pt_percent": 90}
        )
        assert response.status_code == 403

    def test_a_death_needs_its_cause(self, clients, world):
        response = clients["curator"].post(
            url("follow-up-list"),
            {"patient": world["patient"].pk, "contact_date": "2014-09-01", "status": "dead"},
        )
        assert_field_error(response, "cause_of_death")

    def test_a_follow_up_before_the_tace_is_refused(self, clients, world):
        response = clients["curator"].patch(
            url("follow-up-detail", world["follow-up"].pk), {"contact_date": "2013-12-01"}
        )
        assert_field_error(response, "contact_date")


class TestPatients:
    def test_enrol_with_identity_which_is_never_returned(self, clients):
        response = clients["curator"].post(
            url("patient-list"),
            {
                "study_id": "NEW-1",
                "sex": "M",
                "age_at_enrolment": 66,
                "liver_background": "chronic_hepatitis",
                "etiology": "HBV",
                "type2_diabetes": True,
                "consent_date": "2015-05-05",
                "identity": {
                    "full_name": "New Person",
                    "hospital_number": "H-NEW-1",
                    "date_of_birth": "1949-02-03",
                },
            },
        )
        assert response.status_code == 201, response.json()
        assert "New Person" not in response.content.decode()
        assert "identity" not in response.json()
        identity = PatientIdentity.objects.get(patient__study_id="NEW-1")
        assert identity.hospital_number == "H-NEW-1"
        listed = clients["curator"].get(url("patient-identity-list"), {"patient": "NEW-1"})
        assert listed.json()["results"][0]["full_name"] == "New Person"

    def test_an_implausible_age_is_refused(self, clients):
        response = clients["curator"].post(
            url("patient-list"),
            {
                "study_id": "NEW-2",
                "sex": "M",
                "age_at_enrolment": 7,
                "liver_background": "cirrhosis",
                "etiology": "HBV",
                "type2_diabetes": False,
                "consent_date": "2015-05-05",
            },
        )
        assert_field_error(response, "age_at_enrolment")

    def test_withdrawal(self, clients, world):
        detail = url("patient-withdraw", world["patient"].pk)
        response = clients["curator"].post(
            detail, {"withdrawn_on": "2015-01-01", "reason": "asked"}
        )
        assert response.status_code == 200 and response.json()["is_withdrawn"] is True
        again = clients["curator"].post(detail, {"withdrawn_on": "2015-02-01", "reason": "x"})
        assert_field_error(again, "withdrawn_on")

    def test_an_unknown_patient_is_a_json_404(self, clients, world):
        response = clients["technician"].get(url("patient-detail", 987654))
        assert response.status_code == 404 and "detail" in response.json()


class TestPlates:
    def test_layout_then_preview_then_import(self, clients, world, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path
        api = clients["technician"]
        created = api.post(url("plate-list"), {"barcode": "QP-NEW", "plate_format": 96})
        assert created.status_code == 201, created.json()
        plate_id = created.json()["id"]
        laid = api.post(
            url("plate-layout", plate_id),
            {
                "samples": [world["reverse-transcription"].pk],
                "assays": [a.pk for a in world["_assays"]],
                "replicates": 2,
            },
        )
        assert laid.status_code == 200, laid.json()
        wells = laid.json()
        assert len(wells) == 3 * 2 + 3 and wells[0]["position"] == "A1"
        export = lc480_export(
            [
                (w["position"], w["sample_code"] or "NTC", "" if w["kind"] == "ntc" else "24.5")
                for w in wells
            ]
        )
        preview = api.post(
            url("plate-import-preview", plate_id),
            {"file": upload(export)},
            format="multipart",
        )
        assert preview.status_code == 200, preview.json()
        assert preview.json()["fills"] == 6 and preview.json()["errors"] == []
        assert not Well.objects.filter(plate_id=plate_id, cq__isnull=False).exists()
        imported = api.post(
            url("plate-import", plate_id), {"file": upload(export)}, format="multipart"
        )
        assert imported.status_code == 201, imported.json()
        assert imported.json()["wells_filled"] == 6
        again = api.post(
            url("plate-import", plate_id), {"file": upload(export)}, format="multipart"
        )
        assert_field_error(again, "file")
        plate = api.get(url("plate-detail", plate_id)).json()
        assert plate["status"] == "imported" and plate["n_filled"] == 6

    def test_a_layout_that_does_not_fit_is_refused(self, clients, world):
        response = clients["technician"].post(
            url("plate-layout", world["plate"].pk),
            {
                "samples": [world["reverse-transcription"].pk],
                "assays": [world["_assays"][0].pk],
                "replicates": 9,
            },
        )
        assert_field_error(response, "replicates")

    def test_well_decisions_as_on_the_qc_page(self, clients, world, curator):
        well = world["well"]
        refused = clients["analyst"].post(url("well-exclude", well.pk), {"reason": "bubble"})
        assert refused.status_code == 403
        by_technician = clients["technician"].post(
            url("well-exclude", well.pk), {"reason": "bubble"}
        )
        assert by_technician.status_code == 200 and by_technician.json()["excluded_by"] == "tech"
        excluded = clients["curator"].post(url("well-exclude", well.pk), {"reason": "bubble"})
        assert excluded.status_code == 200
        assert excluded.json()["excluded"] is True and excluded.json()["excluded_by"] == "cura"
        no_reason = clients["curator"].post(url("well-restore", well.pk), {"reason": " "})
        assert no_reason.status_code == 400
        cleared = clients["curator"].post(url("well-clear-decision", well.pk))
        assert cleared.json()["excluded"] is None


class TestErrors:
    def test_a_database_conflict_is_a_409_without_the_database_message(
        self, clients, world, monkeypatch
    ):
        def conflict(**kwargs):
            raise IntegrityError('duplicate key value violates "secret_constraint" (H-123)')

        monkeypatch.setattr("biobank.services.aliquots.aliquot_thaw", conflict)
        response = clients["technician"].post(
            url("aliquot-thaw", world["aliquot"].pk), {"reason": "x"}
        )
        assert response.status_code == 409
        assert "H-123" not in response.content.decode()

    def test_a_non_field_service_error_is_non_field_errors(self, clients, world, monkeypatch):
        def refuse(**kwargs):
            raise ValidationError("The freezer is locked")

        monkeypatch.setattr("biobank.services.aliquots.aliquot_thaw", refuse)
        response = clients["technician"].post(
            url("aliquot-thaw", world["aliquot"].pk), {"reason": "x"}
        )
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["The freezer is locked"]}

    def test_an_unknown_api_path_is_a_json_404(self, clients):
        for path in ("/api/v1/nothing-here/", "/api/v1/aliquots/abc/", "/api/v1/aliquots"):
            response = clients["technician"].get(path)
            assert response.status_code == 404, path
            assert response["Content-Type"] == "application/json" and "detail" in response.json()
        assert "end with a slash" in clients["anonymous"].get("/api/v1/aliquots").json()["detail"]

    def test_malformed_json_is_a_400(self, clients, world):
        response = clients["technician"].generic(
            "POST",
            url("aliquot-thaw", world["aliquot"].pk),
            b"{not json",
            content_type="application/json",
        )
        assert response.status_code == 400 and "detail" in response.json()


def test_a_curator_reruns_a_plan(clients, world, django_capture_on_commit_callbacks):
    plan = world["analysis-plan"]
    with django_capture_on_commit_callbacks(execute=True):
        response = clients["curator"].post(url("analysis-plan-rerun", plan.pk))
    assert response.status_code == 201
    run = response.json()
    assert run["plan"] == plan.pk and run["trigger"] == "manual" and run["requested_by"] == "cura"
    assert run["status"] in {"queued", "succeeded", "failed", "unchanged"}
    computed = clients["curator"].get(url("analysis-run-detail", run["id"])).json()
    assert computed["status"] in {"succeeded", "failed", "unchanged"}  # no broker: computed now
    assert clients["analyst"].post(url("analysis-plan-rerun", plan.pk)).status_code == 403
    detail = clients["analyst"].get(url("analysis-run-detail", run["id"]))
    assert detail.status_code == 200 and "results" in detail.json()


LC480_TITLE = "Experiment: exo miRNA plate  Selected Filter: FAM (465-510)"
LC480_HEADER = "Include\tColor\tPos\tName\tCp\tConcentration\tStandard\tStatus"


def lc480_export(rows) -> bytes:
    """A LightCycler 480 Abs Quant export (CRLF, tab-separated) from (pos, name, cp)."""
    lines = [LC480_TITLE, LC480_HEADER] + [
        f"True\t255\t{pos}\t{name}\t{cp}\t\t0\t" for pos, name, cp in rows
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("plate.txt", data, content_type="text/plain")


class TestDates:
    def test_a_draw_in_the_future_is_refused_naming_the_field(self, clients, world):
        import datetime as dt

        from django.utils import timezone

        response = clients["technician"].post(
            url("draw-list"),
            {
                "treatment": world["treatment"].pk,
                "timepoint": "POST",
                "drawn_at": (timezone.now() + dt.timedelta(days=1)).isoformat(),
                "serum_volume_ul": "800",
            },
        )
        assert_field_error(response, "drawn_at")
        assert "cannot be in the future" in " ".join(response.json()["drawn_at"])
