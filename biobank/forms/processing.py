"""Recording an exosome isolation (ExoQuick) batch, then its RNA isolation and reverse
transcription for many samples at once."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from biobank.models import ReverseTranscription, RnaIsolation
from biobank.selectors.plates import study_assays
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


class ScanTubesForm(BenchForm):
    """Tubes scanned for a batch assembled by hand; the step's form follows."""

    tubes = CodeListField(
        label="Tubes (aliquot barcodes)",
        help_text="Scan each tube; one barcode per line.",
        widget=forms.Textarea(
            attrs={"rows": 8, "autocomplete": "off", "spellcheck": "false", "autofocus": True}
        ),
    )


class ChainStepForm(BenchForm):
    """The fields a step shares (kit, lot, date, ...) and, per sample, whether it is in
    the batch and what deviated for it. Row fields are named by the sample's exosome
    isolation pk (`include_12`, `deviation_12`).

    `every_row`: tubes scanned by hand are all offered and ticked; from an extraction
    batch only the samples ready for this step are, and `ticked` says which of those
    start ticked.
    """

    performed_on = forms.DateField(
        label="Performed on", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, rows, every_row: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["performed_on"].initial = timezone.localdate
        self.shared = list(self.fields)
        self.rows = rows
        for row in rows:
            if every_row or self.ready(row):
                self.fields[f"include_{row.key}"] = forms.BooleanField(
                    label=f"Include {row.barcode}",
                    required=False,
                    initial=every_row or self.ticked(row),
                )
                self.fields[f"deviation_{row.key}"] = forms.CharField(
                    label=f"Deviation for {row.barcode}",
                    max_length=300,
                    required=False,
                    widget=forms.TextInput(attrs={"autocomplete": "off"}),
                )

    def ready(self, row) -> bool:
        raise NotImplementedError

    def ticked(self, row) -> bool:
        return True

    def shared_fields(self):
        return [self[name] for name in self.shared]

    def row_fields(self):
        """(row, include field, deviation field) per sample; the fields are None for a
        sample not offered in this step."""
        return [
            (row, self[f"include_{row.key}"], self[f"deviation_{row.key}"])
            if f"include_{row.key}" in self.fields
            else (row, None, None)
            for row in self.rows
        ]

    def chosen(self):
        """The rows ticked, and their deviations by exosome isolation pk."""
        data = self.cleaned_data
        rows = [row for row in self.rows if data.get(f"include_{row.key}")]
        return rows, {row.key: data.get(f"deviation_{row.key}", "") for row in rows}

    def shared_values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.shared}


def _default(model, field: str):
    return model._meta.get_field(field).default


class RnaIsolationBatchForm(ChainStepForm):
    kit = forms.CharField(max_length=64, initial=_default(RnaIsolation, "kit"))
    kit_lot = forms.CharField(label="Kit lot", max_length=64)
    elution_volume_ul = forms.DecimalField(
        label="Elution volume (µl)",
        max_digits=6,
        decimal_places=1,
        initial=_default(RnaIsolation, "elution_volume_ul"),
    )

    def ready(self, row) -> bool:
        return row.rna is None


class ReverseTranscriptionBatchForm(ChainStepForm):
    kit = forms.CharField(
        label="RT kit", max_length=64, initial=_default(ReverseTranscription, "kit")
    )
    kit_lot = forms.CharField(label="RT kit lot", max_length=64)
    assays = forms.ModelMultipleChoiceField(
        label="Primer pool (assays)",
        queryset=study_assays(),
        widget=forms.CheckboxSelectMultiple,
        help_text="TaqMan miRNA RT primes each assay; a plate can only read the assays primed.",
    )
    input_volume_ul = forms.DecimalField(
        label="RNA input (µl)",
        max_digits=5,
        decimal_places=1,
        initial=_default(ReverseTranscription, "input_volume_ul"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assays"].initial = list(self.fields["assays"].queryset)

    def ready(self, row) -> bool:
        return row.rna is not None

    def ticked(self, row) -> bool:
        # A second RT of the same RNA (other primers, a repeat) is chosen deliberately.
        return not row.products
