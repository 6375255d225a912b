"""Setting up a plate, importing its export, deciding on a well."""

from __future__ import annotations

import re

from django import forms

from biobank.instruments import FORMATS
from biobank.models import QpcrPlate, Well
from biobank.selectors.plates import rt_products_by_codes, study_assays
from biobank.uploads import check_upload_size

from .base import BenchForm
from .fields import CodeListField, PositionField


def _rt_products(codes: list[str]):
    found, missing = rt_products_by_codes(codes)
    if missing:
        raise forms.ValidationError(f"No RT product has the code {', '.join(missing)}")
    return found


class PlateSetupForm(BenchForm):
    """A new plate and its layout: each sample x each assay x its replicates, then NTCs;
    or an empty plate, laid out by hand on its map."""

    AUTO, BY_HAND = "auto", "by_hand"

    layout = forms.ChoiceField(
        label="Layout",
        choices=[
            (AUTO, "Fill it from the list below"),
            (BY_HAND, "Empty: I lay it out by hand on the plate map"),
        ],
        initial=AUTO,
        widget=forms.RadioSelect,
        required=False,  # a form posted without it (older pages, scripts) fills
    )
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
        required=False,
        help_text="Scan or type the RT product codes, one per line, in pipetting order.",
    )
    assays = forms.ModelMultipleChoiceField(
        queryset=study_assays(), widget=forms.CheckboxSelectMultiple, required=False
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

    def clean(self):
        """Samples and assays are needed only to fill the plate; an empty plate takes
        neither (what was typed is ignored, not half-used)."""
        cleaned = super().clean()
        by_hand = cleaned.get("layout") == self.BY_HAND
        if not by_hand:
            for name in ("samples", "assays"):
                if name in cleaned and not cleaned[name]:
                    self.add_error(name, forms.ValidationError("This field is required."))
        cleaned["by_hand"] = by_hand
        return cleaned

    def service_arguments(self) -> dict:
        """What `plate_set_up` takes from this form."""
        values = {k: v for k, v in self.cleaned_data.items() if k != "layout"}
        if values["by_hand"]:
            for name in ("samples", "assays", "replicates", "ntc_replicates", "calibrator"):
                values.pop(name, None)
        return values


_TOKEN = re.compile(r"([A-Pa-p])\s*0*([0-9]{1,2})(?:\s*-\s*([A-Pa-p])\s*0*([0-9]{1,2}))?")
_ROWS = "ABCDEFGHIJKLMNOP"


def expand_positions(text: str) -> list[str]:
    """'A1 A2 B3', 'A1-A3' (a row), 'A1-C1' (a column) or 'A1-B6' (a block, row by
    row) to labels in the order written. A token that is none of these is refused by
    name; whether a position is on the plate is the service's to say (it knows the
    plate)."""
    labels: list[str] = []
    for token in re.split(r"[\s,;]+", re.sub(r"\s*-\s*", "-", text or "").strip()):
        if not token:
            continue
        match = _TOKEN.fullmatch(token)
        if not match:
            raise forms.ValidationError(
                f"{token!r} is not a position like A1 or a range like A1-A3"
            )
        first_row, first_column = _ROWS.index(match.group(1).upper()), int(match.group(2))
        if match.group(3) is None:
            labels.append(f"{_ROWS[first_row]}{first_column}")
            continue
        last_row, last_column = _ROWS.index(match.group(3).upper()), int(match.group(4))
        if last_row < first_row or last_column < first_column:
            raise forms.ValidationError(
                f"{token!r} runs backwards: write the top-left position first"
            )
        labels += [
            f"{_ROWS[row]}{column}"
            for row in range(first_row, last_row + 1)
            for column in range(first_column, last_column + 1)
        ]
    return labels


class PositionsField(forms.CharField):
    """Plate positions typed, scanned or filled by clicking the map: cleans to labels."""

    def to_python(self, value):
        return expand_positions(super().to_python(value))

    def validate(self, value):
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


class PlatePlacementForm(BenchForm):
    """The plate map's editor: place an RT product or a control with its assays at
    the chosen positions, move one position's wells to another, or clear positions.
    Which of the three is the button pressed (`action`)."""

    PLACE, MOVE, CLEAR = "place", "move", "clear"
    prefix = "edit"

    positions = PositionsField(
        label="Positions",
        help_text="Click wells on the map, or type them: A1 A2 B3, a range A1-A3, a block "
        "A1-B6. To move: the source, then the target.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    kind = forms.ChoiceField(
        label="Put in",
        choices=[
            (Well.Kind.SAMPLE, "Sample (RT product)"),
            (Well.Kind.CALIBRATOR, "Calibrator (RT product)"),
            (Well.Kind.INTER_RUN_CALIBRATOR, "Inter-run calibrator (RT product)"),
            (Well.Kind.NTC, "No-template control (NTC)"),
            (Well.Kind.STANDARD, "Standard (one dilution level, its quantity)"),
        ],
        initial=Well.Kind.SAMPLE,
        widget=forms.RadioSelect,
        required=False,
    )
    sample = forms.CharField(
        label="RT product",
        max_length=64,
        required=False,
        help_text="Scan or type its code (not for an NTC).",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "list": "recent-rt-products"}
        ),
    )
    quantity = forms.FloatField(
        label="Standard's quantity",
        required=False,
        help_text="Only for a standard: its known quantity (e.g. 1e6 copies); empty if the "
        "instrument file will state it.",
    )
    assays = forms.ModelMultipleChoiceField(
        queryset=study_assays(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Several assays at one position make a multiplex well.",
    )
    action = forms.ChoiceField(
        choices=[(PLACE, "Place"), (MOVE, "Move"), (CLEAR, "Clear")], initial=PLACE
    )

    def clean(self):
        cleaned = super().clean()
        action, positions = cleaned.get("action"), cleaned.get("positions")
        if action == self.MOVE and positions is not None and len(positions) != 2:
            self.add_error(
                "positions",
                f"A move takes two positions, the source then the target; {len(positions)} given",
            )
        if action == self.PLACE:
            cleaned["kind"] = cleaned.get("kind") or Well.Kind.SAMPLE
            code = cleaned.get("sample", "").strip()
            cleaned["sample"] = None
            if code and cleaned["kind"] == Well.Kind.NTC:
                self.add_error("sample", "A no-template control holds no sample: leave it empty")
            elif code and cleaned["kind"] == Well.Kind.STANDARD:
                self.add_error("sample", "A standard holds no RT product: leave it empty")
            elif code:
                found, missing = rt_products_by_codes([code])
                if missing:
                    self.add_error("sample", f"No RT product has the code {code}")
                else:
                    cleaned["sample"] = found[0]
        return cleaned


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
        # The body was already capped before it was read (biobank.uploads); this is the
        # file's own size against the same cap.
        if refusal := check_upload_size(upload.size):
            raise forms.ValidationError(refusal)
        return upload


class PlateImportConfirmForm(BenchForm):
    """What confirming an import needs beyond the file: replacing existing Cq values
    takes the box and a reason; a file whose names mostly disagree with the layout,
    a curator's override reason. plate_import_confirm checks both; this only asks."""

    replace = forms.BooleanField(
        label="Replace existing results",
        required=False,
        help_text="The file changes Cq values already on the plate; the old values are "
        "kept and come back if the import is reverted.",
    )
    reason = forms.CharField(
        label="Reason for replacing",
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    override_reason = forms.CharField(
        label="Curator's reason for overriding the name check",
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


NOT_CHOSEN, NOT_READ_CHOICE = "", "-"


class DyeMappingForm(BenchForm):
    """Which assay each dye of a multiplex export reads (or none), one select per dye,
    prefilled from the mapping in force (the plate's last, or the one chosen)."""

    def __init__(self, *args, dyes: list[str], targets: list[str], mapping: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.dyes = dyes
        choices = [
            (NOT_CHOSEN, "— choose the assay —"),
            (NOT_READ_CHOICE, "not read"),
            *((target, target) for target in targets),
        ]
        for index, dye in enumerate(dyes):
            chosen = mapping.get(dye)
            self.fields[f"dye_{index}"] = forms.ChoiceField(
                label=dye,
                choices=choices,
                required=False,
                initial=NOT_CHOSEN
                if chosen is None
                else NOT_READ_CHOICE
                if chosen == ""
                else chosen,
            )

    def mapping(self) -> dict[str, str]:
        """{dye: target, or '' = not read}; dyes left unchosen are not in it."""
        chosen = {}
        for index, dye in enumerate(self.dyes):
            value = self.cleaned_data.get(f"dye_{index}", NOT_CHOSEN)
            if value != NOT_CHOSEN:
                chosen[dye] = "" if value == NOT_READ_CHOICE else value
        return chosen


class PlateImportRevertForm(BenchForm):
    reason = forms.CharField(
        label="Reason for reverting",
        max_length=300,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class WellDecisionForm(BenchForm):
    """Exclude or keep a well, with the reason; or hand it back to the automatic QC.
    A multiplex position holds one well per assay: then `assay` says which."""

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
    assay = forms.ChoiceField(
        label="Assay",
        required=False,
        choices=[("", "the only assay at this position")],
        help_text="Only for a position holding several assays (multiplex).",
    )

    def __init__(self, *args, assays: list[tuple[int, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        if assays:
            self.fields["assay"].choices = [
                ("", "the only assay at this position"),
                *((str(pk), target) for pk, target in assays),
            ]
        else:
            del self.fields["assay"]
