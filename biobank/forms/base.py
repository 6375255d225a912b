"""The base of every bench form: CSS hooks so errors and required fields stand out."""

from __future__ import annotations

from django import forms


class BenchForm(forms.Form):
    error_css_class = "has-error"
    required_css_class = "required"
