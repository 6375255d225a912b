"""Registering a serum draw."""

from __future__ import annotations

from django import forms

from biobank.models import SerumDraw
from biobank.selectors.draws import treatments_open_for_draws

from .base import BenchForm

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL)


class TreatmentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, treatment):
        return f"{treatment.patient.study_id} · TACE {treatment.performed_on:%Y-%m-%d}"


class SerumDrawForm(BenchForm):
    treatment = TreatmentChoiceField(
        queryset=treatments_open_for_draws(),
        label="Patient and TACE",
        widget=forms.Select(attrs={"autofocus": True}),
    )
    timepoint = forms.ChoiceField(choices=SerumDraw.Timepoint.choices, widget=forms.RadioSelect)
    drawn_at = forms.DateTimeField(label="Drawn at", widget=datetime_input())
    centrifuged_at = forms.DateTimeField(
        label="Centrifuged at", required=False, widget=datetime_input()
    )
    frozen_at = forms.DateTimeField(label="Frozen at", required=False, widget=datetime_input())
    serum_volume_ul = forms.DecimalField(
        label="Serum volume (µl)", max_digits=8, decimal_places=1, min_value=0
    )
    haemolysis = forms.ChoiceField(
        choices=SerumDraw.Haemolysis.choices, initial=SerumDraw.Haemolysis.NONE
    )
    a414 = forms.FloatField(
        label="A414 (optional)",
        required=False,
        min_value=0,
        help_text=SerumDraw._meta.get_field("a414").help_text,
    )
    container = forms.ChoiceField(
        choices=SerumDraw.Container.choices, initial=SerumDraw.Container.SST
    )
    held_cold = forms.BooleanField(label="Held at 2-10 °C before processing", required=False)
    note = forms.CharField(max_length=300, required=False)
