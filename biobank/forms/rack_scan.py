"""The rack-scanner file upload and its confirmation."""

from __future__ import annotations

from django import forms

from biobank.uploads import check_upload_size

from .base import BenchForm


class RackScanUploadForm(BenchForm):
    file = forms.FileField(
        label="Rack scanner file",
        help_text="The CSV or TXT the rack scanner wrote (Ziath DP5, Thermo VisionMate or "
        "Matrix, Azenta/FluidX). The rack is found by the barcode in the file, or in its name.",
        widget=forms.ClearableFileInput(attrs={"autofocus": True, "accept": ".csv,.txt,.tsv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if refusal := check_upload_size(upload.size):
            raise forms.ValidationError(refusal)
        return upload


class RackScanConfirmForm(BenchForm):
    reason = forms.CharField(
        max_length=300,
        required=False,
        help_text="Optional; each custody event says 'rack scan', the file's name and this.",
    )
