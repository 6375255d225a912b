"""Applying an instrument export to a laid-out plate, in two steps.

`plate_import_preview` reads the file and compares it with the layout without
writing anything: for every well of the layout, whether the file fills it, repeats
its value, changes it, disagrees with its sample name, or cannot be told apart from
another reading at the same position (unresolved); and which readings of the file
have no well. `plate_import_confirm` does the same comparison again under a lock on
the plate and writes it, under rules that make it impossible to lose a result by
accident (a wrong file once overwrote 90 good Cq values behind a Confirm button):

* changing an existing Cq needs `replace=True` and a reason;
* a file whose sample names mostly disagree with the layout (more than
  MISMATCH_THRESHOLD of the wells where the file names a sample) is refused unless
  a curator (biobank.override_plateimport) overrides it with a reason;
* a file with nothing to fill or change is refused;
* every write keeps what it replaced in WellImportChange, so that
  biobank.services.plate_import_revert can put it back exactly.

Multiplex files (Bio-Rad CFX Maestro: two fluors per position, no target name) are
read through a dye -> assay mapping chosen on the preview and remembered on the plate.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from analysis.triggers import EXPRESSION, affected_plans, schedule_reanalysis
from biobank.instruments import ExportParseError, ParsedExport, ParsedWell, checks, parse_export
from biobank.instruments.positions import normalise_position
from biobank.models import PlateImport, QpcrPlate, Well, WellImportChange, position_label

from .bulk_history import bulk_insert, bulk_update_with_history_sql

# Cq values equal within this are "the same" (exports round to 2 decimals).
CQ_TOLERANCE = 1e-6

# A file "mostly disagrees" with the layout when the sample names of MORE THAN this
# share of the wells where the file names a sample differ from the layout's. Such a
# file is most likely another plate's: only a curator may confirm it, with a reason.
MISMATCH_THRESHOLD = 0.5
OVERRIDE_PERMISSION = "biobank.override_plateimport"

NOT_READ = ""  # a dye mapped to '' is not read (QpcrPlate.dye_assays)

# The well fields an import writes (and a revert puts back).
WRITTEN_FIELDS = [
    "cq",
    "imported_from",
    "excluded",
    "exclusion_reason",
    "excluded_by",
    "excluded_at",
    "quantity",
    "quantity_unit",
]

# Two quantities of one standard agree within this relative difference (a file may
# write 1e6 as 1000000 or 1.00E+06).
QUANTITY_TOLERANCE = 1e-6

DRAW = "sample__rna__isolation__aliquot__draw"

ACTIONS = ("fill", "change", "same", "unresolved", "missing")


@dataclass(frozen=True)
class WellChange:
    """What the file would do to one well of the layout."""

    position: str
    well_id: int
    expected_sample: str
    file_sample: str
    assay: str
    old_cq: float | None
    new_cq: float | None
    action: str  # one of ACTIONS: 'missing' = the file has no reading for this well
    note: str = ""
    name_disagrees: bool = False
    study_id: str = ""  # the patient's study id (never an identity); '' for NTCs
    dye: str = ""
    decided: bool = False  # the well has an exclusion decision, which a write clears
    # A standard well: the quantity it will hold after the write (the layout's, else the
    # file's) and its unit.
    new_quantity: float | None = None
    new_quantity_unit: str = ""


@dataclass(frozen=True)
class StrayReading:
    """A reading of the file that belongs to no well of the layout."""

    position: str
    sample_name: str
    target: str
    dye: str
    cq: float | None
    note: str


@dataclass
class ImportPreview:
    plate: QpcrPlate
    sha256: str
    size_bytes: int
    filename: str
    export: ParsedExport | None
    run: str = ""
    changes: list[WellChange] = field(default_factory=list)
    stray_readings: list[StrayReading] = field(default_factory=list)
    unknown_positions: list[str] = field(default_factory=list)
    missing_positions: list[str] = field(default_factory=list)
    name_mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Those of the errors a choice on the preview cures (the dye mapping): the upload
    # is worth keeping for them. Any other error refuses the file as it is.
    curable: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duplicate_of: PlateImport | None = None
    # Multiplex: the dyes whose readings cannot be told apart by target name, the
    # mapping in force (chosen, or remembered on the plate), and the assays to choose.
    dyes: list[str] = field(default_factory=list)
    dye_assays: dict[str, str] = field(default_factory=dict)
    dye_choices: list[str] = field(default_factory=list)
    named_wells: int = 0  # wells where the file names a sample (the threshold's base)
    patients: list[str] = field(default_factory=list)  # study ids a write would touch
    changed_patients: list[str] = field(default_factory=list)  # ... whose Cq would change
    analyses: list[str] = field(default_factory=list)  # active plans that would re-run
    wells: dict[int, Well] = field(default_factory=dict, repr=False)

    @property
    def mismatched(self) -> int:
        return sum(1 for change in self.changes if change.name_disagrees)

    @property
    def mostly_mismatched(self) -> bool:
        """More than MISMATCH_THRESHOLD of the named wells disagree with the layout."""
        return self.named_wells > 0 and self.mismatched > MISMATCH_THRESHOLD * self.named_wells

    @property
    def importable(self) -> bool:
        return any(change.action in {"fill", "change"} for change in self.changes)

    @property
    def needs_replace(self) -> bool:
        return any(change.action == "change" for change in self.changes)

    @property
    def can_confirm(self) -> bool:
        """Nothing stands in the way but the confirm rules (replace, override)."""
        return not self.errors and self.importable

    @property
    def refused(self) -> bool:
        """The file cannot be imported into this plate whatever is chosen on the
        preview: nothing of it is worth keeping (the web page drops the upload)."""
        return any(error not in self.curable for error in self.errors)

    @property
    def unmapped_dyes(self) -> list[str]:
        return [dye for dye in self.dyes if dye not in self.dye_assays]

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def counts(self) -> dict[str, int]:
        return {action: self.count(action) for action in ACTIONS}

    def to_dict(self) -> dict:
        return {
            "plate": self.plate.barcode,
            "sha256": self.sha256,
            "filename": self.filename,
            "format": self.export.format if self.export else None,
            "instrument": self.export.instrument if self.export else None,
            "run": self.run,
            "fills": self.count("fill"),
            "changes": self.count("change"),
            "unchanged": self.count("same"),
            "unresolved": self.count("unresolved"),
            "missing": self.count("missing"),
            "mismatched": self.mismatched,
            "named_wells": self.named_wells,
            "mismatch_threshold": MISMATCH_THRESHOLD,
            "mostly_mismatched": self.mostly_mismatched,
            "needs_replace": self.needs_replace,
            "can_confirm": self.can_confirm,
            "wells": [change.__dict__ for change in self.changes],
            "stray_readings": [reading.__dict__ for reading in self.stray_readings],
            "unknown_positions": self.unknown_positions,
            "missing_positions": self.missing_positions,
            "name_mismatches": self.name_mismatches,
            "dyes": self.dyes,
            "dye_assays": self.dye_assays,
            "dye_choices": self.dye_choices,
            "patients": self.patients,
            "changed_patients": self.changed_patients,
            "analyses": self.analyses,
            "errors": self.errors,
            "warnings": self.warnings,
            "duplicate_of": self.duplicate_of.pk if self.duplicate_of else None,
        }


@functools.lru_cache(maxsize=4096)  # a plate repeats a few dozen names hundreds of times
def _simplify(name: str) -> str:
    """'hsa-miR-122-5p', 'miR-122' and 'MIR122' all simplify to 'mir122'."""
    name = re.sub(r"^(hsa|cel|mmu)-", "", name.strip().lower())
    name = re.sub(r"-[35]p$", "", name)
    return re.sub(r"[^a-z0-9]", "", name)


def expected_name(*, kind: str, sample_code: str | None) -> str:
    """The sample name the instrument file should carry for a well of `kind` holding
    the RT product `sample_code` (the sample sheets write it, the import reads it)."""
    if kind == Well.Kind.NTC:
        return "NTC"
    if kind == Well.Kind.STANDARD:
        return "Standard"
    return sample_code or ""


def _names_agree(expected: str, found: str) -> bool:
    return not found or _simplify(expected) == _simplify(found)


def same_cq(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= CQ_TOLERANCE


def _on_plate(position: str, plate_format: int) -> bool:
    try:
        normalise_position(position, plate_format)
    except ExportParseError:
        return False
    return True


def _listed(items: list[str], limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (" …" if len(items) > limit else "")


# --- which reading belongs to which well ----------------------------------------------

Assignment = dict[int, tuple[ParsedWell | None, str]]  # well id -> (reading, note)
UNRESOLVED = "unresolved: "  # a note starting so: the well's reading is not known


def _by_target(wells: list[Well], readings: list[ParsedWell]):
    """Pair wells and readings of one position without a dye mapping: the only reading
    with the only well, or by target name. Returns the assignment, the readings that
    belong to no well, and whether a well is left not knowing which reading is its."""
    if len(wells) == 1 and len(readings) == 1:
        return {wells[0].pk: (readings[0], "")}, [], False
    assignment: Assignment = {}
    used: set[int] = set()
    for well in wells:
        target = _simplify(well.assay.target)
        matching = [i for i, r in enumerate(readings) if r.target and _simplify(r.target) == target]
        if len(matching) == 1:
            assignment[well.pk] = (readings[matching[0]], "")
            used.add(matching[0])
    left = [r for i, r in enumerate(readings) if i not in used]
    unresolved = False
    for well in wells:
        if well.pk in assignment:
            continue
        if left:
            unresolved = True
            assignment[well.pk] = (
                None,
                f"{UNRESOLVED}{len(readings)} readings at this position, none of them "
                f"named {well.assay.target} alone",
            )
        else:
            assignment[well.pk] = (None, f"the file has no {well.assay.target} reading here")
    return assignment, [] if unresolved else left, unresolved


def _by_dye(wells: list[Well], readings: list[ParsedWell], mapping: dict[str, str]):
    """Pair wells and readings of one position through the dye -> assay mapping."""
    by_target = {_simplify(well.assay.target): well for well in wells}
    taken: dict[int, ParsedWell] = {}
    twice: dict[int, int] = {}  # well id -> readings mapped to it, when more than one
    stray: list[tuple[ParsedWell, str]] = []
    unmapped: list[str] = []
    for reading in readings:
        if reading.dye not in mapping:
            unmapped.append(reading.dye or "(no dye)")
            continue
        target = mapping[reading.dye]
        if target == NOT_READ:
            continue
        well = by_target.get(_simplify(target))
        if well is None:
            stray.append((reading, f"{reading.dye} reads {target}, which has no well here"))
        elif well.pk in taken:  # never let the last reading silently win
            twice[well.pk] = twice.get(well.pk, 1) + 1
        else:
            taken[well.pk] = reading
    assignment: Assignment = {}
    for well in wells:
        if well.pk in twice:
            assignment[well.pk] = (
                None,
                f"{UNRESOLVED}{twice[well.pk]} readings map to {well.assay.target} here",
            )
        elif well.pk in taken:
            assignment[well.pk] = (taken[well.pk], "")
        elif unmapped:
            dyes = ", ".join(sorted(set(unmapped)))
            assignment[well.pk] = (None, f"{UNRESOLVED}map the dye {dyes} to an assay")
        else:
            assignment[well.pk] = (None, f"no dye of the file reads {well.assay.target}")
    return assignment, stray


def _clean_mapping(given: dict | None, plate: QpcrPlate, dyes: list[str], choices: list[str]):
    """The mapping in force for the file's dyes: the one given, else the plate's last;
    with the errors of a mapping that names no assay of the plate or one assay twice."""
    source = plate.dye_assays if given is None else given
    if not isinstance(source, dict):
        return {}, ["The dye mapping must map each dye to an assay target (or '' = not read)"]
    known = {_simplify(choice): choice for choice in choices}
    mapping: dict[str, str] = {}
    errors: list[str] = []
    for dye in dyes:
        if dye not in source:
            continue
        target = source[dye]
        if not isinstance(target, str):
            errors.append(f"Dye {dye}: map it to an assay target, or '' for not read")
            continue
        if target.strip() == NOT_READ:
            mapping[dye] = NOT_READ
        elif _simplify(target) in known:
            mapping[dye] = known[_simplify(target)]
        elif given is not None:
            errors.append(f"Dye {dye}: plate {plate.barcode} has no assay {target!r}")
    read = [target for target in mapping.values() if target != NOT_READ]
    for target in sorted(set(read)):
        if read.count(target) > 1:
            twice = [dye for dye, chosen in mapping.items() if chosen == target]
            errors.append(f"Dyes {' and '.join(twice)} are both mapped to {target}: one dye each")
    return mapping, errors


# --- the preview ------------------------------------------------------------------------


def plate_import_preview(
    *,
    plate: QpcrPlate,
    data: bytes,
    filename: str,
    format: str = "auto",
    run: str | None = None,
    dye_assays: dict[str, str] | None = None,
) -> ImportPreview:
    """Compare an export with the plate's layout, well by well. Reads only; writes
    nothing; a constant number of queries whatever the plate size (the live import of
    the same file, the layout with its patients, the plans a write would re-run).

    `dye_assays` maps the dyes of a multiplex file to assay targets ('' = not read);
    None uses the mapping remembered on the plate."""
    preview = ImportPreview(
        plate=plate,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        filename=filename,
        export=None,
    )
    preview.duplicate_of = (
        PlateImport.objects.filter(sha256=preview.sha256, reverted_at__isnull=True)
        .select_related("plate")
        .first()
    )
    if preview.duplicate_of:
        first = preview.duplicate_of
        preview.errors.append(
            f"This file was already imported (import #{first.pk} into plate {first.plate.barcode} "
            f"on {first.imported_at:%Y-%m-%d %H:%M}); revert that import to import it again"
        )
    try:
        export = parse_export(data, format=format, filename=filename)
    except ExportParseError as error:
        preview.errors.append(f"{filename}: {error}")
        return preview
    preview.export = export
    preview.warnings.extend(export.warnings)
    if export.format == "lc480_sample_info":
        preview.errors.append(
            "This is a LightCycler Sample Information (layout) file: it holds no Cq values"
        )
        return preview

    runs = export.runs()
    if run is None and len(runs) > 1:
        preview.errors.append(f"The file holds {len(runs)} runs ({', '.join(runs)}); choose one")
        return preview
    preview.run = run if run is not None else runs[0] if runs else ""
    if preview.run not in runs and runs:
        preview.errors.append(f"The file has no run named {preview.run!r}")
        return preview

    readings = [reading for reading in export.wells if reading.run == preview.run]
    # The readings no plate could take, each naming its well: a Cq outside the one
    # range the database holds (the confirm repeats this, so it never fails on a Cq),
    # and a well read twice for one assay (one value would silently win).
    preview.errors.extend(checks.out_of_range(readings))
    preview.errors.extend(checks.duplicates(readings))
    by_position: dict[str, list[ParsedWell]] = {}
    for reading in readings:
        by_position.setdefault(reading.position, []).append(reading)

    layout: dict[str, list[Well]] = {}
    # The sample's code and patient by join: a model instance per well's RT product
    # would be a third of a large plate's Python time.
    for well in (
        plate.wells.select_related("assay")
        .annotate(sample_code=F("sample__code"), study_id=F(f"{DRAW}__patient__study_id"))
        .order_by("row", "column", "assay__target")
    ):
        layout.setdefault(position_label(well.row, well.column), []).append(well)
        preview.wells[well.pk] = well
    if not layout:
        preview.errors.append(
            f"Plate {plate.barcode} has no layout yet: lay it out before importing"
        )
        return preview
    preview.dye_choices = sorted({w.assay.target for w in preview.wells.values()})

    _stray_positions(preview, by_position, layout)

    # Without a mapping first; the dyes at positions left unresolved need one.
    plain = {
        position: _by_target(layout[position], readings)
        for position, readings in by_position.items()
        if position in layout
    }
    preview.dyes = sorted(
        {
            reading.dye
            for position, (_assignment, left, unresolved) in plain.items()
            if unresolved
            for reading in by_position[position]
            if reading.dye
        }
    )
    preview.dye_assays, mapping_errors = _clean_mapping(
        dye_assays, plate, preview.dyes, preview.dye_choices
    )
    preview.errors.extend(mapping_errors)
    preview.curable.extend(mapping_errors)

    for position, wells in layout.items():
        readings = by_position.get(position, [])
        if not readings:
            assignment = {well.pk: (None, "") for well in wells}
        elif preview.dyes and any(r.dye in preview.dyes for r in readings):
            assignment, stray = _by_dye(wells, readings, preview.dye_assays)
            preview.stray_readings.extend(_stray(r, note) for r, note in stray)
        else:
            assignment, left, unresolved = plain[position]
            if not unresolved:
                preview.stray_readings.extend(
                    _stray(r, "no well of this assay at this position") for r in left
                )
        for well in wells:
            reading, problem = assignment[well.pk]
            preview.changes.append(_classify(preview, position, well, reading, problem))

    _summarise(preview)
    return preview


def _stray(reading: ParsedWell, note: str) -> StrayReading:
    return StrayReading(
        reading.position, reading.sample_name, reading.target, reading.dye, reading.cq, note
    )


def _stray_positions(preview: ImportPreview, by_position, layout) -> None:
    plate = preview.plate
    for position, readings in by_position.items():
        if position not in layout:
            preview.unknown_positions.append(position)
            preview.stray_readings.extend(
                _stray(r, "no well at this position in the layout") for r in readings
            )
    off_plate = [p for p in preview.unknown_positions if not _on_plate(p, plate.plate_format)]
    on_plate = [p for p in preview.unknown_positions if p not in off_plate]
    if off_plate:
        preview.errors.append(
            f"Positions outside a {plate.plate_format}-well plate: {_listed(off_plate)}"
        )
    if on_plate:
        preview.warnings.append(
            f"{len(on_plate)} readings at positions with no well in the layout are ignored"
        )


def _classify(preview, position, well, reading, problem) -> WellChange:
    expected = expected_name(kind=well.kind, sample_code=well.sample_code)
    common = dict(
        position=position,
        well_id=well.pk,
        expected_sample=expected,
        assay=well.assay.target,
        old_cq=well.cq,
        study_id=well.study_id or "",
        decided=well.excluded is not None,
    )
    if reading is None:
        unresolved = problem.startswith(UNRESOLVED)
        return WellChange(
            **common,
            file_sample="",
            new_cq=None,
            action="unresolved" if unresolved else "missing",
            note=problem.removeprefix(UNRESOLVED) or "not in the file",
        )
    note = ""
    standard = well.kind == Well.Kind.STANDARD
    # A standard's name in the file is the series' own ('Standard 3', 'STD_RNase P_625'):
    # its quantity, not its name, is checked against the layout.
    disagrees = not standard and not _names_agree(expected, reading.sample_name)
    if reading.sample_name and not standard:
        preview.named_wells += 1
    if disagrees:
        note = f"file names the sample {reading.sample_name!r}, the layout {expected!r}"
        preview.name_mismatches.append(f"{position}: {note} ({well.assay.target})")
    if well.cq is None and reading.cq is not None:
        action = "fill"
    elif same_cq(well.cq, reading.cq):
        action = "same"
    else:
        action = "change"
    if action in {"fill", "change"} and well.excluded is not None:
        note = "; ".join(filter(None, [note, "its exclusion decision is cleared"]))
    quantity, unit = well.quantity, well.quantity_unit
    if standard:
        quantity, unit = _standard_quantity(preview, position, well, reading)
        if action == "same" and well.quantity is None and quantity is not None:
            action = "fill"  # an undetermined standard: the file still gives its quantity
    elif reading.standard:
        preview.warnings.append(
            f"{position} ({well.assay.target}): the file marks a standard where the layout has "
            f"a {well.get_kind_display().lower()} well; its quantity is not kept"
        )
    return WellChange(
        **common,
        file_sample=reading.sample_name,
        new_cq=reading.cq,
        action=action,
        note=note,
        name_disagrees=disagrees,
        dye=reading.dye,
        new_quantity=quantity,
        new_quantity_unit=unit,
    )


def _standard_quantity(preview, position, well, reading) -> tuple[float | None, str]:
    """The quantity a standard well holds after the write: the layout's when it has one
    (a file stating another is refused, naming the well: one of the two is wrong and
    the curve would be too), else the file's."""
    where = f"{position} ({well.assay.target})"
    if well.quantity is None:
        if reading.quantity is None:
            preview.warnings.append(
                f"{where}: a standard well without a quantity in the layout or the file; it "
                "gives no point on the standard curve"
            )
        return reading.quantity, reading.quantity_unit[:16] if reading.quantity else ""
    if reading.quantity is not None and not math.isclose(
        reading.quantity, well.quantity, rel_tol=QUANTITY_TOLERANCE
    ):
        preview.errors.append(
            f"{where}: the file gives the standard quantity {reading.quantity:g}, the layout "
            f"{well.quantity:g}; correct the layout or the file"
        )
    return well.quantity, well.quantity_unit


