"""Recording an exosome isolation batch, which takes serum from every tube scanned,
then its RNA isolation and reverse transcription, from the batch or by scanning tubes."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import urlencode

from biobank.forms.errors import add_service_errors
from biobank.forms.processing import (
    IsolationBatchForm,
    ReverseTranscriptionBatchForm,
    RnaIsolationBatchForm,
    ScanTubesForm,
)
from biobank.selectors.processing import (
    batch_chain,
    recent_isolation_batches,
    scanned_chain,
)
from biobank.services.processing import (
    SamplesRefused,
    exosome_isolation_batch_record,
    reverse_transcription_batch_record,
    rna_isolation_batch_record,
)

from .access import needs


@needs("biobank.add_exosomeisolationbatch")
def isolation_batch_record(request):
    form = IsolationBatchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = exosome_isolation_batch_record(user=request.user, **form.cleaned_data)
        except ValidationError as error:
            # A tube short of serum is about the volume asked for; a used-up one, the tubes.
            add_service_errors(
                form, error, fields={"volume_ul": "serum_volume_ul", "status": "aliquots"}
            )
        else:
            messages.success(
                request,
                f"Batch {batch.code} recorded: {len(form.cleaned_data['aliquots'])} aliquots.",
            )
            return redirect("web:isolation_batch_detail", pk=batch.pk)
    return render(
        request,
        "web/isolation_batch_record.html",
        {"form": form, "recent": recent_isolation_batches()},
    )


@needs("biobank.view_exosomeisolationbatch")
def isolation_batch_detail(request, pk: int):
    """The batch, where each of its samples is in the chain, and the next step."""
    chain = _batch_chain_or_404(pk)
    return render(
        request,
        "web/isolation_batch_detail.html",
        {"batch": chain.batch, "chain": chain, "unplated_codes": _codes(chain.unplated)},
    )


def _codes(products) -> str:
    return "\n".join(product.code for product in products)


# ------------------------------------------------ RNA and RT, batch-wise on the bench

STEPS = {
    # step -> (form, page title, submit button)
    "rna": (RnaIsolationBatchForm, "Isolate RNA", "Record the RNA isolation"),
    "rt": (ReverseTranscriptionBatchForm, "Reverse-transcribe", "Record the RT and make codes"),
}


def _record_step(request, step: str, form) -> list:
    """Run the step's service for the rows ticked; raises the service's ValidationError."""
    rows, deviations = form.chosen()
    values = form.shared_values()
    if step == "rna":
        return rna_isolation_batch_record(
            isolations=[row.isolation for row in rows],
            deviations=deviations,
            user=request.user,
            **values,
        )
    return reverse_transcription_batch_record(
        rnas=[row.rna for row in rows],
        deviations={row.rna.pk: deviations[row.key] for row in rows},
        user=request.user,
        **values,
    )


def _chain_step(request, step: str, chain, *, tubes: str = "", scan_form=None):
    """One form for the whole batch (or the tubes scanned): shared fields and a row per
    sample. A refusal puts each reason on its sample's row and saves nothing."""
    form_class, title, button = STEPS[step]
    form = form_class(request.POST or None, rows=chain.rows, every_row=chain.batch is None)
    refused: dict[str, list[str]] = {}
    if request.method == "POST" and form.is_valid():
        try:
            made = _record_step(request, step, form)
        except SamplesRefused as error:
            refused = error.by_barcode
            form.add_error(
                None,
                f"Nothing was saved: {len(refused)} sample{pluralize(len(refused))} "
                f"refused ({', '.join(refused)}); see each row.",
            )
        except ValidationError as error:
            add_service_errors(
                form,
                error,
                fields={"volume_ul": "elution_volume_ul" if step == "rna" else "input_volume_ul"},
            )
        else:
            return _after_step(request, step, chain, made, tubes)
    return render(
        request,
        "web/chain_step.html",
        {
            "form": form,
            "step": step,
            "title": title,
            "button": button,
            "chain": chain,
            "rows": [
                (row, include, deviation, refused.get(row.barcode, []))
                for row, include, deviation in form.row_fields()
            ],
            "tubes": tubes,
            "scan_form": scan_form,
        },
    )


def _after_step(request, step: str, chain, made: list, tubes: str):
    if step == "rna":
        messages.success(request, f"RNA isolated for {len(made)} sample{pluralize(len(made))}.")
        if chain.batch is not None:
            return redirect("web:isolation_batch_detail", pk=chain.batch.pk)
        # Tubes scanned by hand go straight on to their RT, the same tubes prefilled.
        return redirect(f"{reverse('web:rt_scan')}?{urlencode({'tubes': tubes})}")
    codes = [product.code for product in made]
    messages.success(
        request,
        f"{len(made)} RT product{pluralize(len(made))} recorded: {', '.join(codes)}. "
        "Print their labels.",
    )
    if chain.batch is not None:
        return redirect("web:isolation_batch_detail", pk=chain.batch.pk)
    return redirect(f"{reverse('web:rt_labels')}?{urlencode({'codes': ' '.join(codes)})}")


def _batch_chain_or_404(pk: int):
    chain = batch_chain(pk)
    if chain is None:
        raise Http404("No such batch")
    return chain


def _scanned_step(request, step: str):
    """The same step for tubes scanned by hand: first the scan (a GET), then the step's
    form for the tubes found, which carries the scan along in a hidden field."""
    scan_form = ScanTubesForm(request.POST if request.method == "POST" else request.GET or None)
    if not scan_form.is_bound or request.GET.get("edit") or not scan_form.is_valid():
        return render(
            request,
            "web/chain_scan.html",
            {"scan_form": scan_form, "step": step, "title": STEPS[step][1]},
        )
    tubes = "\n".join(scan_form.cleaned_data["tubes"])
    chain, problems = scanned_chain(scan_form.cleaned_data["tubes"], step=step)
    if problems:
        scan_form.add_error("tubes", problems)
        return render(
            request,
            "web/chain_scan.html",
            {"scan_form": scan_form, "step": step, "title": STEPS[step][1]},
        )
    return _chain_step(request, step, chain, tubes=tubes, scan_form=scan_form)


@needs("biobank.view_exosomeisolationbatch", "biobank.add_rnaisolation")
def isolation_batch_rna(request, pk: int):
    return _chain_step(request, "rna", _batch_chain_or_404(pk))


@needs("biobank.view_exosomeisolationbatch", "biobank.add_reversetranscription")
def isolation_batch_rt(request, pk: int):
    return _chain_step(request, "rt", _batch_chain_or_404(pk))


@needs("biobank.view_exosomeisolationbatch", "biobank.add_rnaisolation")
def rna_scan(request):
    return _scanned_step(request, "rna")


@needs("biobank.view_exosomeisolationbatch", "biobank.add_reversetranscription")
def rt_scan(request):
    return _scanned_step(request, "rt")
