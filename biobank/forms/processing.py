"""Recording an exosome isolation (ExoQuick) batch."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from biobank.selectors.samples import aliquots_by_barcodes

from .base import BenchForm
from .fields import CodeListField


class IsolationBatchForm(BenchForm):
    """The batch, its lots, the serum taken from each tube, and the tubes scanned.

    The aliquots cleaned here are only looked up; whether each still holds enough
    serum is the service's to decide, for the whole batch at once.
    """

    code = forms.CharField(
        label="Batch code",
        max_length=64,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    performed_on = forms.DateField(
        label="Performed on", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    exoquick_lot = forms.CharField(label="ExoQuick lot", max_length=64)
    spike_in_lot = forms.CharField(label="cel-miR-39 spike-in lot", max_length=64)
    serum_volume_ul = forms.DecimalField(
        label="Serum taken from each aliquot (µl)",
        max_digits=6,
        decimal_places=1,
        initial=250,
    )
    aliquots = CodeListField(
        label="Aliquots",
        help_text="Scan each tube; one barcode per line. Ctrl+Enter saves.",
    )
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["performed_on"].initial = timezone.localdate

    def clean_aliquots(self):
        found, missing = aliquots_by_barcodes(self.cleaned_data["aliquots"])
        if missing:
            raise forms.ValidationError(f"No aliquot has the barcode {', '.join(missing)}")
        return found