def _summarise(preview: ImportPreview) -> None:
    """The warnings, what a write would touch, and why nothing may be importable."""
    missing = [c.position for c in preview.changes if c.action == "missing"]
    preview.missing_positions = list(dict.fromkeys(missing))
    if missing:
        preview.warnings.append(f"The file lacks {len(missing)} wells of the layout")
    if preview.mismatched and not preview.mostly_mismatched:
        preview.warnings.append(
            f"The sample names of {preview.mismatched} of the {preview.named_wells} wells the "
            "file names disagree with the layout"
        )
    written = [c for c in preview.changes if c.action in {"fill", "change"}]
    preview.patients = sorted({c.study_id for c in written if c.study_id})
    preview.changed_patients = sorted(
        {c.study_id for c in written if c.study_id and c.action == "change"}
    )
    if written:
        preview.analyses = [plan.name for plan in affected_plans({EXPRESSION})]
    if preview.errors or written:
        return
    unresolved = preview.count("unresolved")
    if preview.unmapped_dyes:
        message = (
            f"Nothing to import yet: {unresolved} wells are unresolved until the dyes "
            f"{', '.join(preview.unmapped_dyes)} are mapped to assays"
        )
        preview.errors.append(message)
        preview.curable.append(message)
    elif unresolved:
        preview.errors.append(
            f"Nothing to import: {unresolved} wells are unresolved (several readings at "
            "one position and no way to tell which is whose)"
        )
    else:
        preview.errors.append(
            "Nothing to import: the file fills no empty well and changes no Cq "
            f"({preview.count('same')} unchanged, {preview.count('missing')} not in the file)"
        )


