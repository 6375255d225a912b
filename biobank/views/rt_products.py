"""RT (cDNA) products: the page showing where one came from and where it went, and
printable labels for the tubes."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils.safestring import mark_safe

from biobank.forms.fields import split_codes
from biobank.labels.barcodes import svg
from biobank.selectors.labels import rt_label
from biobank.selectors.processing import rt_lineage, rt_products_for_labels

from .access import needs
from .labels import print_options, printed


@needs("biobank.view_reversetranscription")
def rt_product_detail(request, pk: int):
    """The product's lineage back to the draw (study id only: technicians never see
    identities) and the wells it is in."""
    lineage = rt_lineage(pk)
    if lineage is None:
        raise Http404("No such RT product")
    return render(request, "web/rt_product_detail.html", {"lineage": lineage})


@needs("biobank.view_reversetranscription")
def rt_labels(request):
    """A sheet of labels for the RT products named in ?codes= (spaces or new lines)."""
    products, missing = rt_products_for_labels(split_codes(request.GET.get("codes", "")))
    response = printed(request, [rt_label(product) for product in products], filename="rt-labels")
    if response is not None:
        return response
    # reportlab's SVG escapes the text it draws, so it is safe to inline.
    labels = [(product, mark_safe(svg(product.code, caption=True))) for product in products]
    return render(
        request,
        "web/rt_labels.html",
        {
            "labels": labels,
            "missing": missing,
            "codes": "\n".join(product.code for product in products),
            "carry_codes": [("codes", " ".join(product.code for product in products))],
            **print_options(),
        },
    )
