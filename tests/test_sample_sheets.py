"""Sample sheets: the layout in each instrument's plate-setup format, so that the
names in the result file match the layout by construction."""

from __future__ import annotations

import csv
import io

import pytest

from biobank.instruments import parse_export, sniff_format
from biobank.instruments.sample_sheets import (
    ABI_COLUMNS,
    SheetWell,
    abi_plate_setup,
    cfx_dye_slots,
    cfx_plate_setup,
    lc480_sample_information,
    lc480_sample_type,
)
from biobank.models import QpcrPlate
from biobank.selectors.plates import sample_sheet_wells
from biobank.services.plate_import import expected_name, plate_import_preview
from biobank.services.plates import plate_create, plate_layout, plate_place

from .factories import ReverseTranscriptionFactory, study_assays
from .test_plates import lc480_export


@pytest.fixture
def assays(db):
    return study_assays()


@pytest.fixture
def mixed_plate(assays):
    """Auto-filled triplicates, then by hand: a multiplex IRC, a calibrator, NTCs."""
    plate = plate_create(barcode="PL-SS")
    rts = [ReverseTranscriptionFactory(code=f"RT-S{n}") for n in (1, 2)]
    plate_layout(plate=plate, samples=rts, assays=assays[:1], replicates=2)  # A1-A5
    irc = ReverseTranscriptionFactory(code="RT-IRC")
    plate_place(plate=plate, positions=["H1", "H2"], assays=assays, kind="irc", sample=irc)
    plate_place(plate=plate, positions=["H3"], assays=assays[2:], kind="calibrator", sample=irc)
    plate_place(plate=plate, positions=["H12"], assays=assays, kind="ntc")
    return plate


def table(data: bytes, delimiter: str, skip: int = 0) -> list[dict[str, str]]:
    lines = data.decode().split("\r\n")[skip:]
    return list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter))


class TestLightCycler:
    def test_the_round_trip_gives_back_every_position_name_target_and_type(self, mixed_plate):
        wells = sample_sheet_wells(mixed_plate)
        data = lc480_sample_information(wells)
        assert sniff_format(data) == "lc480_sample_info"
        parsed = parse_export(data)
        expected = {
            (w.position, w.sample_name, w.target, ("465-510", "533-580", "533-610")[w.dye_slot])
            for w in wells
        }
        assert {(p.position, p.sample_name, p.target, p.dye) for p in parsed.wells} == expected
        assert len(parsed.wells) == len(wells) == mixed_plate.wells.count() == 5 + 6 + 1 + 3
        assert parsed.plate_size == 96
        # Every name is the one the import will expect back from the instrument.
        by_position = {
            (w.position, w.assay.target): expected_name(
                kind=w.kind, sample_code=w.sample.code if w.sample_id else None
            )
            for w in mixed_plate.wells.all()
        }
        assert {(p.position, p.target): p.sample_name for p in parsed.wells} == by_position
        types = {
            (row["General:Pos"], row["General:Target Name"]): row[
                "Rel Quant:Combined Sample/Target type"
            ]
            for row in table(data, "\t")
        }
        assert types[("A1", "hsa-miR-122-5p")] == "Target Unknown"
        assert types[("H1", "cel-miR-39-3p")] == "Ref PosCalibrator"
        assert types[("H12", "hsa-miR-21-5p")] == "Target Negative"
        assert types == {(w.position, w.target): lc480_sample_type(w) for w in wells}

    def test_replicates_point_to_their_first_well_and_multiplex_dyes_differ(self, mixed_plate):
        rows = table(lc480_sample_information(sample_sheet_wells(mixed_plate)), "\t")
        of = {(r["General:Pos"], r["General:Target Name"]): r["General:Repl. Of"] for r in rows}
        assert of[("A1", "hsa-miR-122-5p")] == "A1" and of[("A2", "hsa-miR-122-5p")] == "A1"
        assert of[("A3", "hsa-miR-122-5p")] == "A3"  # RT-S2's first replicate
        assert of[("H2", "hsa-miR-21-5p")] == "H1"
        assert of[("H3", "cel-miR-39-3p")] == ""  # alone: no replicate group
        h1 = {
            r["General:Target Name"]: r["General:Filt. Comb."]
            for r in rows
            if r["General:Pos"] == "H1"
        }
        assert h1 == {
            "hsa-miR-122-5p": "465-510",
            "hsa-miR-21-5p": "533-580",
            "cel-miR-39-3p": "533-610",
        }

    def test_the_sheet_is_refused_as_results_by_the_import(self, mixed_plate):
        data = lc480_sample_information(sample_sheet_wells(mixed_plate))
        preview = plate_import_preview(plate=mixed_plate, data=data, filename="sheet.txt")
        assert not preview.can_confirm and "holds no Cq values" in preview.errors[0]

    def test_a_result_file_made_from_the_sheet_agrees_with_the_layout(self, assays):
        plate = plate_create(barcode="PL-RT")
        plate_layout(plate=plate, samples=[ReverseTranscriptionFactory()], assays=assays)
        sheet = parse_export(lc480_sample_information(sample_sheet_wells(plate)))
        result = lc480_export([(w.position, w.sample_name, "25.00") for w in sheet.wells])
        preview = plate_import_preview(plate=plate, data=result, filename="run.txt")
        assert preview.can_confirm and not preview.name_mismatches
        assert preview.count("fill") == plate.wells.count() == 12


