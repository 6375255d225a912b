"""Printable labels: sheets on the page (barcodes drawn as SVG on the server), and the
same labels as PDF for a label stock or as ZPL for a Zebra printer (biobank.labels)."""

from __future__ import annotations

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.safestring import mark_safe

from biobank.labels.barcodes import CODE128, SYMBOLOGIES, svg
from biobank.labels.layouts import STOCKS, Label, stock_named
from biobank.labels.zpl import DPIS, labels_zpl
from biobank.models import Aliquot
from biobank.selectors.draws import draw_aliquots, draw_with_patient
from biobank.selectors.labels import tube_labels
from biobank.selectors.samples import aliquot_by_id

from .access import needs

FORMATS = ("pdf", "zpl")


def printed(
    request, labels: list[Label], *, filename: str, default_format: str = ""
) -> HttpResponse | None:
    """The labels as the file `?format=` asks for (pdf with `stock`, zpl with `stock` and
    `dpi`), a 400 naming the bad parameter, or None for the page itself."""
    wanted = request.GET.get("format") or default_format
    if not wanted:
        return None
    if wanted not in FORMATS:
        return HttpResponseBadRequest(f"format: use one of {', '.join(FORMATS)}")
    try:
        stock = stock_named(request.GET.get("stock"))
        if wanted == "pdf":
            from biobank.labels.pdf import labels_pdf  # reportlab: loaded when a PDF is made

            response = HttpResponse(labels_pdf(labels, stock, title=filename), "application/pdf")
        else:
            dpi = request.GET.get("dpi", "203")
            if not dpi.isdigit():
                raise ValueError(f"dpi: use one of {', '.join(map(str, DPIS))}")
            body = labels_zpl(labels, stock, dpi=int(dpi))
            response = HttpResponse(body, "application/vnd.zebra-zpl; charset=utf-8")
    except ValueError as error:
        return HttpResponseBadRequest(str(error))
    response["Content-Disposition"] = f'attachment; filename="{filename}.{wanted}"'
    return response


def print_options() -> dict:
    return {"stocks": STOCKS.values(), "dpis": DPIS}


@needs("biobank.view_aliquot")
def draw_labels(request, pk: int):
    """A sheet of labels for a draw's tubes still in use, laid out for printing; or the
    same labels as PDF or ZPL."""
    draw = draw_with_patient(pk)
    if draw is None:
        raise Http404("No such draw")
    aliquots = list(
        draw_aliquots(draw).filter(status__in=[Aliquot.Status.STORED, Aliquot.Status.OUT])
    )
    response = printed(
        request, tube_labels(aliquots), filename=f"labels-{draw.patient.study_id}-{draw.timepoint}"
    )
    if response is not None:
        return response
    # reportlab's SVG escapes the text it draws, so it is safe to inline.
    labels = [(aliquot, mark_safe(svg(aliquot.barcode, caption=True))) for aliquot in aliquots]
    return render(
        request, "web/draw_labels.html", {"draw": draw, "labels": labels, **print_options()}
    )


@needs("biobank.view_aliquot")
def tube_label(request, pk: int):
    """Reprint one tube's label, as PDF or ZPL (`?format=`), from its page."""
    aliquot = aliquot_by_id(pk)
    if aliquot is None:
        raise Http404("No such aliquot")
    return printed(
        request, tube_labels([aliquot]), filename=f"label-{aliquot.barcode}", default_format="pdf"
    )


@needs("biobank.view_aliquot")
def barcode_image(request):
    """One barcode as an SVG image (?value=…&symbology=code128|datamatrix), for a label
    printer's own software."""
    symbology = request.GET.get("symbology", CODE128)
    if symbology not in SYMBOLOGIES:
        return HttpResponseBadRequest(f"symbology: use one of {', '.join(SYMBOLOGIES)}")
    try:
        image = svg(request.GET.get("value", ""), symbology=symbology, caption=True)
    except ValueError as error:
        return HttpResponseBadRequest(str(error))
    return HttpResponse(image, content_type="image/svg+xml")
