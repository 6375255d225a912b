"""Setting up a plate, importing its export, deciding on a well."""

from __future__ import annotations

from django import forms

from biobank.instruments import FORMATS
from biobank.models import QpcrPlate
from biobank.selectors.plates import rt_products_by_codes, study_assays

from .base import BenchForm
from .fields import CodeListField, PositionField

MAX_EXPORT_BYTES = 50 * 1024 * 1024  # far above any qPCR export; refuses a wrong file early


def _rt_products(codes: list[str]):
    found, missing = rt_products_by_codes(codes)
    if missing:
        raise forms.ValidationError(f"No RT product has the code {', '.join(missing)}")
    return found


class PlateSetupForm(BenchForm):
    """A new plate and its layout: each sample x each assay x its replicates, then NTCs."""

    barcode = forms.CharField(
        label="Plate barcode",
        max_length=64,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    plate_format = forms.TypedChoiceField(
        label="Format", choices=QpcrPlate.Format.choices, coerce=int, initial=96
    )
    instrument = forms.CharField(max_length=64, initial="Roche LightCycler 480 II")
    samples = CodeListField(
        label="Samples (RT products)",
        help_text="Scan or type the RT product codes, one per line, in pipetting order.",
    )
    assays = forms.ModelMultipleChoiceField(
        queryset=study_assays(), widget=forms.CheckboxSelectMultiple
    )
    replicates = forms.IntegerField(initial=3, help_text="technical replicates per sample")
    ntc_replicates = forms.IntegerField(
        label="NTC wells per assay", initial=1, min_value=0, max_value=6
    )
    calibrator = forms.CharField(
        label="Calibrator (RT product code)", max_length=64, required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assays"].initial = list(self.fields["assays"].queryset)

    def clean_samples(self):
        return _rt_products(self.cleaned_data["samples"])

    def clean_calibrator(self):
        code = self.cleaned_data["calibrator"].strip()
        return _rt_products([code])[0] if code else None


FORMAT_CHOICES = [("auto", "Recognise the format"), *((name, name) for name in FORMATS)]


class PlateExportForm(BenchForm):
    file = forms.FileField(
        label="Instrument export", widget=forms.ClearableFileInput(attrs={"autofocus": True})
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="auto")
    run = forms.CharField(
        max_length=200,
        required=False,
        help_text="Only for files holding several runs: the run to import.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_EXPORT_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size // (1024 * 1024)} MB; an export is at most "
                f"{MAX_EXPORT_BYTES // (1024 * 1024)} MB"
            )
        return upload


class WellDecisionForm(BenchForm):
    """Exclude or keep a well, with the reason; or hand it back to the automatic QC."""

    EXCLUDE, RESTORE, AUTOMATIC = "exclude", "restore", "automatic"
    position = PositionField(
        label="Well",
        max_length=4,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "B7"}),
    )
    decision = forms.ChoiceField(
        choices=[
            (EXCLUDE, "Exclude the well"),
            (RESTORE, "Keep (restore) the well"),
            (AUTOMATIC, "Hand back to the automatic QC"),
        ],
        initial=EXCLUDE,
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        max_length=300, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