def well(position: str, name: str, target: str, kind: str = "sample", **extra) -> SheetWell:
    return SheetWell(
        row="ABCDEFGHIJKLMNOP".index(position[0]) + 1,
        column=int(position[1:]),
        sample_name=name,
        target=target,
        kind=kind,
        **extra,
    )


SHEET = [
    well("B12", "RT-2", "hsa-miR-122-5p"),
    well("A1", "RT-1", "hsa-miR-122-5p", replicate_of="A1"),
    well("A1", "RT-1", "cel-miR-39-3p", reference=True, dye_slot=1),
    well("H12", "NTC", "hsa-miR-122-5p", kind="ntc"),
]


class TestAppliedBiosystems:
    def test_header_and_sample_setup_rows(self):
        data = abi_plate_setup(SHEET, plate_size=96, experiment_name="PL-9\tQ")
        lines = data.decode().split("\r\n")
        assert lines[:6] == [
            "* Block Type = 96-Well Block (0.2mL)",
            "* Chemistry = TAQMAN",
            "* Experiment Name = PL-9 Q",
            "* Passive Reference = ROX",
            "",
            "[Sample Setup]",
        ]
        rows = table(data, "\t", skip=6)
        assert list(rows[0]) == list(ABI_COLUMNS)
        picked = [
            (
                r["Well"],
                r["Well Position"],
                r["Sample Name"],
                r["Target Name"],
                r["Task"],
                r["Reporter"],
                r["Quencher"],
            )
            for r in rows
        ]
        assert picked == [
            ("1", "A1", "RT-1", "hsa-miR-122-5p", "UNKNOWN", "FAM", "NFQ-MGB"),
            ("1", "A1", "RT-1", "cel-miR-39-3p", "UNKNOWN", "VIC", "NFQ-MGB"),
            ("24", "B12", "RT-2", "hsa-miR-122-5p", "UNKNOWN", "FAM", "NFQ-MGB"),
            ("96", "H12", "NTC", "hsa-miR-122-5p", "NTC", "FAM", "NFQ-MGB"),
        ]
        assert rows[0]["Sample Color"].startswith("RGB(") and rows[3]["Sample Color"] == ""
        assert data.endswith(b"\r\n")

    def test_a_384_well_block_numbers_wells_by_24(self):
        data = abi_plate_setup([well("B1", "RT-1", "t")], plate_size=384, experiment_name="x")
        assert data.startswith(b"* Block Type = 384-Well Block\r\n")
        assert table(data, "\t", skip=6)[0]["Well"] == "25"

    def test_the_sheet_is_not_mistaken_for_results(self):
        from biobank.instruments import ExportParseError

        data = abi_plate_setup(SHEET, plate_size=96, experiment_name="x")
        with pytest.raises(ExportParseError, match="no Applied Biosystems results table"):
            parse_export(data)


