"""Applying an instrument export to a laid-out plate, in two steps.

`plate_import_preview` reads the file and compares it with the layout without
writing anything: which wells it fills, which Cq it changes, what disagrees.
`plate_import_confirm` does the same comparison again under a lock on the plate
and writes it: the raw file (content-addressed by SHA-256), the import record and
every well's Cq, in a constant number of queries whatever the plate size.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from simple_history.utils import bulk_update_with_history

from analysis.triggers import schedule_reanalysis
from biobank.instruments import ExportParseError, ParsedExport, ParsedWell, parse_export
from biobank.instruments.positions import normalise_position
from biobank.models import PlateImport, QpcrPlate, Well, position_label

# Cq values equal within this are "the same" (exports round to 2 decimals).
CQ_TOLERANCE = 1e-6


@dataclass(frozen=True)
class WellChange:
    position: str
    well_id: int
    expected_sample: str
    file_sample: str
    assay: str
    old_cq: float | None
    new_cq: float | None
    action: str  # 'fill' | 'change' | 'same' | 'unresolved'
    note: str = ""


@dataclass
class ImportPreview:
    plate: QpcrPlate
    sha256: str
    size_bytes: int
    filename: str
    export: ParsedExport | None
    run: str = ""
    changes: list[WellChange] = field(default_factory=list)
    unknown_positions: list[str] = field(default_factory=list)
    missing_positions: list[str] = field(default_factory=list)
    name_mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duplicate_of: PlateImport | None = None

    @property
    def can_confirm(self) -> bool:
        return not self.errors

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

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
            "wells": [change.__dict__ for change in self.changes],
            "unknown_positions": self.unknown_positions,
            "missing_positions": self.missing_positions,
            "name_mismatches": self.name_mismatches,
            "errors": self.errors,
            "warnings": self.warnings,
            "duplicate_of": self.duplicate_of.pk if self.duplicate_of else None,
        }


def _simplify(name: str) -> str:
    """'hsa-miR-122-5p', 'miR-122' and 'MIR122' all simplify to 'mir122'."""
    name = re.sub(r"^(hsa|cel|mmu)-", "", name.strip().lower())
    name = re.sub(r"-[35]p$", "", name)
    return re.sub(r"[^a-z0-9]", "", name)


def expected_name(well: Well) -> str:
    if well.kind == Well.Kind.NTC:
        return "NTC"
    return well.sample.code if well.sample_id else ""


def _names_agree(expected: str, found: str) -> bool:
    return not found or _simplify(expected) == _simplify(found)


def _reading_for(well: Well, readings: list[ParsedWell]) -> tuple[ParsedWell | None, str]:
    """The reading that belongs to the well's assay when the file has several at one
    position (several dyes or targets), or the only one."""
    if len(readings) == 1:
        return readings[0], ""
    target = _simplify(well.assay.target)
    matching = [r for r in readings if r.target and _simplify(r.target) == target]
    if len(matching) == 1:
        return matching[0], ""
    return (
        None,
        f"{len(readings)} readings at this position and {len(matching)} name {well.assay.target}",
    )


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= CQ_TOLERANCE


def plate_import_preview(
    *, plate: QpcrPlate, data: bytes, filename: str, format: str = "auto", run: str | None = None
) -> ImportPreview:
    """Compare an export with the plate's layout. Reads only; writes nothing."""
    preview = ImportPreview(
        plate=plate,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        filename=filename,
        export=None,
    )
    preview.duplicate_of = (
        PlateImport.objects.filter(sha256=preview.sha256).select_related("plate").first()
    )
    if preview.duplicate_of:
        first = preview.duplicate_of
        preview.errors.append(
            f"This file was already imported (import #{first.pk} into plate {first.plate.barcode} "
            f"on {first.imported_at:%Y-%m-%d %H:%M})"
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

    by_position: dict[str, list[ParsedWell]] = {}
    for reading in export.wells:
        if reading.run == preview.run:
            by_position.setdefault(reading.position, []).append(reading)

    layout = {
        position_label(w.row, w.column): w
        for w in plate.wells.select_related("sample", "assay").order_by("row", "column")
    }
    if not layout:
        preview.errors.append(
            f"Plate {plate.barcode} has no layout yet: lay it out before importing"
        )
        return preview
    for position in by_position:
        if position not in layout:
            preview.unknown_positions.append(position)
    on_plate = [p for p in preview.unknown_positions if _on_plate(p, plate.plate_format)]
    off_plate = [p for p in preview.unknown_positions if not _on_plate(p, plate.plate_format)]
    if off_plate:
        preview.errors.append(
            f"Positions outside a {plate.plate_format}-well plate: {', '.join(off_plate[:8])}"
            + (" …" if len(off_plate) > 8 else "")
        )
    if on_plate:
        preview.warnings.append(
            f"{len(on_plate)} readings at positions with no well in the layout are ignored"
        )

    for position, well in layout.items():
        readings = by_position.get(position)
        if not readings:
            preview.missing_positions.append(position)
            continue
        reading, problem = _reading_for(well, readings)
        expected = expected_name(well)
        if reading is None:
            preview.changes.append(
                WellChange(
                    position,
                    well.pk,
                    expected,
                    "",
                    well.assay.target,
                    well.cq,
                    None,
                    "unresolved",
                    problem,
                )
            )
            continue
        note = ""
        if not _names_agree(expected, reading.sample_name):
            note = f"file names the sample {reading.sample_name!r}, the layout {expected!r}"
            preview.name_mismatches.append(f"{position}: {note}")
        if well.cq is None and reading.cq is not None:
            action = "fill"
        elif _same(well.cq, reading.cq):
            action = "same"
        else:
            action = "change"
        preview.changes.append(
            WellChange(
                position,
                well.pk,
                expected,
                reading.sample_name,
                well.assay.target,
                well.cq,
                reading.cq,
                action,
                note,
            )
        )
    if preview.missing_positions:
        preview.warnings.append(
            f"The file lacks {len(preview.missing_positions)} wells of the layout"
        )
    return preview


def _on_plate(position: str, plate_format: int) -> bool:
    try:
        normalise_position(position, plate_format)
    except ExportParseError:
        return False
    return True


@transaction.atomic
def plate_import_confirm(
    *,
    plate: QpcrPlate,
    data: bytes,
    filename: str,
    user,
    format: str = "auto",
    run: str | None = None,
) -> PlateImport:
    """Write what the preview showed. Refused, with nothing saved, when the preview
    has errors (a broken file, the same file again, positions off the plate)."""
    plate = QpcrPlate.objects.select_for_update().get(pk=plate.pk)
    preview = plate_import_preview(
        plate=plate, data=data, filename=filename, format=format, run=run
    )
    if not preview.can_confirm:
        raise ValidationError({"file": preview.errors})
    record = PlateImport(
        plate=plate,
        original_name=filename[:255],
        sha256=preview.sha256,
        size_bytes=preview.size_bytes,
        format=preview.export.format,
        instrument=preview.export.instrument,
        run=preview.run,
        imported_by=user if getattr(user, "is_authenticated", False) else None,
        wells_filled=preview.count("fill"),
        wells_changed=preview.count("change"),
        warnings=[*preview.warnings, *preview.name_mismatches],
    )
    try:
        with transaction.atomic():
            # Content-addressed name: a retry after a failure reuses the same file.
            record.raw_file.save(filename, ContentFile(data), save=False)
            record.save()
    except IntegrityError as error:
        first = PlateImport.objects.filter(sha256=preview.sha256).first()
        raise ValidationError(
            {"file": f"This file was already imported (import #{first.pk if first else '?'})"}
        ) from error

    written = [change for change in preview.changes if change.action in {"fill", "change"}]
    wells = Well.objects.in_bulk([change.well_id for change in written])
    for change in written:
        wells[change.well_id].cq = change.new_cq
        wells[change.well_id].imported_from = record
    bulk_update_with_history(
        list(wells.values()),
        Well,
        ["cq", "imported_from"],
        batch_size=1000,
        default_user=record.imported_by,
        default_change_reason=f"import #{record.pk} of {filename}",
    )
    Well.objects.filter(
        plate=plate, pk__in=[c.well_id for c in preview.changes if c.action == "same"]
    ).update(imported_from=record)
    plate.status = QpcrPlate.Status.IMPORTED
    plate.save(update_fields=["status"])
    # bulk_update_with_history sends no post_save: re-run the plans reading Cq ourselves.
    schedule_reanalysis(reason=f"plate {plate.barcode} results imported", model=Well)
    return record
