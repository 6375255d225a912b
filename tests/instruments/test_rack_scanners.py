"""The rack-scanner readers against the fixtures of tests/fixtures/rack-scans/ and against
the ambiguities they must refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from biobank.instruments.base import ExportParseError
from biobank.instruments.rack_scanners import (
    EMPTY,
    TUBE,
    UNREAD,
    rack_barcode_from_filename,
    rack_scan_parse,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rack-scans"


def parse(name: str):
    return rack_scan_parse((FIXTURES / name).read_bytes(), filename=name)


@pytest.mark.parametrize(
    "name, vendor, rack, source, empty_state",
    [
        ("RK00000101.csv", "azenta_fluidx", "RK00000101", "file name", UNREAD),
        ("fluidx-rack-column.csv", "azenta_fluidx", "RK00000102", "file", EMPTY),
        ("visionmate.csv", "thermo_visionmate", "RK00000103", "file", EMPTY),
        ("matrix-trace.txt", "thermo_matrix", "RK00000104", "file", EMPTY),
        ("ziath-dp5.csv", "ziath_dp5", "RK00000105", "file", EMPTY),
    ],
)
def test_every_fixture_reads_as_the_same_rack(name, vendor, rack, source, empty_state):
    scan = parse(name)
    assert (scan.vendor, scan.rack_barcode, scan.rack_barcode_source) == (vendor, rack, source)
    assert len(scan.positions) == 96
    assert scan.at(1, 1).code == "FX10000001"
    assert scan.at(8, 11).code == "FX10000095"  # H11
    assert scan.at(2, 1).code == "FX10000013"  # B1: column-major files too
    assert scan.at(7, 12).state == UNREAD and scan.at(7, 12).code == ""
    # FluidX writes NO READ for a hole as well: never read as empty.
    assert scan.at(8, 12).state == empty_state
    assert len(scan.codes) == 94 and scan.count(TUBE) == 94


def test_unread_is_kept_apart_from_empty():
    scan = rack_scan_parse(b"A1,NO READ\nA2,No Tube\nA3,\nA4,NOREAD\n", filename="R1.csv")
    assert [p.state for p in scan.positions] == [UNREAD, EMPTY, EMPTY, UNREAD]


@pytest.mark.parametrize("text", ["A1", "A01", "a1", "A 1", "A 01", "1", "1:1", "A:1"])
def test_position_styles(text):
    scan = rack_scan_parse(f"{text},T1\n".encode(), filename="R1.csv")
    assert (scan.positions[0].row, scan.positions[0].column, scan.positions[0].label) == (
        1,
        1,
        "A1",
    )


def test_numeric_positions_are_row_major():
    scan = rack_scan_parse(b"13,T13\n96,T96\n12,T12\n", filename="R1.csv")
    assert [p.label for p in scan.positions] == ["B1", "H12", "A12"]


def test_rack_barcode_from_the_file_name():
    assert rack_barcode_from_filename(r"C:\scans\FR00012345.csv") == "FR00012345"
    assert rack_barcode_from_filename("FR00012345.txt") == "FR00012345"


def test_the_header_wins_over_the_file_name():
    scan = rack_scan_parse(b"Rack ID,RACK7\nPosition,Barcode\nA1,T1\n", filename="other.csv")
    assert (scan.rack_barcode, scan.rack_barcode_source) == ("RACK7", "file")


def test_semicolon_and_tab_delimited():
    semicolon = rack_scan_parse(b"Position;Barcode\nA1;T1\nA2;No Tube\n", filename="R.csv")
    tab = rack_scan_parse(b"Position\tTube Barcode\nA1\tT1\n", filename="R.csv")
    assert semicolon.at(1, 1).code == tab.at(1, 1).code == "T1"


def test_utf16_export_with_bom():
    data = "\ufeffA1,T1\r\nA2,NO READ\r\n".encode("utf-16-le")
    assert rack_scan_parse(b"\xff\xfe" + data[2:], filename="R.csv").at(1, 1).code == "T1"


def refused(data: bytes, filename: str = "R1.csv") -> str:
    with pytest.raises(ExportParseError) as error:
        rack_scan_parse(data, filename=filename)
    return str(error.value)


def test_a_position_twice_is_refused_with_both_lines():
    message = refused(b"A1,T1\nA2,T2\nA01,T3\n")
    assert message.startswith("line 3, column 1:") and "A1 is listed twice" in message
    assert "line 1" in message


def test_a_tube_twice_is_refused():
    message = refused(b"A1,T1\nA2,T2\nB1,T1\n")
    assert message.startswith("line 3, column 2:") and "tube T1 is read twice" in message
    assert "A1" in message


def test_two_rack_barcodes_are_refused():
    message = refused(b"R1,A1,T1\nR2,A2,T2\n")
    assert message.startswith("line 2, column 1:") and "'R2' differs from 'R1'" in message


def test_header_and_column_rack_barcodes_must_agree():
    message = refused(b"Rack ID,R1\nRack,Position,Barcode\nR2,A1,T1\n")
    assert message.startswith("line 3, column 1:")


def test_position_off_the_rack_is_refused():
    assert refused(b"I1,T1\n").startswith("line 1, column 1:")
    assert "A1-H12" in refused(b"A13,T1\n")
    assert "not on a rack of 96" in refused(b"97,T1\n")


def test_unreadable_position_and_wrong_width():
    assert "'X' is not a rack position" in refused(b"X,T1\n")
    assert refused(b"A1,T1\nA2,T2,x,y\n").startswith("line 2:")


def test_empty_file_and_no_rack():
    assert "empty" in refused(b"  \n")
    assert "no rack barcode" in refused(b"A1,T1\n", filename=".csv")


def test_rack_size_comes_from_the_box():
    scan = rack_scan_parse(b"J10,T1\n", filename="R.csv", rows=10, columns=10)
    assert scan.positions[0].label == "J10"
