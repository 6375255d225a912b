"""The admin is a face like the others (issue 17, item 2).

A technician, seeded "admin read-only", reached five states through the admin that
the bench would never make: a well's Cq set and the well excluded with no who or
when, a well added to a plate with results, a box shrunk under its tubes, a draw cut
below what was aliquoted, a freezer renamed. Each POST is refused here (403, nothing
changed); a curator's POST goes through the service: the rule refuses the broken
state on its field, and an allowed change records who and when.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from biobank import models as m
from biobank.services.draws import serum_draw_update
from biobank.services.plate_import import plate_import_confirm
from biobank.services.plates import plate_create, plate_place
from biobank.services.storage import box_update

from .factories import (
    AliquotFactory,
    BoxFactory,
    FreezerFactory,
    ReverseTranscriptionFactory,
    SerumDrawFactory,
    study_assays,
)
from .test_plates import export_for

pytestmark = pytest.mark.django_db


def admin_url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_errors(response) -> dict[str, list[str]]:
    """The admin form's errors by field ('__all__' for the form's own)."""
    assert response.status_code == 200, response.status_code
    return {
        field: list(errors) for field, errors in response.context["adminform"].form.errors.items()
    }


# ------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def assays():
    return study_assays()


@pytest.fixture
def mir122(assays):
    return next(assay for assay in assays if assay.target == "hsa-miR-122-5p")


@pytest.fixture
def rt(assays):
    return ReverseTranscriptionFactory(code="RT-ADM1")


@pytest.fixture
def imported_plate(technician, rt, mir122):
    """A plate with A1 laid out and its export imported: A1 holds Cq 20.11
    (export_for: 20 + row/10 + column/100)."""
    plate = plate_create(barcode="PL-ADM", operator=technician)
    plate_place(plate=plate, positions=["A1"], assays=[mir122], sample=rt)
    plate_import_confirm(plate=plate, data=export_for(plate), filename="run.txt", user=technician)
    return plate


# ------------------------------------------------------------ a. Cq and exclusion


def well_post(**overrides):
    return {"excluded": "true", "exclusion_reason": "bubble in the well", "cq": "30", **overrides}


def test_a_technician_cannot_set_a_cq_or_exclude_a_well_in_the_admin(
    client, technician, imported_plate
):
    well = imported_plate.wells.get()
    assert well.cq == pytest.approx(20.11)
    client.force_login(technician)
    response = client.post(admin_url(m.Well, "change", well.pk), well_post())
    assert response.status_code == 403
    well.refresh_from_db()
    assert well.cq == pytest.approx(20.11)
    assert (well.excluded, well.exclusion_reason, well.excluded_by, well.excluded_at) == (
        None,
        "",
        None,
        None,
    )


def test_a_curator_excludes_through_the_service_and_cannot_touch_the_cq(
    client, curator, imported_plate
):
    well = imported_plate.wells.get()
    client.force_login(curator)
    before = timezone.now()
    response = client.post(admin_url(m.Well, "change", well.pk), well_post())
    assert response.status_code == 302
    well.refresh_from_db()
    assert well.cq == pytest.approx(20.11)  # read-only: only an import changes it
    assert well.excluded is True and well.exclusion_reason == "bubble in the well"
    assert well.excluded_by == curator and well.excluded_at >= before
    assert well.history.latest().history_user == curator


def test_a_curator_exclusion_without_a_reason_is_refused_on_the_reason(
    client, curator, imported_plate
):
    well = imported_plate.wells.get()
    client.force_login(curator)
    response = client.post(admin_url(m.Well, "change", well.pk), well_post(exclusion_reason="   "))
    errors = form_errors(response)
    assert any(
        "reason" in message
        for message in errors.get("exclusion_reason", []) + errors.get("__all__", [])
    )
    well.refresh_from_db()
    assert well.excluded is None and well.excluded_by is None


# ------------------------------------------------------- b. a well on a plate with results


def add_well_post(plate, sample, assay, row=1, column=2):
    return {
        "plate": plate.pk,
        "row": row,
        "column": column,
        "kind": "sample",
        "sample": sample.pk,
        "assay": assay.pk,
    }


def test_a_technician_cannot_add_a_well_in_the_admin(
    client, technician, imported_plate, rt, mir122
):
    client.force_login(technician)
    response = client.post(admin_url(m.Well, "add"), add_well_post(imported_plate, rt, mir122))
    assert response.status_code == 403
    assert imported_plate.wells.count() == 1


def test_a_curator_cannot_add_a_well_to_a_plate_with_results(
    client, curator, imported_plate, rt, mir122
):
    client.force_login(curator)
    response = client.post(admin_url(m.Well, "add"), add_well_post(imported_plate, rt, mir122))
    assert form_errors(response)["plate"] == [
        "Plate PL-ADM has imported results; its layout is fixed"
    ]
    assert imported_plate.wells.count() == 1


def test_a_curator_adds_a_well_to_a_plate_being_laid_out_through_plate_place(
    client, curator, technician, rt, mir122
):
    plate = plate_create(barcode="PL-OPEN", operator=technician)
    plate_place(plate=plate, positions=["A1"], assays=[mir122], sample=rt)
    client.force_login(curator)
    response = client.post(admin_url(m.Well, "add"), add_well_post(plate, rt, mir122))
    assert response.status_code == 302
    added = plate.wells.get(row=1, column=2)
    # plate_place numbers replicates on from the plate's: A1 was replicate 1.
    assert (added.position, added.replicate, added.cq) == ("A2", 2, None)


def test_wells_with_imported_results_cannot_be_deleted_in_the_admin(
    client, curator, imported_plate
):
    well = imported_plate.wells.get()
    client.force_login(curator)
    response = client.post(admin_url(m.Well, "delete", well.pk), {"post": "yes"})
    assert response.status_code == 403
    assert m.Well.objects.filter(pk=well.pk).exists()


# ------------------------------------------------------------ c. a box under its tubes


@pytest.fixture
def full_box():
    """A 9 x 9 box holding 47 tubes in row-major order: A1..A9, ..., E1..E9, F1, F2."""
    box = BoxFactory(barcode="BOX-ADM", rows=9, columns=9)
    draw = SerumDrawFactory(serum_volume_ul=Decimal("1000"))
    for index in range(47):
        AliquotFactory(
            draw=draw,
            box=box,
            row=index // 9 + 1,
            column=index % 9 + 1,
            initial_volume_ul=Decimal("10"),
        )
    return box


def box_post(box, **overrides):
    return {
        "rack": box.rack_id,
        "name": box.name,
        "barcode": box.barcode,
        "rows": box.rows,
        "columns": box.columns,
        **overrides,
    }


def test_a_technician_cannot_resize_a_box_in_the_admin(client, technician, full_box):
    client.force_login(technician)
    response = client.post(
        admin_url(m.Box, "change", full_box.pk), box_post(full_box, rows=1, columns=1)
    )
    assert response.status_code == 403
    full_box.refresh_from_db()
    assert (full_box.rows, full_box.columns) == (9, 9)


def test_a_curator_cannot_shrink_a_box_under_its_tubes(client, curator, full_box):
    client.force_login(curator)
    response = client.post(
        admin_url(m.Box, "change", full_box.pk), box_post(full_box, rows=1, columns=1)
    )
    errors = form_errors(response)
    # Beyond row 1: 47 - 9 tubes of row A. Beyond column 1: 47 - 6 (A1, B1, ..., F1).
    assert errors["rows"] == [
        "Box BOX-ADM holds 38 aliquot(s) beyond row 1; it needs at least 6 rows until they "
        "are moved"
    ]
    assert errors["columns"] == [
        "Box BOX-ADM holds 41 aliquot(s) beyond column 1; it needs at least 9 columns until "
        "they are moved"
    ]
    full_box.refresh_from_db()
    assert (full_box.rows, full_box.columns) == (9, 9)


def test_a_curator_resizes_a_box_down_to_its_tubes_through_the_service(client, curator, full_box):
    client.force_login(curator)
    response = client.post(admin_url(m.Box, "change", full_box.pk), box_post(full_box, rows=6))
    assert response.status_code == 302
    full_box.refresh_from_db()
    assert (full_box.rows, full_box.columns) == (6, 9)
    assert full_box.history.latest().history_user == curator
    # The API's free count stays a count: 6 x 9 positions, 47 taken.
    api = APIClient()
    api.force_authenticate(curator)
    body = api.get(f"/api/v1/boxes/{full_box.pk}/").json()
    assert body["free"] == 6 * 9 - 47


def test_box_update_refuses_one_row_too_few_by_name():
    box = BoxFactory(rows=9, columns=9)
    AliquotFactory(box=box, row=3, column=4)
    with pytest.raises(ValidationError) as refused:
        box_update(box=box, rows=2)
    assert set(refused.value.message_dict) == {"rows"}
    assert box_update(box=box, rows=3, columns=4).capacity == 12


# -------------------------------------------------- d. a draw below its aliquoted volume


@pytest.fixture
def aliquoted_draw():
    """1,000 µl of serum, all of it cut into four 250 µl aliquots."""
    draw = SerumDrawFactory(serum_volume_ul=Decimal("1000"))
    for column in range(1, 5):
        AliquotFactory(draw=draw, column=column, initial_volume_ul=Decimal("250"))
    return draw


def draw_post(draw, **overrides):
    local = timezone.localtime

    def moment(prefix, value):
        if value is None:
            return {f"{prefix}_0": "", f"{prefix}_1": ""}
        value = local(value)
        return {f"{prefix}_0": value.date().isoformat(), f"{prefix}_1": value.strftime("%H:%M")}

    return {
        "treatment": draw.treatment_id,
        "timepoint": draw.timepoint,
        **moment("drawn_at", draw.drawn_at),
        **moment("centrifuged_at", draw.centrifuged_at),
        **moment("frozen_at", draw.frozen_at),
        "container": draw.container,
        "serum_volume_ul": str(draw.serum_volume_ul),
        "haemolysis": draw.haemolysis,
        "storage_temperature_c": draw.storage_temperature_c,
        "note": draw.note,
        **overrides,
    }


def test_a_technician_cannot_edit_a_draw_in_the_admin(client, technician, aliquoted_draw):
    client.force_login(technician)
    response = client.post(
        admin_url(m.SerumDraw, "change", aliquoted_draw.pk),
        draw_post(aliquoted_draw, serum_volume_ul="999"),
    )
    assert response.status_code == 403
    aliquoted_draw.refresh_from_db()
    assert aliquoted_draw.serum_volume_ul == Decimal("1000")


def test_a_curator_cannot_cut_a_draw_below_its_aliquots(client, curator, aliquoted_draw):
    client.force_login(curator)
    response = client.post(
        admin_url(m.SerumDraw, "change", aliquoted_draw.pk),
        draw_post(aliquoted_draw, serum_volume_ul="999"),
    )
    assert form_errors(response)["serum_volume_ul"] == [
        f"1000.0 µl of draw {aliquoted_draw} are already in aliquots; its volume cannot be 999.0 µl"
    ]
    aliquoted_draw.refresh_from_db()
    assert aliquoted_draw.serum_volume_ul == Decimal("1000")


def test_a_curator_corrects_a_draw_through_the_service(client, curator, aliquoted_draw):
    client.force_login(curator)
    response = client.post(
        admin_url(m.SerumDraw, "change", aliquoted_draw.pk),
        draw_post(aliquoted_draw, serum_volume_ul="1200", note="re-measured"),
    )
    assert response.status_code == 302, form_errors(response)
    aliquoted_draw.refresh_from_db()
    assert (aliquoted_draw.serum_volume_ul, aliquoted_draw.note) == (Decimal("1200"), "re-measured")
    assert aliquoted_draw.history.latest().history_user == curator


def test_the_draw_service_and_the_api_hold_the_volume_rule(technician, aliquoted_draw):
    with pytest.raises(ValidationError) as refused:
        serum_draw_update(draw=aliquoted_draw, serum_volume_ul=Decimal("999.9"))
    assert set(refused.value.message_dict) == {"serum_volume_ul"}
    assert serum_draw_update(draw=aliquoted_draw, serum_volume_ul=Decimal("1000")).pk
    api = APIClient()
    api.force_authenticate(technician)
    response = api.patch(
        f"/api/v1/draws/{aliquoted_draw.pk}/", {"serum_volume_ul": "999"}, format="json"
    )
    assert response.status_code == 400 and "serum_volume_ul" in response.json()
    aliquoted_draw.refresh_from_db()
    assert aliquoted_draw.serum_volume_ul == Decimal("1000")


# ------------------------------------------------------------ e. storage structure


def freezer_post(freezer, **overrides):
    return {
        "name": freezer.name,
        "location": freezer.location,
        "set_point_c": freezer.set_point_c,
        "is_active": "on" if freezer.is_active else "",
        **overrides,
    }


def test_a_technician_cannot_rename_a_freezer(client, technician):
    freezer = FreezerFactory(name="ULT-1")
    client.force_login(technician)
    response = client.post(
        admin_url(m.Freezer, "change", freezer.pk), freezer_post(freezer, name="ULT-X")
    )
    assert response.status_code == 403
    freezer.refresh_from_db()
    assert freezer.name == "ULT-1"


def test_a_curator_renames_a_freezer_through_the_service(client, curator):
    freezer = FreezerFactory(name="ULT-1")
    client.force_login(curator)
    response = client.post(
        admin_url(m.Freezer, "change", freezer.pk), freezer_post(freezer, name="ULT-2")
    )
    assert response.status_code == 302
    freezer.refresh_from_db()
    assert freezer.name == "ULT-2"
    assert freezer.history.latest().history_user == curator


# ------------------------------------------------------------------ the whole admin


def test_technicians_write_nothing_in_the_admin(technician):
    """Read, yes, everything their group may view; add, change, delete, nowhere."""
    request = RequestFactory().get("/admin/")
    request.user = technician
    writable = [
        model.__name__
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_add_permission(request)
        or model_admin.has_change_permission(request)
        or model_admin.has_delete_permission(request)
    ]
    assert writable == []


def test_technicians_hold_only_the_write_permissions_the_bench_checks():
    held = set(Group.objects.get(name="technician").permissions.values_list("codename", flat=True))
    writes = {codename for codename in held if not codename.startswith("view_")}
    assert writes == {
        "add_serumdraw",
        "change_serumdraw",
        "add_aliquot",
        "change_aliquot",
        "add_box",
        "add_exosomeisolationbatch",
        "add_rnaisolation",
        "add_reversetranscription",
        "add_qpcrplate",
        "change_qpcrplate",
        "add_well",
        "change_well",
        "add_plateimport",
        "change_plateimport",
        "add_rackscanimport",
        "add_retrievalrequest",
    }


def test_a_curator_records_and_closes_an_excursion_through_the_services(client, curator):
    stored = AliquotFactory()
    freezer = stored.box.rack.freezer
    client.force_login(curator)
    response = client.post(
        admin_url(m.TemperatureExcursion, "add"),
        {
            "freezer": freezer.pk,
            "started_at_0": "2014-03-01",
            "started_at_1": "02:00",
            "peak_temperature_c": "-41",
            "note": "",
        },
    )
    assert response.status_code == 302, form_errors(response)
    excursion = m.TemperatureExcursion.objects.get()
    assert excursion.recorded_by == curator
    assert list(excursion.affected_aliquots.all()) == [stored]
    assert stored.events.get().kind == "excursion"
    # Later only its end and note change; the freezer and peak stay as recorded.
    response = client.post(
        admin_url(m.TemperatureExcursion, "change", excursion.pk),
        {
            "ended_at_0": "2014-03-01",
            "ended_at_1": "05:00",
            "note": "door left open",
            "freezer": FreezerFactory(name="ULT-OTHER").pk,
            "peak_temperature_c": "20",
        },
    )
    assert response.status_code == 302, form_errors(response)
    excursion.refresh_from_db()
    assert (excursion.freezer, excursion.peak_temperature_c) == (freezer, -41)
    assert excursion.note == "door left open"
    assert timezone.localtime(excursion.ended_at).strftime("%Y-%m-%d %H:%M") == "2014-03-01 05:00"
