"""Asking for tubes, deciding a request, scanning a pick list, holding serum."""

from __future__ import annotations

from django import forms

from biobank.models import SerumDraw

from .base import BenchForm
from .fields import CodeListField


class RequestForm(BenchForm):
    """Tubes by barcode, or patients (and a timepoint): the service refuses both or
    neither, naming the field."""

    purpose = forms.CharField(
        label="Purpose",
        max_length=300,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    barcodes = CodeListField(
        label="Tube barcodes (scan or paste, one per line)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "off", "spellcheck": "false"}),
    )
    study_ids = CodeListField(
        label="…or patients' study ids",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off", "spellcheck": "false"}),
    )
    timepoint = forms.ChoiceField(
        label="Timepoint (with patients)",
        required=False,
        choices=[("", "Any")] + list(SerumDraw.Timepoint.choices),
    )
    min_volume_ul = forms.DecimalField(
        label="Minimum volume left per tube (µl)",
        min_value=0,
        max_digits=8,
        decimal_places=1,
        initial=0,
        required=False,
    )


class DecisionForm(BenchForm):
    note = forms.CharField(
        label="Note (required to reject)", max_length=300, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )  # fmt: skip


class ScanForm(BenchForm):
    codes = CodeListField(label="Scanned tubes")


class HoldForm(BenchForm):
    scope = forms.ChoiceField(
        label="Hold", choices=[("tube", "this tube"), ("patient", "every tube of the patient")]
    )
    reason = forms.CharField(label="because", max_length=300)
