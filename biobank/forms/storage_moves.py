"""Choosing where a box's, a rack's or a freezer's tubes go, and why."""

from __future__ import annotations

from django import forms

from biobank.services.bulk import reason_required

from .base import BenchForm


class StorageMoveForm(BenchForm):
    """The target (a box, rack or freezer other than the source) and the reason every
    tube's custody event carries."""

    target = forms.ModelChoiceField(queryset=None, label="Move to")
    reason = forms.CharField(
        max_length=300,
        label="Because",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Goes into every tube's custody log",
    )

    def __init__(self, *args, targets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = targets
        self.fields["reason"].required = reason_required("move")  # the lab's policy
