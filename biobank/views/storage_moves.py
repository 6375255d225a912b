"""Moving a box's or a rack's tubes, or evacuating a freezer, from the bench pages: choose
the target and say why, preview the plan (how many tubes go where, what stands in the
way), confirm. The plan and the move are biobank.services.storage_moves (the preview is
its dry run: the same checks, nothing written)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from biobank.forms.errors import add_service_errors
from biobank.forms.storage_moves import StorageMoveForm
from biobank.models import Box, Freezer, Rack
from biobank.services.storage_moves import box_contents_move, freezer_evacuate, rack_contents_move

from .access import needs

# kind -> (model, its queryset, service, page title, what the source is called)
KINDS = {
    "box": (
        Box,
        Box.objects.select_related("rack__freezer"),
        box_contents_move,
        "Move a box's tubes",
    ),
    "rack": (
        Rack,
        Rack.objects.select_related("freezer"),
        rack_contents_move,
        "Move a rack's tubes",
    ),
    "freezer": (Freezer, Freezer.objects.all(), freezer_evacuate, "Evacuate a freezer"),
}


def _label(kind: str, item) -> str:
    return f"{item.barcode} ({item})" if kind == "box" else str(item)


@needs("biobank.change_box", "biobank.change_aliquot")
def storage_move(request, kind: str, pk: int):
    """GET: the form. POST: the preview (a dry run), or with `confirm`, the move."""
    model, queryset, service, title = KINDS[kind]
    source = get_object_or_404(queryset, pk=pk)
    targets = queryset.exclude(pk=source.pk)
    form = StorageMoveForm(request.POST or None, targets=targets)
    form.fields["target"].label_from_instance = lambda item: _label(kind, item)
    plan = None
    if request.method == "POST" and form.is_valid():
        arguments = {
            "source": source,
            "target": form.cleaned_data["target"],
            "user": request.user,
            "reason": form.cleaned_data["reason"],
        }
        try:
            if request.POST.get("confirm"):
                done = service(**arguments)
                messages.success(
                    request,
                    f"{done.tube_count} tube{'s' if done.tube_count != 1 else ''} moved from "
                    f"{_label(kind, source)} to {_label(kind, arguments['target'])}"
                    + (f"; {done.kept_places} kept place(s) followed" if done.kept_places else ""),
                )
                if kind == "box":
                    return redirect("web:box_detail", pk=arguments["target"].pk)
                return redirect("web:box_list")
            plan = service(**arguments, dry_run=True)
        except ValidationError as error:
            add_service_errors(form, error)
    return render(
        request,
        "web/storage_move.html",
        {
            "title": title,
            "kind": kind,
            "source": source,
            "source_label": _label(kind, source),
            "form": form,
            "plan": plan,
        },
    )
