"""The landing page: the cohort in numbers, for the bench today's work, and for curators
and analysts the latest run of each analysis plan with what it changed."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from analysis.report import change_summary
from analysis.selectors import latest_runs_of_active_plans
from biobank.roles import ANALYST, CURATOR
from biobank.selectors.overview import cohort_counts
from biobank.selectors.worklist import worklist


def _reads_analyses(user) -> bool:
    """Curators and analysts follow the analyses (technicians read them too, but their
    home page is the bench's work)."""
    if not user.has_perm("analysis.view_analysisrun"):
        return False
    return user.is_superuser or user.groups.filter(name__in=[CURATOR, ANALYST]).exists()


@login_required
def home(request):
    context = {"counts": cohort_counts(), "autofocus_scan": True}
    if request.user.has_perm("biobank.view_aliquot"):
        context["work"] = worklist()
    if _reads_analyses(request.user):
        context["analyses"] = [change_summary(run) for run in latest_runs_of_active_plans()]
    return render(request, "home.html", context)
