"""Each assay's amplification efficiency: every run's standard curve and the value chosen
for quantification (biobank.services.efficiency), with who chose it and on what."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from biobank.forms.efficiency import EfficiencyChoiceForm
from biobank.forms.errors import add_service_errors
from biobank.models import Assay

from .access import needs


@needs("biobank.view_assay", "biobank.view_assayefficiency")
def assay_efficiency_list(request):
    from biobank.selectors.efficiency import efficiencies_by_target

    chosen = efficiencies_by_target()
    assays = [(assay, chosen.get(assay.target)) for assay in Assay.objects.all()]
    return render(request, "web/assay_efficiency_list.html", {"assays": assays})


@needs("biobank.view_assay", "biobank.view_assayefficiency")
def assay_efficiency_page(request, pk: int):
    """GET: the runs' curves and the choice; POST (curators): a new choice."""
    from biobank.selectors.efficiency import assay_efficiency_view
    from biobank.services.efficiency import assay_efficiency_choose

    assay = get_object_or_404(Assay, pk=pk)
    view = assay_efficiency_view(assay)
    form = EfficiencyChoiceForm(
        request.POST or None,
        plates=[curve.plate_id for curve in view.fitted],
        initial={"method": view.chosen.method if view.chosen else "default"},
    )
    can_choose = request.user.has_perm("biobank.change_assayefficiency")
    if request.method == "POST":
        if not can_choose:
            raise PermissionDenied
        if form.is_valid():
            try:
                chosen = assay_efficiency_choose(
                    assay=assay, user=request.user, **form.service_arguments()
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    f"{assay.target}: efficiency {chosen.value:.1%} ({chosen.get_method_display()}).",
                )
                return redirect("web:assay_efficiency", pk=assay.pk)
    return render(
        request,
        "web/assay_efficiency.html",
        {"view": view, "form": form if can_choose else None},
    )
