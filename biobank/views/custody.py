"""A tube's custody timeline (CSV, PDF) and voiding a wrong line of its log."""

from __future__ import annotations

from django.http import Http404, HttpResponse

from biobank.custody_export import timeline_csv, timeline_pdf
from biobank.selectors.custody import custody_event_by_id, custody_timeline
from biobank.selectors.samples import aliquot_by_id
from biobank.services.custody import storage_event_void

from .access import needs
from .samples import reason_page


def _timeline_or_404(pk: int):
    aliquot = aliquot_by_id(pk)
    if aliquot is None:
        raise Http404("No such aliquot")
    return custody_timeline(aliquot)


def _download(content, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@needs("biobank.view_aliquot", "biobank.view_storageevent")
def custody_timeline_csv(request, pk: int):
    timeline = _timeline_or_404(pk)
    return _download(
        timeline_csv(timeline),
        "text/csv; charset=utf-8",
        f"custody-{timeline.aliquot.barcode}.csv",
    )


@needs("biobank.view_aliquot", "biobank.view_storageevent")
def custody_timeline_pdf(request, pk: int):
    timeline = _timeline_or_404(pk)
    return _download(
        timeline_pdf(timeline), "application/pdf", f"custody-{timeline.aliquot.barcode}.pdf"
    )


@needs("biobank.change_storageevent")
def custody_event_void(request, pk: int):
    """A curator voids a wrong line, saying why; the line stays, struck through."""
    event = custody_event_by_id(pk)
    if event is None:
        raise Http404("No such custody event")
    return reason_page(
        request,
        aliquot=event.aliquot,
        title=f"Void event {event.pk} ({event.get_kind_display()} {event.at:%Y-%m-%d %H:%M})",
        act=lambda reason: storage_event_void(event=event, user=request.user, reason=reason),
        done=f"Event {event.pk} voided.",
    )
