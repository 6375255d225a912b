"""Cutting aliquots into a box, and the custody actions on one tube."""

from __future__ import annotations

from django import forms

from biobank.selectors.boxes import box_grid

from .base import BenchForm
from .fields import BoxBarcodeField, CodeListField, PositionField, PositionListField

MAX_ALIQUOTS_AT_ONCE = 96


class AliquotingForm(BenchForm):
    """How many tubes of how much, which barcodes, and where in the box.

    Positions left empty are the box's next free ones in row-major order; barcodes
    left empty are generated from the draw by the service.
    """

    box = BoxBarcodeField(label="Box", widget=forms.TextInput(attrs={"autocomplete": "off"}))
    count = forms.IntegerField(
        label="Number of aliquots",
        min_value=1,
        max_value=MAX_ALIQUOTS_AT_ONCE,
        widget=forms.NumberInput(attrs={"autofocus": True}),
    )
    volume_ul = forms.DecimalField(
        label="Volume each (µl)", max_digits=8, decimal_places=1, initial=250
    )
    barcodes = CodeListField(
        label="Tube barcodes",
        required=False,
        help_text="Scan one per line, in position order; leave empty to generate them.",
    )
    positions = PositionListField(
        label="Positions",
        required=False,
        help_text="Click free positions in the grid, or type them (A1 A2 …); "
        "leave empty for the next free ones.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean(self):
        data = super().clean()
        box, count, positions = data.get("box"), data.get("count"), data.get("positions")
        if box is None or count is None or positions is None:
            return data
        if not positions:
            free = box_grid(box).free_positions()
            if len(free) < count:
                self.add_error(
                    "positions",
                    f"Box {box.barcode} has {len(free)} free positions, not {count}",
                )
                return data
            data["positions"] = free[:count]
        elif len(positions) != count:
            self.add_error(
                "positions",
                f"{len(positions)} positions are chosen for {count} aliquots",
            )
        return data


class ReasonForm(BenchForm):
    """Check-out, thaw and discard: the reason is kept in the custody log."""

    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )


class PlaceForm(BenchForm):
    """Check-in and move: a box (scanned), a position (clicked or typed), a reason."""

    box = BoxBarcodeField(label="Box", widget=forms.TextInput(attrs={"autocomplete": "off"}))
    position = PositionField(
        label="Position",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    reason = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"autocomplete": "off"}))
