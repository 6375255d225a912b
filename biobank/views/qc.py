"""A plate's QC: Cq over the plate as a heat map, replicate groups, exclusions, and
the technician's decision on a well."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse

from biobank.forms.errors import add_service_errors
from biobank.forms.plates import WellDecisionForm
from biobank.models import position_label
from biobank.selectors.plate_qc import plate_qc
from biobank.selectors.plates import plate_well
from biobank.services.plates import well_clear_decision, well_exclude, well_restore

from .access import needs
from .plates import plate_or_404

DECISIONS = {
    WellDecisionForm.EXCLUDE: lambda well, user, reason: well_exclude(
        well=well, user=user, reason=reason
    ),
    WellDecisionForm.RESTORE: lambda well, user, reason: well_restore(
        well=well, user=user, reason=reason
    ),
    WellDecisionForm.AUTOMATIC: lambda well, user, reason: well_clear_decision(
        well=well, user=user
    ),
}


@needs("biobank.view_qpcrplate", "biobank.view_well")
def plate_qc_page(request, pk: int):
    plate = plate_or_404(pk)
    form = WellDecisionForm(request.POST or None, initial={"position": request.GET.get("well", "")})
    if request.method == "POST":
        if not request.user.has_perm("biobank.change_well"):
            raise PermissionDenied
        if form.is_valid():
            row, column = form.cleaned_data["position"]
            label = position_label(row, column)
            well = plate_well(plate, row, column)
            if well is None:
                form.add_error("position", f"Plate {plate.barcode} has no well {label}")
            else:
                try:
                    DECISIONS[form.cleaned_data["decision"]](
                        well, request.user, form.cleaned_data["reason"]
                    )
                except ValidationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(request, f"Well {label}: decision saved.")
                    return redirect(f"{reverse('web:plate_qc', args=[plate.pk])}?well={label}")
    return render(
        request,
        "web/plate_qc.html",
        {
            "plate": plate,
            "qc": plate_qc(plate),
            "form": form,
            "selected": (request.POST.get("position") or request.GET.get("well", "")).upper(),
        },
    )