# --- confirming -------------------------------------------------------------------------


def confirm_refusals(
    preview: ImportPreview, *, user, replace: bool, reason: str, override_reason: str
):
    """Why this user may not confirm this preview, by field ({} when they may). The web
    page and the API show the same messages because both come from here."""
    refusals: dict[str, list[str]] = {}
    if preview.errors:
        refusals["file"] = list(preview.errors)
        return refusals
    changed = [c for c in preview.changes if c.action == "change"]
    if changed:
        positions = _listed([f"{c.position} {c.assay}" for c in changed], 5)
        if not replace:
            refusals["replace"] = [
                f"The file changes {len(changed)} existing Cq values ({positions}): choose "
                "“replace existing results” and give the reason, or discard the upload"
            ]
        if not reason.strip():
            refusals["reason"] = [
                f"Give the reason for replacing {len(changed)} existing Cq values"
            ]
    if preview.mostly_mismatched:
        share = (
            f"The sample names of {preview.mismatched} of the {preview.named_wells} wells the "
            f"file names disagree with the layout (more than {MISMATCH_THRESHOLD:.0%})"
        )
        if not (user is not None and user.has_perm(OVERRIDE_PERMISSION)):
            refusals.setdefault("file", []).append(
                f"{share}: is this plate {preview.plate.barcode}'s file? A technician cannot "
                "confirm it; a curator may override, with a reason"
            )
        elif not override_reason.strip():
            refusals["override_reason"] = [f"{share}: give the reason for overriding"]
    return refusals


