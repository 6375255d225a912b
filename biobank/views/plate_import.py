"""Uploading a plate's instrument export: upload, preview, then confirm; and revert.

The preview shows what the file would do to every well and writes nothing; the
bytes wait outside the database (see pending_upload) until the technician confirms,
and plate_import_confirm then repeats the comparison under a lock and writes it all,
or refuses (a change without "replace" and a reason, a file whose names mostly
disagree with the layout without a curator's override). A multiplex file's dye
mapping is chosen on the preview and kept with the upload until the confirm.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from biobank.forms.errors import add_service_errors
from biobank.forms.plates import (
    DyeMappingForm,
    PlateExportForm,
    PlateImportConfirmForm,
    PlateImportRevertForm,
)
from biobank.models import PlateImport
from biobank.services.plate_import import (
    MISMATCH_THRESHOLD,
    OVERRIDE_PERMISSION,
    plate_import_confirm,
    plate_import_preview,
)
from biobank.services.plate_import_revert import plate_import_revert
from biobank.uploads import max_upload_bytes

from .access import needs
from .pending_upload import forget_upload, keep_dye_mapping, keep_upload, pending_upload
from .plates import plate_or_404


def _go(request, url: str):
    """A redirect, or for the progress-bar upload (XHR) the address to go to: an XHR
    follows redirects itself, which would read and parse the export twice."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"location": url})
    return redirect(url)


@needs("biobank.add_plateimport")
def plate_import(request, pk: int):
    plate = plate_or_404(pk)
    form = PlateExportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        arguments = {
            "data": upload.read(),
            "filename": upload.name,
            "format": form.cleaned_data["format"],
            "run": form.cleaned_data["run"].strip() or None,
        }
        # A file no choice on the preview could make importable (unreadable, a Cq out
        # of range, a well twice, already imported ...) is refused here, and nothing of
        # it is kept; only an importable file, or one waiting for its dye mapping, waits.
        preview = plate_import_preview(plate=plate, **arguments)
        if preview.refused:
            form.add_error("file", preview.errors)
        else:
            keep_upload(request, plate.pk, **arguments)
            return _go(request, reverse("web:plate_import_preview", args=[plate.pk]))
    return render(
        request,
        "web/plate_import.html",
        {
            "plate": plate,
            "form": form,
            "max_upload_bytes": max_upload_bytes(),
            "max_upload_mb": f"{max_upload_bytes() / (1024 * 1024):g}",
        },
    )


@needs("biobank.add_plateimport")
def plate_import_review(request, pk: int):
    """GET: the preview of the waiting upload. POST: choose the dye mapping
    (action=map), or confirm."""
    plate = plate_or_404(pk)
    pending = pending_upload(request, plate.pk)
    if pending is None:
        messages.info(request, "Upload the instrument export first.")
        return redirect("web:plate_import", pk=plate.pk)
    arguments = {
        "plate": plate,
        "data": pending.data,
        "filename": pending.filename,
        "format": pending.format,
        "run": pending.run,
        "dye_assays": pending.dye_assays,
    }
    mapping = request.method == "POST" and request.POST.get("action") == "map"
    confirming = request.method == "POST" and not mapping
    confirm_form = PlateImportConfirmForm(request.POST if confirming else None)
    refused: list[str] = []
    if mapping:
        preview = plate_import_preview(**arguments)
        dye_form = DyeMappingForm(
            request.POST,
            dyes=preview.dyes,
            targets=preview.dye_choices,
            mapping=preview.dye_assays,
        )
        if dye_form.is_valid():
            keep_dye_mapping(request, plate.pk, dye_form.mapping())  # every dye is on it
            return redirect("web:plate_import_preview", pk=plate.pk)
    elif confirming and confirm_form.is_valid():
        try:
            record = plate_import_confirm(
                user=request.user,
                replace=confirm_form.cleaned_data["replace"],
                reason=confirm_form.cleaned_data["reason"],
                override_reason=confirm_form.cleaned_data["override_reason"],
                **arguments,
            )
        except ValidationError as error:
            add_service_errors(confirm_form, error)
            refused = confirm_form.non_field_errors()
        else:
            forget_upload(request, plate.pk)
            messages.success(
                request,
                f"{record.original_name} imported into {plate.barcode}: "
                f"{record.wells_filled} wells filled, {record.wells_changed} changed. "
                "It can be reverted from the plate page.",
            )
            return redirect("web:plate_qc", pk=plate.pk)
    preview = plate_import_preview(**arguments)
    if preview.refused:
        # Refused since the upload (the same file imported meanwhile, say): the page
        # says why, and the upload is not kept for a confirm that cannot succeed.
        forget_upload(request, plate.pk)
    dye_form = DyeMappingForm(
        dyes=preview.dyes, targets=preview.dye_choices, mapping=preview.dye_assays
    )
    return render(
        request,
        "web/plate_import_preview.html",
        {
            "plate": plate,
            "preview": preview,
            "counts": preview.counts(),
            "refused": refused,
            "confirm_form": confirm_form,
            "dye_form": dye_form,
            "may_override": request.user.has_perm(OVERRIDE_PERMISSION),
            "threshold_percent": round(MISMATCH_THRESHOLD * 100),
        },
    )


@require_POST
@needs("biobank.add_plateimport")
def plate_import_cancel(request, pk: int):
    forget_upload(request, pk)
    messages.info(request, "The upload is discarded; nothing was imported.")
    return redirect("web:plate_import", pk=pk)


@require_POST
@needs("biobank.change_plateimport")
def plate_import_revert_page(request, pk: int, import_pk: int):
    """Revert one import of the plate (the form of web/_plate_imports.html), then back
    to the page the form was on."""
    plate = plate_or_404(pk)
    record = get_object_or_404(PlateImport, pk=import_pk, plate_id=plate.pk)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("web:plate_detail", args=[plate.pk])
    form = PlateImportRevertForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Import #{record.pk} was not reverted: give the reason.")
        return redirect(back)
    try:
        plate_import_revert(
            plate_import=record, user=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, f"Import #{record.pk} was not reverted: {' '.join(error.messages)}")
    else:
        messages.success(
            request,
            f"Import #{record.pk} ({record.original_name}) reverted: "
            f"{record.wells_filled + record.wells_changed} wells have their previous "
            "values and decisions back.",
        )
    return redirect(back)
