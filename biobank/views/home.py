"""The landing page: the cohort in numbers, and for the bench, today's work."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from biobank.selectors.overview import cohort_counts
from biobank.selectors.worklist import worklist


@login_required
def home(request):
    context = {"counts": cohort_counts(), "autofocus_scan": True}
    if request.user.has_perm("biobank.view_aliquot"):
        context["work"] = worklist()
    return render(request, "home.html", context)
