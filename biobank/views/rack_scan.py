"""Importing a rack scanner's file: upload (on the rack's page, or anywhere with the rack
found by its barcode), preview every position, then confirm or cancel.

Nothing is written before the confirm: the bytes wait as a plate export does
(pending_upload, scope "pending-rack-scan"), and rack_scan_confirm repeats the
comparison on locked rows and applies all of it or nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from biobank.forms.rack_scan import RackScanConfirmForm, RackScanUploadForm
from biobank.instruments.base import ExportParseError
from biobank.instruments.rack_scanners import rack_scan_parse
from biobank.models import Box
from biobank.services.rack_scan import rack_scan_confirm, rack_scan_preview

from .access import needs
from .pending_upload import forget_upload, keep_upload, pending_upload

PERMISSION = "biobank.add_rackscanimport"
SCOPE = "pending-rack-scan"


def _box(pk: int) -> Box:
    return get_object_or_404(Box.objects.select_related("rack__freezer"), pk=pk)


def _keep_if_readable(request, form, box: Box, upload):
    """Keep the upload for `box` and go to its preview, or say on the form why the file
    as a whole is refused (nothing of it is kept)."""
    data = upload.read()
    preview = rack_scan_preview(box=box, data=data, filename=upload.name)
    if preview.errors:
        form.add_error("file", preview.errors)
        return None
    keep_upload(
        request, box.pk, data=data, filename=upload.name, format="rack-scan", run=None, scope=SCOPE
    )
    return redirect("web:rack_scan_preview", pk=box.pk)


@needs(PERMISSION, "biobank.view_box")
def rack_scan_upload(request, pk: int):
    box = _box(pk)
    form = RackScanUploadForm(request.POST or None, request.FILES or None)
    if (
        request.method == "POST"
        and form.is_valid()
        and (response := _keep_if_readable(request, form, box, form.cleaned_data["file"]))
    ):
        return response
    return render(request, "web/rack_scan_upload.html", {"box": box, "form": form})


@needs(PERMISSION, "biobank.view_box")
def rack_scan_find(request):
    """Upload without choosing the rack: the file's rack barcode (its header, else its
    file name) names the box."""
    form = RackScanUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            scan = rack_scan_parse(upload.read(), filename=upload.name)
        except ExportParseError as error:
            form.add_error("file", f"{upload.name}: {error}")
        else:
            box = Box.objects.filter(barcode__iexact=scan.rack_barcode).first()
            if box is None:
                where = "its file name" if scan.rack_barcode_source == "file name" else "the file"
                form.add_error(
                    "file",
                    f"No rack or box has the barcode {scan.rack_barcode} (from {where}).",
                )
            else:
                upload.seek(0)
                if response := _keep_if_readable(request, form, box, upload):
                    return response
    return render(request, "web/rack_scan_upload.html", {"box": None, "form": form})


@needs(PERMISSION, "biobank.view_box", "biobank.view_aliquot")
def rack_scan_review(request, pk: int):
    """GET: the preview of the waiting file. POST: confirm it."""
    box = _box(pk)
    pending = pending_upload(request, box.pk, SCOPE)
    if pending is None:
        messages.info(request, "Upload the rack scanner's file first.")
        return redirect("web:rack_scan_upload", pk=box.pk)
    form = RackScanConfirmForm(request.POST or None)
    refused: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            record = rack_scan_confirm(
                box=box,
                data=pending.data,
                filename=pending.filename,
                user=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            refused = error.messages
        else:
            forget_upload(request, box.pk, SCOPE)
            messages.success(
                request,
                f"{record.filename} imported into {box.barcode}: {record.tubes_moved} moved, "
                f"{record.tubes_checked_in} checked in, {record.tubes_in_place} in place, "
                f"{record.positions_unread} unread left as recorded.",
            )
            return redirect("web:box_detail", pk=box.pk)
    preview = rack_scan_preview(box=box, data=pending.data, filename=pending.filename)
    return render(
        request,
        "web/rack_scan_preview.html",
        {
            "box": box,
            "preview": preview,
            "counts": preview.counts(),
            "form": form,
            "refused": refused,
        },
    )


@require_POST
@needs(PERMISSION)
def rack_scan_cancel(request, pk: int):
    forget_upload(request, pk, SCOPE)
    messages.info(request, "The rack scan is discarded; nothing was changed.")
    return redirect("web:box_detail", pk=pk)