def plate_import_confirm(
    *,
    plate: QpcrPlate,
    data: bytes,
    filename: str,
    user,
    format: str = "auto",
    run: str | None = None,
    replace: bool = False,
    reason: str = "",
    override_reason: str = "",
    dye_assays: dict[str, str] | None = None,
) -> PlateImport:
    """Write what the preview shows, or refuse with nothing saved (see
    confirm_refusals: errors, nothing importable, a change without replace and a
    reason, a file that mostly disagrees with the layout without a curator's reason).

    Each written well gets a WellImportChange row with its exact previous Cq, import
    and exclusion decision. A write clears the well's decision (excluded, reason, by,
    at): the decision was about the old value, not the new one; a revert restores it.
    A well whose value the file repeats is left as it is (still from its import).

    No orphan file either: the raw export is written as the transaction's last step
    and removed again if the transaction does not commit (the commit itself failing
    included, which is why the transaction is opened here, inside the try). Called
    within a caller's transaction that later rolls back, the file would stay: the web
    and API views open none around it.
    """
    stored: list[str] = []
    try:
        return _confirm(
            stored=stored,
            plate=plate,
            data=data,
            filename=filename,
            user=user,
            format=format,
            run=run,
            replace=replace,
            reason=reason,
            override_reason=override_reason,
            dye_assays=dye_assays,
        )
    except BaseException:
        storage = PlateImport._meta.get_field("raw_file").storage
        for name in stored:
            storage.delete(name)
        raise


