"""The landing page."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from biobank.selectors.overview import cohort_counts


@login_required
def home(request):
    return render(request, "home.html", {"counts": cohort_counts()})
