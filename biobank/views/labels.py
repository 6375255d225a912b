"""Printable tube labels with Code 128 barcodes, drawn as SVG on the server."""

from __future__ import annotations

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.safestring import mark_safe

from biobank.labels.code128 import svg
from biobank.models import Aliquot
from biobank.selectors.draws import draw_aliquots, draw_with_patient

from .access import needs


@needs("biobank.view_aliquot")
def draw_labels(request, pk: int):
    """A sheet of labels for a draw's tubes still in use, laid out for printing."""
    draw = draw_with_patient(pk)
    if draw is None:
        raise Http404("No such draw")
    aliquots = draw_aliquots(draw).filter(status__in=[Aliquot.Status.STORED, Aliquot.Status.OUT])
    # The encoder escapes the text it draws, so its SVG is safe to inline.
    labels = [(aliquot, mark_safe(svg(aliquot.barcode))) for aliquot in aliquots]
    return render(request, "web/draw_labels.html", {"draw": draw, "labels": labels})


@needs("biobank.view_aliquot")
def barcode_image(request):
    """One barcode as an SVG image (?value=...), for a label printer's own software."""
    try:
        image = svg(request.GET.get("value", ""))
    except ValueError as error:
        return HttpResponseBadRequest(str(error))
    return HttpResponse(image, content_type="image/svg+xml")
