"""A tube's record and the custody actions on it (finding one: views/lists.py)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render

from biobank.forms.aliquots import PlaceForm, ReasonForm
from biobank.forms.errors import add_service_errors
from biobank.models import position_label
from biobank.selectors.boxes import box_by_barcode, box_grid
from biobank.selectors.excursions import aliquot_excursions
from biobank.selectors.retrieval import legal_holds_of
from biobank.selectors.samples import aliquot_by_id, sample_record
from biobank.services.aliquots import (
    Position,
    aliquot_check_in,
    aliquot_check_out,
    aliquot_discard,
    aliquot_move,
    aliquot_thaw,
)

from .access import may_see_identities, needs

# action in the URL -> (service, button / page title)
REASON_ACTIONS = {
    "check-out": (aliquot_check_out, "Check out"),
    "thaw": (aliquot_thaw, "Record a thaw"),
    "discard": (aliquot_discard, "Discard"),
}
PLACE_ACTIONS = {
    "check-in": (aliquot_check_in, "Check in"),
    "move": (aliquot_move, "Move"),
}


@needs("biobank.view_aliquot")
def sample_detail(request, pk: int):
    record = sample_record(pk, include_identity=may_see_identities(request.user))
    if record is None:
        raise Http404("No such aliquot")
    return render(
        request,
        "web/sample_detail.html",
        # Focus stays on the scan field: a stray scan must never become a check-out reason.
        {
            "record": record,
            "aliquot": record.aliquot,
            "excursions": aliquot_excursions(record.aliquot),
            "autofocus_scan": True,
            "holds": list(legal_holds_of(record.aliquot)),
        },
    )


def _aliquot_or_404(pk: int):
    aliquot = aliquot_by_id(pk)
    if aliquot is None:
        raise Http404("No such aliquot")
    return aliquot


@needs("biobank.change_aliquot")
def sample_reason_action(request, pk: int, action: str):
    """Check-out, thaw or discard: the tube and a reason."""
    service, title = REASON_ACTIONS[action]
    aliquot = _aliquot_or_404(pk)
    return reason_page(
        request,
        aliquot=aliquot,
        title=title,
        act=lambda reason: service(aliquot=aliquot, user=request.user, reason=reason),
        done=f"{title}: {aliquot.barcode} done.",
        context={"action": action},
    )


def reason_page(request, *, aliquot, title: str, act, done: str, context: dict | None = None):
    """A tube's action that takes only a reason: the form, `act(reason)` (a service call),
    its refusal shown on the form, or the success message and back to the tube's page.
    Check-out, thaw, discard and a curator's void of a custody line all go this way."""
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            act(form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, done)
            return redirect("web:sample_detail", pk=aliquot.pk)
    return render(
        request,
        "web/sample_action.html",
        {"aliquot": aliquot, "form": form, "title": title, **(context or {})},
    )


@needs("biobank.change_aliquot")
def sample_place_action(request, pk: int, action: str):
    """Check-in or move: the tube, a box (scanned), a position (clicked or typed), a reason."""
    service, title = PLACE_ACTIONS[action]
    aliquot = _aliquot_or_404(pk)
    scanned = (request.POST.get("box") or request.GET.get("box") or "").strip()
    record = sample_record(pk, include_identity=False)
    box = box_by_barcode(scanned) if scanned else record.last_box
    grid = box_grid(box) if box else None
    suggestion = _position_to_suggest(record, box, grid) if action == "check-in" else ""
    form = PlaceForm(
        request.POST or None, initial={"box": box.barcode if box else "", "position": suggestion}
    )
    if request.method == "POST" and form.is_valid():
        row, column = form.cleaned_data["position"]
        try:
            service(
                aliquot=aliquot,
                position=Position(form.cleaned_data["box"], row, column),
                user=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{title}: {aliquot.barcode} done.")
            return redirect("web:sample_detail", pk=aliquot.pk)
    return render(
        request,
        "web/sample_place.html",
        {
            "aliquot": aliquot,
            "form": form,
            "title": title,
            "action": action,
            "grid": grid,
            "suggested": suggestion,
            "box_error": f"No box has the barcode {scanned!r}" if scanned and box is None else "",
        },
    )


def _position_to_suggest(record, box, grid) -> str:
    """A tube checked back in usually goes where it came from: its last position, when
    that is in the box shown and still free (else nothing: the technician picks one)."""
    last = record.last_position
    if box is None or last is None or box.pk != record.last_box.pk:
        return ""
    row, column = last
    free = set(grid.free_positions())
    return position_label(row, column) if (row, column) in free else ""
