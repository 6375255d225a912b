"""Real instrument exports imported into laid-out plates: the right Cq lands in the
right well, undetermined stays empty, several runs ask for a choice.

The files' sample names are not the factory layout's RT codes, so every one of them
"mostly disagrees" with the layout: a technician is refused, and these tests confirm
as a curator overriding with a reason (tests/test_import_safety.py has the rules)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from biobank.instruments import parse_export
from biobank.models import PlateImport, Well
from biobank.services.plate_import import plate_import_confirm, plate_import_preview
from biobank.services.plates import plate_create, plate_layout

from .factories import ReverseTranscriptionFactory, study_assays
from .instruments.exports import real_export

pytestmark = pytest.mark.django_db

# (file, plate size, run to import or None)
REAL_EXPORTS = [
    ("lc480-tidyqpcr-nrd1-calibration-cq.txt", 384, None),
    ("lc480-htqpcr-demo-absquant.txt", 384, None),
    ("lc480-tidyqpcr-stuart-individualwells-cq.txt", 96, None),
    ("abi-sds23-htqpcr-rq-results.txt", 384, "first"),
    ("abi-quantstudio7flex-standard-curve-example.txt", 96, None),
    ("biorad-cfx-htqpcr-sample.csv", 384, None),
    ("rdml-abi-stepone-std.rdml", 96, None),
    ("rdml-biorad-qpcr-melt.rdml", 96, "first"),
]


def full_plate(size: int, user):
    """A plate whose layout covers every position (samples x 3 assays x 3, then NTCs)."""
    plate = plate_create(barcode=f"REAL-{size}", plate_format=size, operator=user)
    samples = [ReverseTranscriptionFactory() for _ in range(42 if size == 384 else 10)]
    plate_layout(plate=plate, samples=samples, assays=study_assays(), ntc_replicates=2)
    assert plate.wells.count() == size
    return plate


@pytest.mark.parametrize(("name", "size", "run"), REAL_EXPORTS, ids=[r[0] for r in REAL_EXPORTS])
def test_real_export_puts_each_cq_in_its_well(name, size, run, technician, curator):
    data = real_export(name)
    export = parse_export(data)
    chosen = export.runs()[0] if run == "first" else None
    plate = full_plate(size, technician)

    preview = plate_import_preview(plate=plate, data=data, filename=name, run=chosen)
    assert preview.can_confirm, preview.errors
    assert preview.mostly_mismatched  # another lab's names: a curator's decision
    with pytest.raises(ValidationError) as refused:
        plate_import_confirm(plate=plate, data=data, filename=name, user=technician, run=chosen)
    assert "A technician cannot confirm it" in refused.value.message_dict["file"][0]
    assert not PlateImport.objects.exists() and not Well.objects.filter(cq__isnull=False).exists()
    record = plate_import_confirm(
        plate=plate,
        data=data,
        filename=name,
        user=curator,
        run=chosen,
        override_reason="public example file, names differ by design",
    )
    assert record.override_reason and record.wells_mismatched == preview.mismatched

    readings = {}
    for reading in export.wells:
        if reading.run == (chosen if chosen is not None else export.runs()[0]):
            readings.setdefault(reading.position, []).append(reading)
    single = {pos: found[0] for pos, found in readings.items() if len(found) == 1}
    assert single, "the file should have wells with one reading"
    wells = {w.position: w for w in plate.wells.all()}
    for position, reading in single.items():
        well = wells[position]
        if reading.cq is None:
            assert well.cq is None, position  # undetermined is never 0
        else:
            assert well.cq == pytest.approx(reading.cq), position
    filled = sum(1 for w in wells.values() if w.cq is not None)
    assert filled == sum(1 for r in single.values() if r.cq is not None) + sum(
        1 for c in preview.changes if c.action == "fill" and c.position not in single
    )


def test_several_runs_need_a_choice(technician):
    data = real_export("rdml-biorad-qpcr-melt.rdml")
    assert len(parse_export(data).runs()) == 2
    preview = plate_import_preview(
        plate=full_plate(96, technician), data=data, filename="melt.rdml"
    )
    assert not preview.can_confirm and "choose one" in preview.errors[0]


def test_a_layout_file_is_refused_as_results(technician):
    data = real_export("lc480-readqpcr-sampleinfo.txt")
    preview = plate_import_preview(
        plate=full_plate(96, technician), data=data, filename="layout.txt"
    )
    assert not preview.can_confirm and "Sample Information" in preview.errors[0]
