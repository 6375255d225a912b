"""Plate layout, import with preview, and well decisions."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.models import PlateImport, QpcrPlate, Well
from biobank.services.plate_import import plate_import_confirm, plate_import_preview
from biobank.services.plates import (
    plate_create,
    plate_layout,
    well_clear_decision,
    well_exclude,
    well_restore,
)

from .factories import ReverseTranscriptionFactory, study_assays

pytestmark = pytest.mark.django_db

LC480_TITLE = "Experiment: exo miRNA plate  Selected Filter: FAM (465-510)"
LC480_HEADER = "Include\tColor\tPos\tName\tCp\tConcentration\tStandard\tStatus"


def lc480_export(rows: list[tuple[str, str, str]]) -> bytes:
    """A LightCycler 480 Abs Quant export (CRLF, tab-separated) from (pos, name, cp)."""
    lines = [LC480_TITLE, LC480_HEADER] + [
        f"True\t255\t{pos}\t{name}\t{cp}\t\t0\t" for pos, name, cp in rows
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def export_for(plate: QpcrPlate, cq=lambda well: 20 + well.row / 10 + well.column / 100) -> bytes:
    wells = plate.wells.select_related("sample").order_by("row", "column")
    return lc480_export(
        [
            (
                w.position,
                w.sample.code if w.sample_id else "NTC",
                "" if w.kind == "ntc" else f"{cq(w):.2f}",
            )
            for w in wells
        ]
    )


@pytest.fixture
def assays():
    return study_assays()


@pytest.fixture
def laid_out(assays, technician):
    plate = plate_create(barcode="PL-1", plate_format=96, operator=technician)
    samples = [ReverseTranscriptionFactory() for _ in range(10)]
    plate_layout(plate=plate, samples=samples, assays=assays, replicates=3)
    return plate


class TestLayout:
    def test_triplicates_of_every_sample_and_assay_then_ntcs(self, laid_out, assays):
        wells = list(laid_out.wells.order_by("row", "column"))
        assert len(wells) == 10 * 3 * 3 + 3
        first = wells[:3]
        assert [w.position for w in first] == ["A1", "A2", "A3"]
        assert {w.assay for w in first} == {assays[0]} and [w.replicate for w in first] == [1, 2, 3]
        assert [w.kind for w in wells[-3:]] == ["ntc"] * 3 and all(
            w.sample_id is None for w in wells[-3:]
        )

    def test_a_layout_that_does_not_fit_is_refused_whole(self, assays):
        plate = plate_create(barcode="PL-2")
        samples = [ReverseTranscriptionFactory() for _ in range(11)]
        with pytest.raises(ValidationError) as caught:
            plate_layout(plate=plate, samples=samples, assays=assays)
        assert "needs 102 wells" in caught.value.message_dict["samples"][0]
        assert not plate.wells.exists()

    def test_a_384_well_plate_takes_42_samples(self, assays):
        plate = plate_create(barcode="PL-384", plate_format=384)
        plate_layout(
            plate=plate, samples=[ReverseTranscriptionFactory() for _ in range(42)], assays=assays
        )
        assert plate.wells.count() == 42 * 9 + 3
        # 381 wells in row-major order end at P21; P22-P24 stay empty.
        assert plate.wells.order_by("-row", "-column").first().position == "P21"

    def test_unprimed_rt_is_refused(self, assays):
        plate = plate_create(barcode="PL-3")
        unprimed = ReverseTranscriptionFactory(assays=assays[:1])
        with pytest.raises(ValidationError) as caught:
            plate_layout(plate=plate, samples=[unprimed], assays=assays)
        assert "hsa-miR-21-5p" in caught.value.message_dict["samples"][0]


class TestImport:
    def test_preview_writes_nothing_and_says_what_it_would_fill(self, laid_out):
        data = export_for(laid_out)
        with CaptureQueriesContext(connection) as queries:
            preview = plate_import_preview(plate=laid_out, data=data, filename="run1.txt")
        assert not any(
            q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for q in queries
        )
        assert preview.can_confirm, preview.errors
        assert preview.export.format == "lc480"
        assert preview.count("fill") == 90 and preview.count("same") == 3  # NTCs stay undetermined
        assert (
            not Well.objects.filter(cq__isnull=False).exists() and not PlateImport.objects.exists()
        )

    def test_confirm_fills_every_well_and_keeps_the_raw_file(self, laid_out, technician):
        data = export_for(laid_out)
        record = plate_import_confirm(
            plate=laid_out, data=data, filename="run1.txt", user=technician
        )
        a1 = laid_out.wells.get(row=1, column=1)
        assert a1.cq == pytest.approx(20.11) and a1.imported_from == record
        assert laid_out.wells.get(row=8, column=7).kind == "ntc"  # 90 sample wells end at H6
        ntc = laid_out.wells.filter(kind="ntc").first()
        assert ntc.cq is None  # empty Cp is undetermined, never 0
        with record.raw_file.open("rb") as stored:
            assert stored.read() == data
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert record.wells_filled == 90
        laid_out.refresh_from_db()
        assert laid_out.status == "imported"
        assert a1.history.latest().history_change_reason.startswith(f"import #{record.pk}")

    def test_the_same_file_twice_is_refused_with_a_pointer(self, laid_out, technician):
        data = export_for(laid_out)
        first = plate_import_confirm(
            plate=laid_out, data=data, filename="run1.txt", user=technician
        )
        preview = plate_import_preview(plate=laid_out, data=data, filename="again.txt")
        assert not preview.can_confirm and f"import #{first.pk}" in preview.errors[0]
        with pytest.raises(ValidationError):
            plate_import_confirm(plate=laid_out, data=data, filename="again.txt", user=technician)
        assert PlateImport.objects.count() == 1

    def test_a_second_export_shows_what_changes(self, laid_out, technician):
        plate_import_confirm(
            plate=laid_out, data=export_for(laid_out), filename="run1.txt", user=technician
        )
        corrected = export_for(
            laid_out, cq=lambda w: 25.0 if w.position == "A1" else 20 + w.row / 10 + w.column / 100
        )
        preview = plate_import_preview(
            plate=laid_out, data=corrected, filename="run1-reanalysed.txt"
        )
        changed = [c for c in preview.changes if c.action == "change"]
        assert [(c.position, c.old_cq, c.new_cq) for c in changed] == [
            ("A1", pytest.approx(20.11), 25.0)
        ]

    def test_disagreements_with_the_layout_are_shown(self, laid_out):
        wells = list(laid_out.wells.select_related("sample").order_by("row", "column"))
        rows = [(w.position, w.sample.code if w.sample_id else "NTC", "21.00") for w in wells[1:]]
        rows[0] = (rows[0][0], "somebody else", "21.00")
        rows.append(("H12", "stray", "30.00"))
        preview = plate_import_preview(plate=laid_out, data=lc480_export(rows), filename="x.txt")
        assert preview.missing_positions == ["A1"]
        assert preview.unknown_positions == ["H12"]
        assert preview.name_mismatches and preview.name_mismatches[0].startswith("A2:")
        assert preview.can_confirm  # warnings, not errors

    def test_a_broken_file_names_the_line_and_saves_nothing(self, laid_out, technician):
        data = lc480_export([("A1", "x", "abc")])
        preview = plate_import_preview(plate=laid_out, data=data, filename="broken.txt")
        assert not preview.can_confirm and "line 3" in preview.errors[0]
        with pytest.raises(ValidationError):
            plate_import_confirm(plate=laid_out, data=data, filename="broken.txt", user=technician)
        assert (
            not PlateImport.objects.exists() and not Well.objects.filter(cq__isnull=False).exists()
        )

    def test_positions_beyond_the_plate_are_an_error(self, laid_out):
        preview = plate_import_preview(
            plate=laid_out, data=lc480_export([("P24", "x", "20")]), filename="x.txt"
        )
        assert not preview.can_confirm and "P24" in preview.errors[0]

    def test_import_runs_a_constant_number_of_queries(self, assays, technician):
        counts = {}
        for size, n_samples in ((96, 10), (384, 42)):
            plate = plate_create(barcode=f"Q-{size}", plate_format=size)
            plate_layout(
                plate=plate,
                samples=[ReverseTranscriptionFactory() for _ in range(n_samples)],
                assays=assays,
            )
            data = export_for(plate)
            with CaptureQueriesContext(connection) as queries:
                plate_import_confirm(
                    plate=plate, data=data, filename=f"{size}.txt", user=technician
                )
            counts[size] = len(queries)
        # The wells, their history and their WellImportChange rows in one statement
        # each (executemany on SQLite, whose 999-variable cap split bulk_create).
        assert counts[96] == counts[384]


class TestWellDecisions:
    def test_exclude_restore_and_clear(self, laid_out, curator):
        well = laid_out.wells.first()
        well = well_exclude(well=well, user=curator, reason="bubble in the well")
        assert well.excluded is True and well.excluded_by == curator
        well = well_restore(well=well, user=curator, reason="bubble was outside the optical path")
        assert well.excluded is False
        with pytest.raises(ValidationError):
            well_exclude(well=well, user=curator, reason="")
        well = well_clear_decision(well=well, user=curator)
        assert well.excluded is None and well.exclusion_reason == ""
