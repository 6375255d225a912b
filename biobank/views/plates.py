"""qPCR plates: the list, setting one up (layout), and its printable map."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe

from biobank.forms.errors import add_service_errors
from biobank.forms.plates import PlateSetupForm
from biobank.labels.code128 import svg
from biobank.selectors.plates import plate_map, plate_with_counts, plates_with_counts
from biobank.services.plate_setup import plate_set_up

from .access import needs


def plate_or_404(pk: int):
    plate = plate_with_counts(pk)
    if plate is None:
        raise Http404("No such plate")
    return plate


@needs("biobank.view_qpcrplate")
def plate_list(request):
    return render(request, "web/plate_list.html", {"plates": plates_with_counts()})


@needs("biobank.add_qpcrplate", "biobank.add_well")
def plate_setup(request):
    # ?samples= prefills the RT codes (the extraction batch page's "Lay out a plate").
    form = PlateSetupForm(request.POST or None, initial={"samples": request.GET.get("samples", "")})
    if request.method == "POST" and form.is_valid():
        try:
            plate = plate_set_up(operator=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Plate {plate.barcode} laid out. Print its map.")
            return redirect("web:plate_detail", pk=plate.pk)
    return render(request, "web/plate_setup.html", {"form": form})


@needs("biobank.view_qpcrplate", "biobank.view_well")
def plate_detail(request, pk: int):
    """The plate map: what goes in each well, to pipette from and to print."""
    plate = plate_or_404(pk)
    return render(
        request,
        "web/plate_detail.html",
        {
            "plate": plate,
            "map": plate_map(plate),
            # The encoder escapes the text it draws, so its SVG is safe to inline.
            "barcode_svg": mark_safe(svg(plate.barcode, height_px=40)),
        },
    )
