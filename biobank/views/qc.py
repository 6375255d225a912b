"""A plate's QC: Cq over the plate as a heat map, replicate groups, exclusions, and
the technician's decision on a well. At a multiplex position (one well per assay)
the decision names the assay too: the form asks which when the position is ambiguous."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from biobank.forms.errors import add_service_errors
from biobank.forms.plates import WellDecisionForm
from biobank.models import position_label
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


def _the_well(form: WellDecisionForm, plate, row: int, column: int):
    """The well the form names, or None with the error on the form."""
    from biobank.selectors.plate_qc import wells_at  # pandas: see plate_qc_page

    label = position_label(row, column)
    wells = wells_at(plate, row, column)
    chosen = form.cleaned_data.get("assay", "")
    if not wells:
        form.add_error("position", f"Plate {plate.barcode} has no well {label}")
        return None
    if chosen:
        matching = [well for well in wells if well.assay.target == chosen]
        if not matching:
            form.add_error("assay", f"Well {label} holds no {chosen} well")
            return None
        return matching[0]
    if len(wells) > 1:
        targets = ", ".join(well.assay.target for well in wells)
        form.add_error("assay", f"Well {label} holds {len(wells)} assays ({targets}): choose which")
        return None
    return wells[0]


@needs("biobank.view_qpcrplate", "biobank.view_well")
def plate_qc_page(request, pk: int):
    # The plate's QC is computed with pandas (analysis.qc): imported by the page that
    # shows it, not when the URLconf loads this module (issue 16).
    from biobank.selectors.plate_qc import plate_qc

    plate = plate_or_404(pk)
    qc = plate_qc(plate)
    targets = [(target, target) for target in qc.multiplex_targets]
    form = WellDecisionForm(
        request.POST or None,
        initial={"position": request.GET.get("well", ""), "assay": request.GET.get("assay", "")},
        assays=targets,
    )
    if request.method == "POST":
        if not request.user.has_perm("biobank.change_well"):
            raise PermissionDenied
        if form.is_valid():
            row, column = form.cleaned_data["position"]
            label = position_label(row, column)
            well = _the_well(form, plate, row, column)
            if well is not None:
                try:
                    DECISIONS[form.cleaned_data["decision"]](
                        well, request.user, form.cleaned_data["reason"]
                    )
                except ValidationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(request, f"Well {label}: decision saved.")
                    query = f"well={label}"
                    if form.cleaned_data.get("assay"):
                        query += f"&assay={quote(well.assay.target)}"
                    return redirect(f"{reverse('web:plate_qc', args=[plate.pk])}?{query}")
    from biobank.selectors.standard_curves import standard_curves

    curves = standard_curves(plate_ids=[plate.pk])
    return render(
        request,
        "web/plate_qc.html",
        {
            "plate": plate,
            "qc": qc,
            "standard_curves": curves,
            "standard_curves_fitted": any(curve.ok for curve in curves),
            "form": form,
            "selected": (request.POST.get("position") or request.GET.get("well", "")).upper(),
        },
    )


@needs("biobank.view_qpcrplate", "biobank.view_well")
def plate_standard_curves_svg(request, pk: int):
    """The plate's standard curves as one SVG picture (drawn on request with
    matplotlib, imported here and not at start-up); 404 when no assay has a curve."""
    from analysis.efficiency_figures import standard_curves_svg
    from biobank.selectors.standard_curves import standard_curves

    plate = plate_or_404(pk)
    fitted = [(c.target, c.curve) for c in standard_curves(plate_ids=[plate.pk]) if c.ok]
    if not fitted:
        raise Http404("This plate has no standard curve")
    response = HttpResponse(
        standard_curves_svg(fitted, title=f"Standard curves of {plate.barcode}"),
        content_type="image/svg+xml",
    )
    response["Cache-Control"] = "private, no-cache"  # a well decision changes the curve
    return response