class TestBioRad:
    def test_header_and_rows_of_one_fluor(self):
        data = cfx_plate_setup(SHEET)
        assert data.decode().split("\r\n")[0] == "Row,Column,*Target Name,*Sample Name"
        assert [tuple(r.values()) for r in table(data, ",")] == [
            ("A", "1", "hsa-miR-122-5p", "RT-1"),
            ("B", "12", "hsa-miR-122-5p", "RT-2"),
            ("H", "12", "hsa-miR-122-5p", "NTC"),
        ]

    def test_a_multiplex_layout_gives_one_file_per_fluor(self):
        assert cfx_dye_slots(SHEET) == [0, 1]
        rows = table(cfx_plate_setup(SHEET, dye_slot=1), ",")
        assert [tuple(r.values()) for r in rows] == [("A", "1", "cel-miR-39-3p", "RT-1")]

    def test_commas_and_quotes_in_names_cannot_shift_columns(self):
        data = cfx_plate_setup([well("A1", 'RT "1", b', "t")])
        assert [tuple(r.values()) for r in table(data, ",")] == [("A", "1", "t", "RT '1', b")]


def test_remembered_dye_mapping_wins(mixed_plate):
    QpcrPlate.objects.filter(pk=mixed_plate.pk).update(
        dye_assays={"FAM": "cel-miR-39-3p", "HEX": "hsa-miR-122-5p", "Cy5": ""}
    )
    mixed_plate.refresh_from_db()
    slots = {w.target: w.dye_slot for w in sample_sheet_wells(mixed_plate)}
    assert slots == {"cel-miR-39-3p": 0, "hsa-miR-122-5p": 1, "hsa-miR-21-5p": 2}


class TestSpreadsheetFormulas:
    """A name a spreadsheet would run as a formula is refused, naming the well: the
    sheet's names must come back in the result file exactly, so no quote is added."""

    @pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)"])
    @pytest.mark.parametrize("field", ["sample_name", "target"])
    def test_every_writer_refuses(self, name, field):
        from biobank.instruments.sample_sheets import SampleSheetError

        values = {"sample_name": "RT-1", "target": "hsa-miR-122-5p", field: name}
        wells = [SheetWell(row=1, column=1, kind="sample", **values),
                 SheetWell(row=2, column=3, kind="sample", sample_name="RT-2",
                           target="hsa-miR-122-5p")]  # fmt: skip
        writers = [
            lambda: lc480_sample_information(wells),
            lambda: abi_plate_setup(wells, plate_size=96, experiment_name="PL"),
            lambda: cfx_plate_setup(wells),
        ]
        what = field.replace("_", " ")
        for write in writers:
            with pytest.raises(SampleSheetError, match=f"Well A1: the {what} .* formula"):
                write()

    def test_tabs_and_line_breaks_never_begin_a_cell(self):
        wells = [SheetWell(row=1, column=1, kind="sample", sample_name="\tRT-1\r", target="t")]
        rows = table(cfx_plate_setup(wells), ",")
        assert rows[0]["*Sample Name"] == "RT-1"

    def test_the_page_says_which_well(self, client, assays, technician):
        from django.urls import reverse

        client.force_login(technician)
        plate = plate_create(barcode="PL-F")
        plate_layout(
            plate=plate,
            samples=[ReverseTranscriptionFactory(code="=cmd|' /C calc'!A0")],
            assays=assays[:1],
            replicates=1,
        )
        url = reverse("web:plate_sample_sheet", args=[plate.pk, "cfx"])
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0] == reverse("web:plate_detail", args=[plate.pk])
        shown = [str(m) for m in response.context["messages"]]
        assert any("Well A1: the sample name" in m and "formula" in m for m in shown), shown
