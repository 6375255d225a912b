"""Roche LightCycler 480 Cp exports and the Sample Information layout file."""

import pytest

from biobank.instruments import (
    ExportParseError,
    lc480,
    lc480_sample_info,
    parse_export,
    sniff_format,
)

from .synthetic import (
    LC480_DECIMAL_COMMA_ROWS,
    LC480_HEADER,
    LC480_ROWS,
    LC480_SAMPLE_INFO,
    LC480_TITLE,
)
from .synthetic import lc480 as lc480_text


def well(export, position, run=""):
    matches = [w for w in export.wells if w.position == position and w.run == run]
    assert len(matches) == 1, matches
    return matches[0]


# --- real files ----------------------------------------------------------------------


def test_nrd1_calibration_384_wells_with_empty_cp(export_bytes):
    export = parse_export(export_bytes("lc480-tidyqpcr-nrd1-calibration-cq.txt"))
    assert (export.format, export.instrument) == ("lc480", "Roche LightCycler 480")
    assert export.plate_size == 384
    assert len(export.wells) == 384
    assert sum(w.cq is None for w in export.wells) == 105
    assert export.metadata["experiment"] == "Edward qPCR Nrd1 calibration 2019-02-02"
    assert export.metadata["filter"] == "SYBR Green I / HRM Dye (483-533)"
    assert export.metadata["line_endings"] == "CRLF"
    a1 = well(export, "A1")
    assert (a1.sample_name, a1.cq, a1.line, a1.target) == ("Sample 1", 22.78, 3, "")
    a5 = well(export, "A5")  # empty Cp field
    assert (a5.sample_name, a5.cq, a5.flags) == ("Sample 5", None, ("undetermined",))
    assert well(export, "P23").cq == 33.71
    assert well(export, "P24").cq is None


def test_txninhib_cp_with_leading_spaces(export_bytes):
    export = parse_export(export_bytes("lc480-tidyqpcr-txninhib-plate1-cq.txt"))
    assert len(export.wells) == 384
    assert sum(w.cq is None for w in export.wells) == 61
    h10 = well(export, "H10")  # written '  3.11'
    assert (h10.sample_name, h10.cq, h10.line) == ("Sample 178", 3.11, 180)
    assert well(export, "P24").cq == 32.92


def test_stuart_96_well_plate(export_bytes):
    export = parse_export(export_bytes("lc480-tidyqpcr-stuart-individualwells-cq.txt"))
    assert export.plate_size == 96
    assert len(export.wells) == 96
    assert export.metadata["experiment"] == "Stuart_WT_dAgr_spoVG_glyS_5S"
    c7 = well(export, "C7")  # '  4.91'
    assert (c7.sample_name, c7.cq) == ("WT OD0.5 5S", 4.91)
    assert well(export, "H5").cq == 4.77
    h10 = well(export, "H10")
    assert (h10.sample_name, h10.cq) == ("Sample 94", None)


def test_htqpcr_demo_cr_only_no_final_newline_and_short_rows(export_bytes):
    export = parse_export(export_bytes("lc480-htqpcr-demo-absquant.txt"))
    assert export.metadata["line_endings"] == "CR"
    assert export.metadata["experiment"] == "Demo Abs Quant with SYBR Green I_training"
    assert export.metadata["filter"] == "SYBR Green (483-533)"  # 7 trailing tabs dropped
    assert len(export.wells) == 384
    assert sum(w.cq is None for w in export.wells) == 307
    assert well(export, "A1").cq == 16.13
    a15 = well(export, "A15")  # 7 fields: no trailing Status tab
    assert (a15.sample_name, a15.cq, a15.line) == ("Sample 2", 17.1, 17)
    assert well(export, "F9").sample_name == "Standard 1"
    assert well(export, "F9").cq == 12.64
    assert well(export, "P11").cq == 35.17
    p24 = well(export, "P24")  # last line, no newline after it
    assert (p24.sample_name, p24.cq, p24.line) == ("no template control", None, 386)


def test_sample_information_is_a_layout_without_cq(export_bytes):
    data = export_bytes("lc480-readqpcr-sampleinfo.txt")
    assert sniff_format(data) == "lc480_sample_info"
    export = parse_export(data)
    assert export.format == "lc480_sample_info"
    assert export.plate_size == 96
    assert len(export.wells) == 96
    assert all(w.cq is None and w.flags == ("layout_only",) for w in export.wells)
    assert any("no Cq" in warning for warning in export.warnings)
    a1 = well(export, "A1")
    assert (a1.sample_name, a1.target, a1.dye) == ("Sample_1", "negativ Kontrolle", "465-510")
    assert (well(export, "A3").sample_name, well(export, "A3").target) == ("Sample_2", "hk")
    assert (well(export, "H12").sample_name, well(export, "H12").target) == ("Sample_48", "")


