"""Uploading an export: preview first with nothing saved, then confirm."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from biobank.models import PlateImport, Well

from ..test_plates import export_for
from .conftest import field_errors, messages_of, text

pytestmark = pytest.mark.django_db


def upload(client, plate, data: bytes, name="run1.txt", **extra):
    return client.post(
        reverse("web:plate_import", args=[plate.pk]),
        {"file": SimpleUploadedFile(name, data), "format": "auto", "run": ""},
        **extra,
    )


def preview_url(plate):
    return reverse("web:plate_import_preview", args=[plate.pk])


def pending_files(media_root):
    folder = media_root / "pending-imports"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_upload_page_focuses_the_file_and_shows_progress(tech_client, laid_out_plate):
    html = tech_client.get(reverse("web:plate_import", args=[laid_out_plate.pk])).content.decode()
    assert "data-upload-progress" in html and "<progress" in html
    assert 'name="file"' in html and "autofocus" in html.split('name="file"')[1].split(">")[0]


def test_upload_keeps_the_bytes_outside_the_database(tech_client, laid_out_plate, scratch_media):
    response = upload(tech_client, laid_out_plate, export_for(laid_out_plate))
    assert response.status_code == 302 and response["Location"] == preview_url(laid_out_plate)
    assert len(pending_files(scratch_media)) == 1
    assert not PlateImport.objects.exists() and not Well.objects.filter(cq__isnull=False).exists()


def test_the_preview_says_what_the_file_would_do_and_saves_nothing(tech_client, laid_out_plate):
    upload(tech_client, laid_out_plate, export_for(laid_out_plate))
    page = tech_client.get(preview_url(laid_out_plate))
    content = text(page)
    assert "18 to fill" in content and "3 unchanged" in content
    assert "Roche LightCycler 480" in content and "Confirm the import" in content
    assert not PlateImport.objects.exists() and not Well.objects.filter(cq__isnull=False).exists()


def test_confirm_imports_and_clears_the_scratch_file(
    tech_client, laid_out_plate, technician, scratch_media
):
    data = export_for(laid_out_plate)
    upload(tech_client, laid_out_plate, data)
    response = tech_client.post(preview_url(laid_out_plate), follow=True)
    record = PlateImport.objects.get()
    assert response.redirect_chain[-1][0] == reverse("web:plate_qc", args=[laid_out_plate.pk])
    assert record.imported_by == technician and record.raw_file.read() == data
    assert Well.objects.filter(cq__isnull=False).count() == 18
    assert any("18 wells filled" in m for m in messages_of(response))
    assert pending_files(scratch_media) == []
    # The upload is spent: the preview page sends the technician back to upload.
    assert tech_client.get(preview_url(laid_out_plate))["Location"] == reverse(
        "web:plate_import", args=[laid_out_plate.pk]
    )


def test_a_progress_bar_upload_gets_the_address_instead_of_a_redirect(tech_client, laid_out_plate):
    response = upload(
        tech_client,
        laid_out_plate,
        export_for(laid_out_plate),
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    assert response.status_code == 200
    assert json.loads(response.content) == {"location": preview_url(laid_out_plate)}


def test_an_unreadable_file_is_refused_on_the_upload_page_and_not_kept(
    tech_client, laid_out_plate, scratch_media
):
    response = upload(tech_client, laid_out_plate, b"this is not an export\n", name="notes.txt")
    assert response.status_code == 200
    assert "unrecognised export" in field_errors(response, "file")[0]
    assert pending_files(scratch_media) == [] and not PlateImport.objects.exists()
    # Nothing waits: the preview page sends the technician back to upload.
    assert tech_client.get(preview_url(laid_out_plate))["Location"] == reverse(
        "web:plate_import", args=[laid_out_plate.pk]
    )


def test_the_same_file_twice_is_refused_on_upload(tech_client, laid_out_plate, scratch_media):
    data = export_for(laid_out_plate)
    upload(tech_client, laid_out_plate, data)
    tech_client.post(preview_url(laid_out_plate))
    response = upload(tech_client, laid_out_plate, data)
    assert "This file was already imported" in field_errors(response, "file")[0]
    assert pending_files(scratch_media) == []


def test_a_file_imported_since_its_upload_is_refused_and_dropped(
    tech_client, laid_out_plate, technician, scratch_media
):
    """Refused after the upload (another import of the same bytes meanwhile): the
    preview says why and the scratch file goes."""
    from biobank.services.plate_import import plate_import_confirm

    data = export_for(laid_out_plate)
    upload(tech_client, laid_out_plate, data)
    assert len(pending_files(scratch_media)) == 1
    plate_import_confirm(plate=laid_out_plate, data=data, filename="x.txt", user=technician)
    page = text(tech_client.get(preview_url(laid_out_plate)))
    assert "This file was already imported" in page and "The upload was not kept" in page
    assert pending_files(scratch_media) == []


def test_a_cq_out_of_range_or_a_well_twice_is_refused_naming_the_well(
    tech_client, laid_out_plate, scratch_media
):
    from ..test_plates import lc480_export

    wells = laid_out_plate.wells.select_related("sample").order_by("row", "column")
    rows = [(w.position, w.sample.code if w.sample_id else "NTC", "25.00") for w in wells]
    out_of_range = [(p, n, "75.00" if p == "A3" else cq) for p, n, cq in rows]
    response = upload(tech_client, laid_out_plate, lc480_export(out_of_range))
    assert field_errors(response, "file") == ["well A3: Cq 75 is outside 0-60 cycles (line 5)"]
    twice = [*rows, (rows[0][0], rows[0][1], "26.00")]
    response = upload(tech_client, laid_out_plate, lc480_export(twice))
    assert field_errors(response, "file")[0].startswith("well A1 is in the file 2 times")
    assert pending_files(scratch_media) == [] and not PlateImport.objects.exists()
    assert not Well.objects.filter(cq__isnull=False).exists()


def test_a_changed_cq_is_shown_before_it_is_written(tech_client, laid_out_plate):
    upload(tech_client, laid_out_plate, export_for(laid_out_plate))
    tech_client.post(preview_url(laid_out_plate))
    upload(tech_client, laid_out_plate, export_for(laid_out_plate, cq=lambda w: 30.0))
    page = tech_client.get(preview_url(laid_out_plate)).content.decode()
    assert page.count('class="action-change"') == 18
    assert Well.objects.filter(cq=30.0).count() == 0


def test_cancel_discards_the_upload(tech_client, laid_out_plate, scratch_media):
    upload(tech_client, laid_out_plate, export_for(laid_out_plate))
    tech_client.post(reverse("web:plate_import_cancel", args=[laid_out_plate.pk]))
    assert pending_files(scratch_media) == []
    assert tech_client.get(preview_url(laid_out_plate)).status_code == 302


def test_the_form_refuses_a_missing_file_in_place(tech_client, laid_out_plate):
    response = tech_client.post(
        reverse("web:plate_import", args=[laid_out_plate.pk]), {"format": "auto"}
    )
    assert field_errors(response, "file") == ["This field is required."]


def test_a_tampered_session_cannot_name_a_path(tech_client, laid_out_plate):
    session = tech_client.session
    session[f"pending-import-{laid_out_plate.pk}"] = {
        "sha256": "../../settings.py",
        "filename": "x",
        "format": "auto",
        "run": None,
    }
    session.save()
    response = tech_client.get(preview_url(laid_out_plate))
    assert response["Location"] == reverse("web:plate_import", args=[laid_out_plate.pk])


def test_analysts_may_not_import(analyst_client, laid_out_plate):
    assert upload(analyst_client, laid_out_plate, b"x").status_code == 403


# --- the upload cap (issue 17, item 5) -------------------------------------------------

SIXTY_MB = 60 * 1024 * 1024


@pytest.fixture
def body_never_read(monkeypatch):
    """Fail the test if anything parses a multipart body (reads the upload)."""
    from django.http.multipartparser import MultiPartParser

    def parse(self):
        raise AssertionError("the upload was read")

    monkeypatch.setattr(MultiPartParser, "parse", parse)


def test_a_60_mb_upload_is_refused_before_it_is_read(
    tech_client, laid_out_plate, scratch_media, body_never_read
):
    url = reverse("web:plate_import", args=[laid_out_plate.pk])
    response = upload(tech_client, laid_out_plate, b"x" * SIXTY_MB, name="huge.txt")
    assert response.status_code == 303 and response["Location"] == url
    page = tech_client.get(url)
    assert any("The upload is 60.0 MB; a file may be at most 20 MB" in m for m in messages_of(page))
    assert pending_files(scratch_media) == [] and not PlateImport.objects.exists()


def test_the_upload_page_states_the_cap_for_the_browser(tech_client, laid_out_plate):
    html = tech_client.get(reverse("web:plate_import", args=[laid_out_plate.pk])).content.decode()
    assert f'data-max-bytes="{20 * 1024 * 1024}"' in html and "at most 20 MB" in html


def test_a_file_over_the_cap_is_refused_by_the_form_too(
    tech_client, laid_out_plate, scratch_media, settings
):
    """Just over the cap, the body fits the middleware's room for the form fields:
    the form checks the file's own size against the same setting."""
    settings.EXOTRACK_MAX_UPLOAD_BYTES = 1024 * 1024
    response = upload(tech_client, laid_out_plate, b"x" * (1024 * 1024 + 1), name="big.txt")
    assert response.status_code == 200
    assert field_errors(response, "file") == [
        "The upload is 1.0 MB; a file may be at most 1 MB (EXOTRACK_MAX_UPLOAD_MB). An "
        "instrument export is far smaller: is this the right file?"
    ]
    assert pending_files(scratch_media) == []
