"""Boxes: the list with their fill, and one box as a grid of its positions."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from biobank.models import Box, position_label
from biobank.selectors.boxes import box_grid, box_with_space, storage_utilisation

from .access import needs

# The largest box is 26 x 26 (the Box model's constraint).
MAX_POSITIONS = 26 * 26


@needs("biobank.view_box")
def box_list(request):
    """Every box with its occupancy, the utilisation of each freezer and rack, and the
    free-space finder (`?space=N`: the first box with N free positions)."""
    context = {"usage": storage_utilisation(), "space": None, "space_error": ""}
    wanted = request.GET.get("space", "").strip()
    if wanted:
        if not wanted.isdigit() or not 1 <= int(wanted) <= MAX_POSITIONS:
            context["space_error"] = f"Positions: give a whole number from 1 to {MAX_POSITIONS}."
        else:
            count = int(wanted)
            box = box_with_space(count)
            context["space"] = {
                "count": count,
                "box": box,
                "positions": [
                    position_label(row, column)
                    for row, column in (box_grid(box).free_positions()[:count] if box else [])
                ],
            }
    return render(request, "web/box_list.html", context)


@needs("biobank.view_box", "biobank.view_aliquot")
def box_detail(request, pk: int):
    box = get_object_or_404(Box.objects.select_related("rack__freezer"), pk=pk)
    return render(request, "web/box_detail.html", {"box": box, "grid": box_grid(box)})
