"""Recording an exosome isolation batch, which takes serum from every tube scanned."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render

from biobank.forms.errors import add_service_errors
from biobank.forms.processing import IsolationBatchForm
from biobank.selectors.processing import isolation_batch_with_aliquots, recent_isolation_batches
from biobank.services.processing import exosome_isolation_batch_record

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
    batch = isolation_batch_with_aliquots(pk)
    if batch is None:
        raise Http404("No such batch")
    return render(request, "web/isolation_batch_detail.html", {"batch": batch})
