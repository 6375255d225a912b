"""Retrieval requests: list, ask, decide, the printable pick list with its check-out
and return forms, and the legal holds on a tube's page. Thin: the forms clean, the
services in biobank.services.retrieval decide and write."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from biobank.forms.errors import add_service_errors
from biobank.forms.retrieval import DecisionForm, HoldForm, RequestForm, ScanForm
from biobank.models import RetrievalRequest
from biobank.pick_list_export import pick_list_pdf
from biobank.selectors.retrieval import (
    legal_hold_by_id,
    pick_list,
    request_items,
    retrieval_request_by_id,
    retrieval_requests,
    tubes_eligibility,
)
from biobank.selectors.samples import aliquot_by_id
from biobank.services import retrieval as services

from .access import needs


def _request_or_404(pk: int) -> RetrievalRequest:
    request = retrieval_request_by_id(pk)
    if request is None:
        raise Http404("No such request")
    return request


def _errors(http_request, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(http_request, message)


@needs("biobank.view_retrievalrequest")
def request_list(request):
    status = request.GET.get("status", "")
    if status not in RetrievalRequest.Status.values:
        status = ""
    return render(
        request,
        "web/request_list.html",
        {
            "requests": retrieval_requests(status=status)[:200],
            "status": status,
            "statuses": RetrievalRequest.Status.choices,
        },
    )


@needs("biobank.add_retrievalrequest")
def request_new(request):
    form = RequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.request_create(
                user=request.user,
                purpose=data["purpose"],
                barcodes=data["barcodes"],
                study_ids=data["study_ids"],
                timepoint=data["timepoint"],
                min_volume_ul=data["min_volume_ul"] or 0,
                submit="submit" in request.POST,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"Request {created.code} "
                + ("submitted to the curators." if created.status == "submitted" else "saved."),
            )
            return redirect("web:request_detail", pk=created.pk)
    return render(request, "web/request_new.html", {"form": form})


@needs("biobank.view_retrievalrequest")
def request_detail(request, pk: int):
    retrieval = _request_or_404(pk)
    items = list(request_items(retrieval))
    verdicts = {}
    if retrieval.status in ("draft", "submitted"):  # what a decision now would say
        verdicts = tubes_eligibility(
            [item.aliquot_id for item in items],
            min_volume_ul=retrieval.min_volume_ul,
            request=retrieval,
        )
    rows = [(item, verdicts.get(item.aliquot_id)) for item in items]
    return render(
        request,
        "web/request_detail.html",
        {
            "retrieval": retrieval,
            "rows": rows,
            "n_eligible": sum(1 for _, v in rows if v and v.eligible),
            "may_decide": request.user.has_perm(services.DECIDE),
            "is_requester": retrieval.requested_by_id == request.user.pk,
            "decision_form": DecisionForm(),
        },
    )


@require_POST
@needs("biobank.add_retrievalrequest")
def request_action(request, pk: int, action: str):
    """Submit, approve, reject or cancel: a button on the request's page."""
    retrieval = _request_or_404(pk)
    note = request.POST.get("note", "")
    act = {
        "submit": lambda: services.request_submit(request=retrieval, user=request.user),
        "approve": lambda: services.request_approve(
            request=retrieval, user=request.user, note=note
        ),
        "reject": lambda: services.request_reject(request=retrieval, user=request.user, note=note),
        "cancel": lambda: services.request_cancel(request=retrieval, user=request.user, note=note),
    }[action]
    try:
        done = act()
    except ValidationError as error:
        _errors(request, error)
    else:
        messages.success(request, f"Request {done.code} {done.get_status_display().lower()}.")
    return redirect("web:request_detail", pk=retrieval.pk)


@needs("biobank.view_retrievalrequest")
def request_pick_list(request, pk: int):
    """The printable pick list, and the scan forms that check its tubes out and back."""
    retrieval = _request_or_404(pk)
    outcome, which = None, ""
    out_form, back_form = ScanForm(prefix="out"), ScanForm(prefix="back")
    if request.method == "POST":
        if not request.user.has_perm("biobank.change_aliquot"):
            raise Http404("No such action")
        which = "back" if "back-codes" in request.POST else "out"
        form = ScanForm(request.POST, prefix=which)
        service = services.pick_list_check_in if which == "back" else services.pick_list_check_out
        if form.is_valid():
            try:
                outcome = service(
                    request=retrieval, codes=form.cleaned_data["codes"], user=request.user
                )
            except ValidationError as error:
                add_service_errors(form, error, fields={"status": "codes"})
            else:
                if outcome.done:
                    messages.success(
                        request,
                        f"{len(outcome.done)} tube(s) "
                        + ("returned." if which == "back" else "checked out."),
                    )
                if outcome.refused:
                    messages.warning(request, f"{len(outcome.refused)} tube(s) refused; see below.")
                if not outcome.refused:
                    return redirect("web:request_pick_list", pk=retrieval.pk)
        if which == "back":
            back_form = form
        else:
            out_form = form
        retrieval = _request_or_404(pk)
    items = list(request_items(retrieval))
    return render(
        request,
        "web/request_pick_list.html",
        {
            "retrieval": retrieval,
            "lines": pick_list(retrieval),
            "out_items": [item for item in items if item.status == "out"],
            # Approved but gone from their box by another way: not on the list, and the
            # request cannot be fulfilled until they are picked or it is cancelled.
            "astray": [
                item for item in items if item.status == "approved" and not item.aliquot.box_id
            ],
            "out_form": out_form,
            "back_form": back_form,
            "outcome": outcome,
            "which": which,
        },
    )


@needs("biobank.view_retrievalrequest")
def request_pick_list_pdf(request, pk: int):
    retrieval = _request_or_404(pk)
    response = HttpResponse(pick_list_pdf(retrieval, pick_list(retrieval)), "application/pdf")
    response["Content-Disposition"] = f'attachment; filename="pick-list-{retrieval.code}.pdf"'
    return response


@require_POST
@needs("biobank.add_legalhold")
def legal_hold_new(request, pk: int):
    """A curator holds a tube, or its patient's every tube, from the tube's page."""
    aliquot = aliquot_by_id(pk)
    if aliquot is None:
        raise Http404("No such aliquot")
    form = HoldForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the serum is held, and whether the tube or the patient")
    else:
        whole = form.cleaned_data["scope"] == "patient"
        try:
            services.legal_hold_place(
                user=request.user,
                reason=form.cleaned_data["reason"],
                patient=aliquot.draw.patient if whole else None,
                aliquot=None if whole else aliquot,
            )
        except ValidationError as error:
            _errors(request, error)
        else:
            messages.success(request, "Legal hold placed.")
    return redirect("web:sample_detail", pk=aliquot.pk)


@require_POST
@needs("biobank.change_legalhold")
def legal_hold_release(request, pk: int):
    hold = legal_hold_by_id(pk)
    if hold is None:
        raise Http404("No such hold")
    try:
        services.legal_hold_release(hold=hold, user=request.user)
    except ValidationError as error:
        _errors(request, error)
    else:
        messages.success(request, "Legal hold released.")
    back = request.POST.get("aliquot", "")
    if back.isdigit():
        return redirect("web:sample_detail", pk=int(back))
    return redirect("web:request_list")
