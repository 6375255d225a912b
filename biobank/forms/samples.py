"""Finding a tube by scanning it."""

from __future__ import annotations

from django import forms

from biobank.selectors.samples import aliquot_by_barcode

from .base import BenchForm


class FindSampleForm(BenchForm):
    barcode = forms.CharField(
        label="Scan a tube",
        max_length=64,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "off", "placeholder": "barcode"}
        ),
    )

    def clean_barcode(self):
        barcode = self.cleaned_data["barcode"].strip()
        aliquot = aliquot_by_barcode(barcode)
        if aliquot is None:
            raise forms.ValidationError(f"No aliquot has the barcode {barcode!r}")
        return aliquot