# --- synthetic quirks ----------------------------------------------------------------


def test_synthetic_export_reads_flags_and_short_rows():
    export = lc480.parse(lc480_text(LC480_ROWS).encode())
    assert [(w.position, w.cq, w.flags) for w in export.wells] == [
        ("A1", 22.78, ()),
        ("A2", None, ("undetermined",)),
        ("A3", 4.91, ()),
        ("B1", 31.05, ("excluded_in_file",)),  # Include = False
    ]
    assert export.wells[0].dye == "SYBR Green I / HRM Dye (483-533)"


def test_decimal_commas():
    export = parse_export(lc480_text(LC480_DECIMAL_COMMA_ROWS).encode("cp1252"))
    assert [w.cq for w in export.wells] == [22.78, 4.91, None]
    assert export.metadata["decimal_separator"] == ","


@pytest.mark.parametrize(
    ("encode", "newline", "final_newline"),
    [
        (lambda text: text.encode("utf-16"), "\r\n", True),  # UTF-16 LE with BOM
        (lambda text: text.encode("utf-16-be"), "\r\n", True),  # no BOM
        (lambda text: b"\xef\xbb\xbf" + text.encode(), "\r\n", True),
        (lambda text: text.encode(), "\r", False),  # classic Mac, no final newline
        (lambda text: text.encode(), "\n", False),
    ],
)
def test_encodings_and_line_endings_read_the_same(encode, newline, final_newline):
    data = encode(lc480_text(LC480_ROWS, newline=newline, final_newline=final_newline))
    assert sniff_format(data) == "lc480"
    export = parse_export(data)
    assert [(w.position, w.cq, w.line) for w in export.wells] == [
        ("A1", 22.78, 3),
        ("A2", None, 4),
        ("A3", 4.91, 5),
        ("B1", 31.05, 6),
    ]
    assert export.metadata["experiment"] == "miR-21 serum"


def test_header_without_title_line():
    data = "\n".join([LC480_HEADER, *LC480_ROWS]).encode()
    export = parse_export(data)
    assert export.format == "lc480"
    assert export.wells[0].line == 2
    assert "experiment" not in export.metadata


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "line 2: the header is not followed by any well"),
        (
            ["True\t255\tA1\tS\t22.1\t\t0", "True\t255\tA2\tS\tabc\t\t0"],
            "line 4, column 5: Cp 'abc' is not a number",
        ),
        (["True\t255\tZ99\tS\t22.1\t\t0"], "line 3, column 3: well 'Z99' is not on a plate"),
        (["True\t255\t\tS\t22.1\t\t0"], "line 3, column 3: the well position is empty"),
        (["True\t255\tA1\tS"], "line 3: the row has 4 fields, so its 'Cp' field (field 5)"),
    ],
)
def test_broken_files_name_line_and_column(rows, message):
    with pytest.raises(ExportParseError) as caught:
        parse_export(lc480_text(rows).encode())
    assert str(caught.value).startswith(message)


def test_a_cp_of_zero_is_read_and_named_by_the_range_check():
    """0.00 is no Cq: the parser reads the number, the one range check names the well."""
    from biobank.instruments.checks import out_of_range

    export = parse_export(lc480_text(["True\t255\tA1\tS\t0.00\t\t0"]).encode())
    assert out_of_range(export.wells) == ["well A1: Cq 0 is outside 0-60 cycles (line 3)"]


def test_a_file_without_the_header_is_refused():
    with pytest.raises(ExportParseError, match="no LightCycler 480 header"):
        lc480.parse(f"{LC480_TITLE}\nPos\tName\n".encode())


def test_text_after_a_blank_line_is_reported():
    data = lc480_text([*LC480_ROWS, "", "note: rerun B1"]).encode()
    export = parse_export(data)
    assert len(export.wells) == 4
    assert export.warnings == ("1 non-blank lines after the table were not read",)


def test_synthetic_sample_information():
    export = lc480_sample_info.parse(LC480_SAMPLE_INFO.encode())
    assert [(w.position, w.sample_name, w.target) for w in export.wells] == [
        ("A1", "S-001", "miR-21"),
        ("A2", "S-002", "miR-16"),
    ]
    with pytest.raises(ExportParseError, match="line 1: the header is not followed by any well"):
        lc480_sample_info.parse(LC480_SAMPLE_INFO.splitlines()[0].encode())
