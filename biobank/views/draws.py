"""Registering a serum draw and cutting it into aliquots placed in a box."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render

from biobank.forms.aliquots import AliquotingForm
from biobank.forms.draws import SerumDrawForm
from biobank.forms.errors import add_service_errors
from biobank.selectors.boxes import box_by_barcode, box_for_new_tubes, box_grid
from biobank.selectors.draws import draw_aliquots, draw_with_patient
from biobank.services.aliquots import Position, aliquots_create
from biobank.services.draws import post_draw_window, serum_draw_register

from .access import needs


@needs("biobank.add_serumdraw")
def draw_register(request):
    form = SerumDrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            draw = serum_draw_register(**form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Draw {draw} registered.")
            if draw.outside_window:
                low, high = post_draw_window()
                messages.warning(
                    request,
                    f"This POST draw is {draw.days_after_treatment} days after its TACE, outside "
                    f"the {low}-{high} day window. It is saved and flagged for the curator.",
                )
            return redirect("web:draw_aliquot", pk=draw.pk)
    return render(request, "web/draw_register.html", {"form": form})


# A serum draw is usually cut into this many aliquots (as the demo cohort is); the
# default box has room for all of them.
TUBES_PER_DRAW = 4


@needs("biobank.add_aliquot")
def draw_aliquot(request, pk: int):
    draw = draw_with_patient(pk)
    if draw is None:
        raise Http404("No such draw")
    scanned = (request.POST.get("box") or request.GET.get("box") or "").strip()
    box = box_by_barcode(scanned) if scanned else box_for_new_tubes(_tubes_wanted(request))
    form = AliquotingForm(request.POST or None, initial={"box": box.barcode if box else ""})
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data
        try:
            created = aliquots_create(
                draw=draw,
                volume_ul=chosen["volume_ul"],
                user=request.user,
                positions=[Position(chosen["box"], row, col) for row, col in chosen["positions"]],
                barcodes=chosen["barcodes"] or None,
            )
        except ValidationError as error:
            add_service_errors(form, error, fields={"position": "positions"})
        else:
            messages.success(
                request,
                f"{len(created)} aliquots of {chosen['volume_ul']} µl stored in "
                f"{chosen['box'].barcode}: " + ", ".join(a.barcode for a in created),
            )
            return redirect("web:draw_labels", pk=draw.pk)
    return render(
        request,
        "web/draw_aliquot.html",
        {
            "draw": draw,
            "form": form,
            "grid": box_grid(box) if box else None,
            "box_error": f"No box has the barcode {scanned!r}" if scanned and box is None else "",
            "aliquots": draw_aliquots(draw),
        },
    )


def _tubes_wanted(request) -> int:
    """How many tubes the technician is cutting (the form's count once typed), for the
    default box: one with room for all of them. The lab's usual number until then."""
    typed = (request.POST.get("count") or request.GET.get("count") or "").strip()
    return int(typed) if typed.isdigit() and int(typed) > 0 else TUBES_PER_DRAW