@transaction.atomic
def _confirm(
    *,
    stored: list[str],
    plate: QpcrPlate,
    data: bytes,
    filename: str,
    user,
    format: str,
    run: str | None,
    replace: bool,
    reason: str,
    override_reason: str,
    dye_assays: dict[str, str] | None,
) -> PlateImport:
    """plate_import_confirm's transaction; the raw file it writes is added to `stored`."""
    plate = QpcrPlate.objects.select_for_update().get(pk=plate.pk)
    lock_plate_wells(plate)
    preview = plate_import_preview(
        plate=plate, data=data, filename=filename, format=format, run=run, dye_assays=dye_assays
    )
    refusals = confirm_refusals(
        preview, user=user, replace=replace, reason=reason, override_reason=override_reason
    )
    if refusals:
        raise ValidationError(refusals)
    user = user if getattr(user, "is_authenticated", False) else None
    record = PlateImport(
        plate=plate,
        original_name=filename[:255],
        sha256=preview.sha256,
        size_bytes=preview.size_bytes,
        format=preview.export.format,
        instrument=preview.export.instrument,
        run=preview.run,
        imported_by=user,
        wells_filled=preview.count("fill"),
        wells_changed=preview.count("change"),
        wells_mismatched=preview.mismatched,
        warnings=[*preview.warnings, *preview.name_mismatches],
        dye_assays=preview.dye_assays,
        replace_reason=reason.strip()[:300] if preview.needs_replace else "",
        override_reason=override_reason.strip()[:300] if preview.mostly_mismatched else "",
    )
    # Named now, written last (see _store_raw_file): a confirm that fails leaves no file.
    record.raw_file.name = record.raw_file.field.generate_filename(record, filename)
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError as error:
        first = PlateImport.objects.filter(sha256=preview.sha256, reverted_at__isnull=True).first()
        raise ValidationError(
            {"file": f"This file was already imported (import #{first.pk if first else '?'})"}
        ) from error

    written = [change for change in preview.changes if change.action in {"fill", "change"}]
    rows, wells = [], []
    for change in written:
        well = preview.wells[change.well_id]
        rows.append(
            WellImportChange(
                plate_import_id=record.pk,
                well_id=well.pk,
                action=change.action,
                new_cq=change.new_cq,
                previous_cq=well.cq,
                previous_imported_from_id=well.imported_from_id,
                previous_excluded=well.excluded,
                previous_exclusion_reason=well.exclusion_reason,
                previous_excluded_by_id=well.excluded_by_id,
                previous_excluded_at=well.excluded_at,
                previous_quantity=well.quantity,
                previous_quantity_unit=well.quantity_unit,
            )
        )
        # The ids, not the objects: a related descriptor's __set__ costs ~10 µs a well.
        well.cq, well.imported_from_id = change.new_cq, record.pk
        well.excluded, well.exclusion_reason, well.excluded_by_id, well.excluded_at = (
            None,
            "",
            None,
            None,
        )
        well.quantity, well.quantity_unit = change.new_quantity, change.new_quantity_unit
        wells.append(well)
    bulk_insert(objs=rows, model=WellImportChange)
    why = f"import #{record.pk} of {filename}"
    if record.replace_reason:
        why += f": {record.replace_reason}"
    bulk_update_with_history_sql(
        objs=wells, model=Well, fields=WRITTEN_FIELDS, user=user, change_reason=why
    )
    plate.status = QpcrPlate.Status.IMPORTED
    if preview.dye_assays:
        plate.dye_assays = {**plate.dye_assays, **preview.dye_assays}  # for the next import
    plate._change_reason = why[:100]
    plate.save(update_fields=["status", "dye_assays"])
    # A bulk write sends no post_save: re-run the plans reading Cq ourselves.
    schedule_reanalysis(reason=f"plate {plate.barcode} results imported", model=Well)
    if _store_raw_file(record, data):
        stored.append(record.raw_file.name)
    return record


def lock_plate_wells(plate: QpcrPlate) -> None:
    """Lock the plate's wells in pk order before reading them, so that what the import
    records as a well's previous Cq and decision is what it overwrites: a curator's
    exclusion (well_exclude locks only its well) waits for the import, or the import
    for it. pk order, as every service locking several wells, so that none deadlocks.
    One query, and none where the database locks the whole file (SQLite)."""
    if connection.features.has_select_for_update:
        list(
            Well.objects.filter(plate=plate)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def _store_raw_file(record: PlateImport, data: bytes) -> bool:
    """Write the raw export at the name the record holds; True when this call wrote it.

    Content-addressed: the same bytes always land at the same name, so a file imported
    again after a revert (or a retry after a failure) reuses the stored copy, which a
    failing confirm then never removes (another PlateImport points to it)."""
    storage = record.raw_file.storage
    name = record.raw_file.name
    if storage.exists(name):
        return False
    saved = storage.save(name, ContentFile(data))
    if saved != name:  # the same bytes written meanwhile by another confirm: keep theirs
        storage.delete(saved)
        return False
    return True
