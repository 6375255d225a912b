"""Uploading a plate's instrument export: upload, preview, then confirm.

The preview shows what the file would change and writes nothing; the bytes wait
outside the database (see pending_upload) until the technician confirms, and
plate_import_confirm then repeats the comparison under a lock and writes it all.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from biobank.forms.plates import PlateExportForm
from biobank.services.plate_import import plate_import_confirm, plate_import_preview

from .access import needs
from .pending_upload import forget_upload, keep_upload, pending_upload
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
        keep_upload(
            request,
            plate.pk,
            data=upload.read(),
            filename=upload.name,
            format=form.cleaned_data["format"],
            run=form.cleaned_data["run"].strip() or None,
        )
        return _go(request, reverse("web:plate_import_preview", args=[plate.pk]))
    return render(
        request,
        "web/plate_import.html",
        {"plate": plate, "form": form, "imports": plate.imports.select_related("imported_by")},
    )


@needs("biobank.add_plateimport")
def plate_import_review(request, pk: int):
    """GET: the preview of the waiting upload. POST: confirm it."""
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
    }
    refused: list[str] = []
    if request.method == "POST":
        try:
            record = plate_import_confirm(user=request.user, **arguments)
        except ValidationError as error:
            refused = error.messages
        else:
            forget_upload(request, plate.pk)
            messages.success(
                request,
                f"{record.original_name} imported into {plate.barcode}: "
                f"{record.wells_filled} wells filled, {record.wells_changed} changed.",
            )
            return redirect("web:plate_qc", pk=plate.pk)
    preview = plate_import_preview(**arguments)
    return render(
        request,
        "web/plate_import_preview.html",
        {
            "plate": plate,
            "preview": preview,
            "counts": {a: preview.count(a) for a in ("fill", "change", "same", "unresolved")},
            "refused": refused,
        },
    )


@require_POST
@needs("biobank.add_plateimport")
def plate_import_cancel(request, pk: int):
    forget_upload(request, pk)
    messages.info(request, "The upload is discarded; nothing was imported.")
    return redirect("web:plate_import", pk=pk)
