"""The bench's bulk page: an action, a scanned list of tubes, a target box, a reason."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from biobank.selectors.boxes import box_grid
from biobank.services.aliquots import Position

from .base import BenchForm
from .fields import BoxBarcodeField, parse_position

# The most tubes one list takes: a 96 rack and room for a few strays (each tube is a row
# of the preview table).
MAX_TUBES = 200

ACTION_CHOICES = [
    ("check_out", "Check out"),
    ("check_in", "Check in"),
    ("move", "Move"),
    ("discard", "Discard"),
]
PLACING = {"check_in", "move"}
_LINE = re.compile(r"[\s,;]+")


def parse_tube_lines(text: str) -> list[tuple[str, tuple[int, int] | None, int]]:
    """(barcode, (row, column) or None, line number) for each non-empty line: a barcode
    alone, or a barcode and a position (`TUBE-1 A3`, `TUBE-1;A3`)."""
    parsed = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        parts = [part for part in _LINE.split(line.strip()) if part]
        if not parts:
            continue
        if len(parts) > 2:
            raise ValidationError(
                f"Line {number}: {line.strip()!r} is not a barcode, or a barcode and a position"
            )
        position = None
        if len(parts) == 2:
            try:
                position = parse_position(parts[1])
            except ValidationError as error:
                raise ValidationError(f"Line {number}: {error.messages[0]}") from error
        parsed.append((parts[0], position, number))
    return parsed


def _reason_help() -> str:
    policy = getattr(settings, "EXOTRACK_REASON_REQUIRED", {})
    needed = [label.lower() for action, label in ACTION_CHOICES if policy.get(action)]
    return (
        f"Kept in each tube's custody log. Required to {', '.join(needed)}."
        if needed
        else "Kept in each tube's custody log."
    )


class BulkTubesForm(BenchForm):
    """What to do to which tubes. For a check-in or a move, each line may name the tube's
    position (`TUBE-1 A3`) in the box scanned; the lines without one take the box's next
    free positions in scan order. A check-in with no box puts each tube back at its kept
    or last position."""

    action = forms.ChoiceField(
        choices=ACTION_CHOICES, widget=forms.RadioSelect, initial="check_out"
    )
    tubes = forms.CharField(
        label="Tubes",
        widget=forms.Textarea(
            attrs={"rows": 10, "autocomplete": "off", "spellcheck": "false", "autofocus": True}
        ),
        help_text="Scan one tube per line; for a check-in or a move, a position may follow "
        "the barcode (TUBE-1 A3).",
    )
    box = BoxBarcodeField(
        label="Target box",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Check-in and move: scan the box. Lines without a position take its next "
        "free positions in scan order. Check-in with no box: each tube's kept or last "
        "position.",
    )
    reason = forms.CharField(
        max_length=300, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].help_text = _reason_help()

    def clean_tubes(self):
        lines = parse_tube_lines(self.cleaned_data["tubes"])
        if not lines:
            raise ValidationError("Scan at least one tube")
        if len(lines) > MAX_TUBES:
            raise ValidationError(f"{len(lines)} tubes: at most {MAX_TUBES} in one list")
        return lines

    def clean(self):
        data = super().clean()
        action, lines, box = data.get("action"), data.get("tubes"), data.get("box")
        if action is None or lines is None or "box" in self.errors:
            return data
        if action not in PLACING:
            positioned = [number for _, position, number in lines if position]
            if positioned:
                self.add_error(
                    "tubes", f"Line {positioned[0]}: a position means nothing for a {action}"
                )
            data["codes"] = [code for code, _, _ in lines]
            return data
        if box is None:
            if action == "move" or any(position for _, position, _ in lines):
                self.add_error("box", "Scan the box the tubes go into")
                return data
            data["placements"] = [(code, None) for code, _, _ in lines]
            return data
        data["placements"] = self._placements(box, lines)
        return data

    def _placements(self, box, lines):
        """Each line's (barcode, (box, row, column)): its own position, else the box's next
        free one not named by another line and not kept for a tube out."""
        named = {position for _, position, _ in lines if position}
        free = [place for place in box_grid(box).free_positions() if place not in named]
        wanting = sum(1 for _, position, _ in lines if position is None)
        if wanting > len(free):
            self.add_error(
                "box",
                f"Box {box.barcode} has {len(free)} free positions for the {wanting} tubes "
                "without a position",
            )
            return []
        free_iter = iter(free)
        return [
            (code, Position(box, *(position or next(free_iter)))) for code, position, _ in lines
        ]
