"""Many tubes at once on the bench: scan a list, preview what each tube would undergo,
confirm (the services check everything again), and see what was done to each."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import render

from biobank.forms.bulk import ACTION_CHOICES, BulkTubesForm
from biobank.forms.errors import add_service_errors
from biobank.services.bulk import (
    aliquots_check_in,
    aliquots_check_out,
    aliquots_discard,
    aliquots_move,
)

from .access import needs

LABELS = dict(ACTION_CHOICES)
# The services' argument names that are the form's tube list.
SERVICE_FIELDS = {"codes": "tubes", "placements": "tubes", "tubes": "tubes"}


def run_bulk(data: dict, *, user, dry_run: bool):
    """The bulk service the form's action names, on the form's cleaned list."""
    action, reason = data["action"], data.get("reason", "")
    common = {"user": user, "reason": reason, "dry_run": dry_run}
    if action == "check_out":
        return aliquots_check_out(codes=data["codes"], **common)
    if action == "discard":
        return aliquots_discard(codes=data["codes"], **common)
    if action == "check_in":
        return aliquots_check_in(placements=data["placements"], **common)
    return aliquots_move(placements=data["placements"], **common)


@needs("biobank.change_aliquot")
def samples_bulk(request):
    """GET: the form. POST "preview": a dry run's per-tube table and a Confirm button
    carrying the same list. POST "confirm": the list applied, and what was done to each
    tube (refused tubes are listed and left as they were)."""
    form = BulkTubesForm(request.POST or None)
    result, confirming = None, "confirm" in request.POST
    if request.method == "POST" and form.is_valid():
        try:
            result = run_bulk(form.cleaned_data, user=request.user, dry_run=not confirming)
        except ValidationError as error:
            add_service_errors(form, error, fields=SERVICE_FIELDS)
        else:
            if result.applied:
                label = LABELS[form.cleaned_data["action"]].lower()
                messages.success(
                    request,
                    f"{label.capitalize()}: {len(result.done)} tube(s) done"
                    + (f", {len(result.refused)} refused." if result.refused else "."),
                )
    action_label = LABELS.get(form.data.get("action", ""), "")
    if result is not None and result.applied:  # the next rack starts from an empty list
        form = BulkTubesForm(initial={"action": form.cleaned_data["action"]})
    return render(
        request,
        "web/bulk_tubes.html",
        {"form": form, "result": result, "action_label": action_label},
    )
