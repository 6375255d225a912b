"""Fields for what a barcode scanner types: lists of codes and box positions."""

from __future__ import annotations

import re
import string

from django import forms
from django.core.exceptions import ValidationError

from biobank.selectors.boxes import box_by_barcode

_SEPARATORS = re.compile(r"[\s,;]+")
_POSITION = re.compile(r"([A-Za-z])\s*0*([0-9]{1,2})")


def split_codes(text: str) -> list[str]:
    """Codes one per line (a scanner ends each with Enter), or separated by spaces,
    commas or semicolons."""
    return [code for code in _SEPARATORS.split(text or "") if code]


def parse_position(text: str) -> tuple[int, int]:
    """(row, column), 1-based, of a box position written 'A1', 'a01' or 'B 12'."""
    match = _POSITION.fullmatch(text.strip())
    if not match:
        raise ValidationError(f"{text.strip()!r} is not a position like A1")
    return string.ascii_uppercase.index(match.group(1).upper()) + 1, int(match.group(2))


class CodeListField(forms.CharField):
    """A textarea of scanned codes; cleans to a list, refusing none when required."""

    widget = forms.Textarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"})

    def to_python(self, value):
        return split_codes(super().to_python(value))

    def validate(self, value):
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")


class PositionListField(forms.CharField):
    """Positions like 'A1 A2 B1'; cleans to a list of (row, column)."""

    def to_python(self, value):
        return [parse_position(label) for label in split_codes(super().to_python(value))]

    def validate(self, value):
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")


class PositionField(forms.CharField):
    """One position like 'C7'; cleans to (row, column)."""

    def to_python(self, value):
        value = super().to_python(value)
        return parse_position(value) if value else None


class BoxBarcodeField(forms.CharField):
    """A box, scanned by its barcode (the label on the box's side)."""

    def to_python(self, value):
        barcode = (super().to_python(value) or "").strip()
        if not barcode:
            return None
        box = box_by_barcode(barcode)
        if box is None:
            raise ValidationError(f"No box has the barcode {barcode!r}")
        return box
