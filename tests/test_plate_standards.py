"""Standard-curve wells on a plate: placed as a dilution series, their quantities
carried by the import (and put back by a revert), kept out of the sample analysis, and
fitted per assay to the efficiency that analysis.efficiency and base R
(tests/analysis/r/quantification.R) compute on the same numbers."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from analysis.efficiency import standard_curve
from biobank.models import Well
from biobank.selectors.standard_curves import standard_curves
from biobank.selectors.wells import wells_frame
from biobank.services.plate_import import plate_import_confirm, plate_import_preview
from biobank.services.plate_import_revert import plate_import_revert
from biobank.services.plates import plate_create, plate_place, plate_place_dilution_series

from .factories import ReverseTranscriptionFactory, study_assays
from .test_plates import LC480_HEADER, LC480_TITLE

pytestmark = pytest.mark.django_db

HERE = Path(__file__).resolve().parent
CURVES_CSV = HERE / "analysis" / "data" / "qpcr_standard_curves.csv"
R_REFERENCE = HERE / "analysis" / "r" / "quantification_reference.json"
ROWS = "ABCDEFGH"


def lc480_with_standards(rows: list[tuple[str, str, str, str]]) -> bytes:
    """An LC480 Abs Quant export from (pos, name, cp, standard quantity or '0')."""
    lines = [LC480_TITLE, LC480_HEADER] + [
        f"True\t128\t{pos}\t{name}\t{cp}\t\t{std}\t" for pos, name, cp, std in rows
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.fixture
def assays():
    return {a.target: a for a in study_assays()}


@pytest.fixture
def plate(technician):
    return plate_create(barcode="PL-STD", operator=technician)


def layout(plate):
    return [
        (w.position, w.assay.target, w.replicate, w.quantity, w.quantity_unit)
        for w in plate.wells.filter(kind="standard").select_related("assay").order_by("pk")
    ]


class TestDilutionSeries:
    def test_levels_most_concentrated_first_replicates_side_by_side(self, plate, assays):
        mir122 = assays["hsa-miR-122-5p"]
        plate_place_dilution_series(
            plate=plate,
            positions=[f"A{c}" for c in range(1, 10)],
            assays=[mir122],
            top_quantity=1e6,
            dilution_factor=10,
            replicates=3,
        )
        assert layout(plate) == [
            (f"A{c}", "hsa-miR-122-5p", (c - 1) % 3 + 1, 1e6 / 10 ** ((c - 1) // 3), "copies")
            for c in range(1, 10)
        ]

    @pytest.mark.parametrize(
        ("kwargs", "field", "message"),
        [
            ({"positions": ["A1", "A2", "A3", "A4"]}, "positions", "not whole levels"),
            ({"positions": ["A1", "A2", "A3"], "replicates": 1, "top_quantity": 0}, "quantity", "above 0"),
            ({"positions": ["A1", "A2", "A3", "A4", "A5", "A6"]}, "positions", "at least 3 levels"),
            ({"positions": [f"A{c}" for c in range(1, 10)], "dilution_factor": 1}, "dilution_factor", "above 1"),
            ({"positions": [f"A{c}" for c in range(1, 9)] + ["Z1"]}, "positions", "'Z1' is not a position"),
        ],
    )  # fmt: skip
    def test_refused_naming_the_field_and_nothing_placed(
        self, plate, assays, kwargs, field, message
    ):
        arguments = {"top_quantity": 1e6, "replicates": 3} | kwargs
        with pytest.raises(ValidationError) as error:
            plate_place_dilution_series(plate=plate, assays=[assays["hsa-miR-122-5p"]], **arguments)
        assert message in " ".join(error.value.message_dict[field])
        assert not plate.wells.exists()

    def test_a_quantity_only_on_a_standard(self, plate, assays):
        rt = ReverseTranscriptionFactory(code="RT-S1")
        with pytest.raises(ValidationError) as error:
            plate_place(
                plate=plate,
                positions=["A1"],
                assays=[assays["hsa-miR-122-5p"]],
                sample=rt,
                quantity=5,
            )
        assert error.value.message_dict == {"quantity": ["Only a standard well has a quantity"]}

    def test_another_level_cannot_share_a_position(self, plate, assays):
        place = dict(plate=plate, positions=["A1"], kind="standard", quantity_unit="copies")
        plate_place(**place, assays=[assays["hsa-miR-122-5p"]], quantity=100)
        with pytest.raises(ValidationError, match="holds standard 100"):
            plate_place(**place, assays=[assays["cel-miR-39-3p"]], quantity=10)

    def test_standards_stay_out_of_the_sample_wells_frame(self, plate, assays):
        plate_place(
            plate=plate, positions=["A1"], assays=[assays["hsa-miR-122-5p"]], kind="standard"
        )
        assert wells_frame(plate_ids=[plate.pk]).empty


def _series():
    with CURVES_CSV.open() as handle:
        return list(csv.DictReader(handle))


def _place_reference_series(plate, assays, *, with_quantities: bool):
    """The two series of qpcr_standard_curves.csv, one row of the plate per level,
    replicates in columns (miR-122 in columns 1-3, cel-miR-39 in 4-6)."""
    rows, export = [], []
    for offset, target in ((0, "hsa-miR-122-5p"), (3, "cel-miR-39-3p")):
        series = [r for r in _series() if r["target"] == target]
        levels = list(dict.fromkeys(r["quantity"] for r in series))
        for level_index, level in enumerate(levels):
            replicates = [r for r in series if r["quantity"] == level]
            positions = [f"{ROWS[level_index]}{offset + i + 1}" for i in range(len(replicates))]
            plate_place(
                plate=plate,
                positions=positions,
                assays=[assays[target]],
                kind="standard",
                quantity=float(level) if with_quantities else None,
                quantity_unit="copies" if with_quantities else "",
            )
            for position, replicate in zip(positions, replicates, strict=True):
                export.append((position, f"Standard {level}", replicate["cq"], level))
                rows.append((position, target, float(level), replicate["cq"]))
    return lc480_with_standards(export), rows


class TestImport:
    def test_the_file_fills_the_quantities_the_layout_left_open_and_a_revert_clears_them(
        self, plate, assays, technician
    ):
        data, rows = _place_reference_series(plate, assays, with_quantities=False)
        record = plate_import_confirm(plate=plate, data=data, filename="std.txt", user=technician)
        stored = {
            w.position + w.assay.target: (w.quantity, w.cq)
            for w in plate.wells.select_related("assay")
        }
        for position, target, quantity, cq in rows:
            assert stored[position + target] == (quantity, float(cq) if cq else None)
        assert record.wells_mismatched == 0  # 'Standard 1e+06' is not compared to a code

        plate_import_revert(plate_import=record, user=technician, reason="wrong file")
        assert set(plate.wells.values_list("quantity", flat=True)) == {None}

    def test_a_file_stating_another_quantity_is_refused_naming_the_well(
        self, plate, assays, technician
    ):
        data, _ = _place_reference_series(plate, assays, with_quantities=True)
        data = data.replace(
            b"\tStandard 1e+06\t17.76\t\t1e+06", b"\tStandard 1e+06\t17.76\t\t1e+05"
        )
        preview = plate_import_preview(plate=plate, data=data, filename="std.txt")
        assert preview.errors == [
            "A1 (hsa-miR-122-5p): the file gives the standard quantity 100000, the layout "
            "1e+06; correct the layout or the file"
        ]
        with pytest.raises(ValidationError):
            plate_import_confirm(plate=plate, data=data, filename="std.txt", user=technician)
        assert not plate.wells.filter(cq__isnull=False).exists()


class TestEfficiencyEndToEnd:
    """Acceptance: a dilution series imported from an instrument file gives the
    efficiency analysis.efficiency computes on the same numbers and base R's lm()
    (tests/analysis/r/quantification.R, stored in quantification_reference.json)."""

    def test_plate_curves_equal_the_core_and_r(self, plate, assays, technician):
        data, _ = _place_reference_series(plate, assays, with_quantities=False)
        plate_import_confirm(plate=plate, data=data, filename="std.txt", user=technician)
        curves = {c.target: c for c in standard_curves(plate_ids=[plate.pk])}
        reference = json.loads(R_REFERENCE.read_text())["curves"]
        assert set(curves) == set(reference) == {"hsa-miR-122-5p", "cel-miR-39-3p"}
        for target, expected in reference.items():
            series = [r for r in _series() if r["target"] == target]
            core = standard_curve(
                [float(r["quantity"]) for r in series],
                [float(r["cq"]) if r["cq"] else math.nan for r in series],
            )
            got = curves[target].curve
            assert got is not None, curves[target].error
            for name in ("slope", "intercept", "r_squared", "efficiency", "efficiency_se"):
                assert getattr(got, name) == pytest.approx(getattr(core, name), abs=1e-12)
                assert getattr(got, name) == pytest.approx(expected[name], abs=1e-9)
            assert got.n_points == expected["n_points"]

    def test_an_excluded_well_is_left_out_and_said(self, plate, assays, technician):
        data, _ = _place_reference_series(plate, assays, with_quantities=True)
        plate_import_confirm(plate=plate, data=data, filename="std.txt", user=technician)
        from biobank.services.plates import well_exclude

        well = Well.objects.get(plate=plate, row=1, column=1)
        well_exclude(well=well, user=technician, reason="bubble")
        curve = {c.target: c for c in standard_curves(plate_ids=[plate.pk])}["hsa-miR-122-5p"]
        assert curve.left_out == ("A1: excluded (bubble)",)
        assert curve.curve.n_points == 13

    def test_one_query_whatever_the_number_of_plates(
        self, assays, technician, django_assert_num_queries
    ):
        for n in range(3):
            plate = plate_create(barcode=f"PL-Q{n}", operator=technician)
            data, _ = _place_reference_series(plate, assays, with_quantities=True)
        with django_assert_num_queries(1):
            curves = standard_curves()
        assert len(curves) == 6
