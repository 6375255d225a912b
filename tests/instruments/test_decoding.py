"""The shared decoder: encodings, line endings and number styles of real instrument PCs."""

import codecs

import pytest

from biobank.instruments.base import ExportParseError
from biobank.instruments.decoding import NumberStyle, decode_export, decode_head
from biobank.instruments.values import read_cq

TEXT = "Pos\tName\tCp\nA1\tS-001 µ\t22.78\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8 with BOM"),
        (TEXT.encode("utf-16"), "utf-16-le with BOM"),  # encode('utf-16') writes a LE BOM
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be with BOM"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),  # no BOM: recognised by its NUL bytes
        (TEXT.encode("cp1252"), "cp1252"),
    ],
)
def test_encodings_decode_to_the_same_lines(data, encoding):
    decoded = decode_export(data)
    assert decoded.encoding == encoding
    assert decoded.lines == ("Pos\tName\tCp", "A1\tS-001 µ\t22.78")


def test_bytes_cp1252_cannot_map_fall_back_to_latin1():
    decoded = decode_export(b"Pos\tName\nA1\tS\x81\n")
    assert decoded.encoding == "latin-1"
    assert decoded.lines[1] == "A1\tS\x81"


@pytest.mark.parametrize(
    ("data", "style"),
    [
        (b"a\r\nb\r\nc\r\n", "CRLF"),
        (b"a\rb\rc", "CR"),
        (b"a\nb\nc\n", "LF"),
        (b"a\r\nb\rc\n", "mixed"),
    ],
)
def test_line_endings_all_give_one_line_per_record(data, style):
    decoded = decode_export(data)
    assert decoded.lines == ("a", "b", "c")
    assert decoded.line_endings == style


def test_missing_final_newline_does_not_change_the_lines():
    assert decode_export(b"a\nb").lines == decode_export(b"a\nb\n").lines == ("a", "b")


def test_only_cr_and_lf_end_lines():
    # str.splitlines() would also split on a vertical tab or U+2028 and shift line numbers
    decoded = decode_export("a\x0bb\u2028c\nd".encode())
    assert decoded.lines == ("a\x0bb\u2028c", "d")


def test_a_doubled_bom_is_dropped():
    assert decode_export(("\ufeffPos\n").encode("utf-16")).lines == ("Pos",)


@pytest.mark.parametrize("data", [b"", b"   \r\n\t", codecs.BOM_UTF16_LE, "\n".encode("utf-16")])
def test_empty_files_are_refused(data):
    with pytest.raises(ExportParseError, match="file is empty"):
        decode_export(data)


def test_truncated_utf16_is_refused_clearly():
    data = "Pos\tCp\nA1\t22.78\n".encode("utf-16")[:-1]
    with pytest.raises(ExportParseError, match="looks like utf-16-le but byte"):
        decode_export(data)


def test_decode_head_never_raises():
    assert decode_head("Pos\tCp\n".encode("utf-16")[:-1])[0].startswith("Pos\tCp")
    assert decode_head(b"\xff\xfe\x00") == ["\ufffd"]


@pytest.mark.parametrize(
    ("cells", "cq_cells", "decimal_comma"),
    [
        (["22.78", "1.01E+05"], [], False),
        (["22,78"], [], True),
        (["1,01E+05"], [], True),
        (["100,000,000.000", "5,720.562"], [], False),
        (["1.234,5"], [], True),
        (["1,234"], [], False),  # ambiguous alone: thousands
        ([], ["27,102"], True),  # a Cq below 1000 cannot have a thousands separator
        (["S-001", "N/A", ""], [], False),
    ],
)
def test_number_style_is_detected_from_the_files_cells(cells, cq_cells, decimal_comma):
    assert NumberStyle.detect(cells, cq_cells=cq_cells).decimal_comma is decimal_comma


@pytest.mark.parametrize(
    ("text", "decimal_comma", "expected"),
    [
        ("22.78", False, 22.78),
        ("  4.91", False, 4.91),
        ("100,000,000.000", False, 100_000_000.0),
        ("1.01E+05", False, 101_000.0),
        ("22,78", True, 22.78),
        ("1,01E+05", True, 101_000.0),
        ("1.234,5", True, 1234.5),
        ("-3.196", False, -3.196),
    ],
)
def test_numbers_parse_in_their_style(text, decimal_comma, expected):
    assert NumberStyle(decimal_comma).parse(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "decimal_comma"),
    [
        ("abc", False),
        ("22,78", False),
        ("1,23,4", False),
        ("1_000", False),
        ("nan", False),
        ("inf", False),
        ("1e999", False),
        ("22.78.1", True),
        ("", False),
    ],
)
def test_non_numbers_raise_value_error(text, decimal_comma):
    with pytest.raises(ValueError):
        NumberStyle(decimal_comma).parse(text)


@pytest.mark.parametrize(
    "text", [None, "", "  ", "Undetermined", "UNDETERMINED", "N/A", "NaN", "-", "No Cq", "na"]
)
def test_every_spelling_of_no_cq_is_undetermined_not_zero(text):
    assert read_cq(text, NumberStyle()) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "Cp 'abc' is not a number"),
        ("1e999", "Cp '1e999' is too large"),
    ],
)
def test_what_is_not_a_number_raises(text, message):
    with pytest.raises(ExportParseError, match=message):
        read_cq(text, NumberStyle(), "Cp")


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("-1", -1.0), ("75", 75.0), ("60", 60.0)])
def test_a_number_outside_the_range_is_read_for_the_preview_to_name(text, value):
    """The range is checked once, in the preview, naming the well (checks.out_of_range)."""
    assert read_cq(text, NumberStyle(), "Cp") == value
