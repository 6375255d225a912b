"""The header's search box (biobank.selectors.search)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from biobank.selectors.search import search


@login_required
def search_page(request):
    """A scanned or typed whole code that names one thing opens it; anything else lists
    what matches, grouped by kind."""
    results = search(text=request.GET.get("q", ""), user=request.user)
    exact = results.only_exact
    if exact is not None:
        return redirect(exact.url)
    return render(request, "web/search.html", {"results": results, "autofocus_scan": True})
