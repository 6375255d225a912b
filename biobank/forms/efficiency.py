"""Choosing an assay's amplification efficiency (biobank.services.efficiency)."""

from __future__ import annotations

from django import forms

from biobank.models import AssayEfficiency, QpcrPlate

from .base import BenchForm


class EfficiencyChoiceForm(BenchForm):
    """Percentages on the page (95 %), fractions in the service (0.95)."""

    method = forms.ChoiceField(
        choices=AssayEfficiency.Method.choices,
        widget=forms.RadioSelect,
        initial=AssayEfficiency.Method.DEFAULT,
    )
    plate = forms.ModelChoiceField(
        queryset=QpcrPlate.objects.none(),
        required=False,
        label="Run (for one run's curve)",
    )
    plates = forms.ModelMultipleChoiceField(
        queryset=QpcrPlate.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Runs (for a pooled value)",
    )
    value = forms.FloatField(
        required=False, label="Declared efficiency (%)", help_text="e.g. 95 for 95 %"
    )
    se = forms.FloatField(required=False, label="Its standard error (%)", min_value=0)
    source = forms.CharField(
        required=False,
        max_length=300,
        help_text="Where the value comes from (kit insert, validation report); required for "
        "a declared value, optional otherwise.",
    )

    def __init__(self, *args, plates=(), **kwargs):
        super().__init__(*args, **kwargs)
        queryset = QpcrPlate.objects.filter(pk__in=[p for p in plates]).order_by("barcode")
        self.fields["plate"].queryset = queryset
        self.fields["plates"].queryset = queryset

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        percent = lambda v: None if v is None else v / 100  # noqa: E731
        return {
            "method": data["method"],
            "plate": data.get("plate"),
            "plates": list(data.get("plates") or []),
            "value": percent(data.get("value")),
            "se": percent(data.get("se")),
            "source": data.get("source", ""),
        }
