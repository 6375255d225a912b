"""Boxes: the list with their fill, and one box as a grid of its positions."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from biobank.models import Box
from biobank.selectors.boxes import box_grid, boxes_with_occupancy

from .access import needs


@needs("biobank.view_box")
def box_list(request):
    return render(request, "web/box_list.html", {"boxes": boxes_with_occupancy()})


@needs("biobank.view_box", "biobank.view_aliquot")
def box_detail(request, pk: int):
    box = get_object_or_404(Box.objects.select_related("rack__freezer"), pk=pk)
    return render(request, "web/box_detail.html", {"box": box, "grid": box_grid(box)})
