"""Choosing the parser from the bytes: every real file to its format, the rest refused."""

import pytest

from biobank.instruments import FORMATS, ExportParseError, parse_export, sniff_format

from .synthetic import ABI_SDS, BIORAD_CFX, LC480_ROWS, LC480_SAMPLE_INFO, lc480, rdml_xml

REAL_FILES = {
    "lc480-tidyqpcr-nrd1-calibration-cq.txt": ("lc480", 384),
    "lc480-tidyqpcr-txninhib-plate1-cq.txt": ("lc480", 384),
    "lc480-tidyqpcr-stuart-individualwells-cq.txt": ("lc480", 96),
    "lc480-htqpcr-demo-absquant.txt": ("lc480", 384),
    "lc480-readqpcr-sampleinfo.txt": ("lc480_sample_info", 96),
    "abi-sds23-htqpcr-rq-results.txt": ("abi", 384),
    "abi-quantstudio7flex-comparative-ct-example.txt": ("abi", 16),
    "abi-quantstudio7flex-standard-curve-example.txt": ("abi", 95),
    "abi-quantstudio7flex-results-only-2024.txt": ("abi", 24),
    "biorad-cfx-htqpcr-sample.csv": ("biorad_cfx", 330),
    "biorad-cfxmaestro-allotropy-example01.csv": ("biorad_cfx", 48),
    "rdml-abi-stepone-std.rdml": ("rdml", 24),
    "rdml-biorad-qpcr-melt.rdml": ("rdml", 60),
}


@pytest.mark.parametrize(("name", "expected"), REAL_FILES.items())
def test_every_real_export_is_sniffed_and_read(export_bytes, name, expected):
    data = export_bytes(name)
    fmt, well_count = expected
    assert sniff_format(data, filename=name) == fmt
    export = parse_export(data, filename=name)
    assert (export.format, len(export.wells)) == (fmt, well_count)
    assert export.format == parse_export(data, format=fmt).format
    assert all(w.cq is None or 0 < w.cq < 45 for w in export.wells)


def test_registry_modules_expose_the_parser_interface():
    assert list(FORMATS) == ["rdml", "lc480_sample_info", "lc480", "biorad_cfx", "abi"]
    for name, module in FORMATS.items():
        assert name == module.FORMAT
        assert module.INSTRUMENT
        assert callable(module.sniff) and callable(module.parse)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (lc480(LC480_ROWS).encode(), "lc480"),
        (LC480_SAMPLE_INFO.encode("utf-16"), "lc480_sample_info"),
        (ABI_SDS.encode(), "abi"),
        (BIORAD_CFX.encode(), "biorad_cfx"),
        (rdml_xml().encode(), "rdml"),
    ],
)
def test_synthetic_exports_are_sniffed(data, fmt):
    assert sniff_format(data) == fmt
    assert FORMATS[fmt].sniff(data.decode("utf-16") if fmt == "lc480_sample_info" else data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "unrecognised export: 'x.txt' is empty"),
        (b"hello\nworld\n", "unrecognised export: 'x.txt' is none of the supported formats"),
        (bytes(range(256)), "unrecognised export"),
    ],
)
def test_unrecognised_input_is_refused(data, message):
    with pytest.raises(ExportParseError, match=message):
        parse_export(data, filename="x.txt")


def test_unknown_format_name_is_refused():
    with pytest.raises(ExportParseError, match="unknown export format 'sds'; choose one of auto"):
        parse_export(b"x", format="sds")


def test_forcing_the_wrong_format_raises_a_parse_error():
    with pytest.raises(ExportParseError, match="no LightCycler 480 header"):
        parse_export(BIORAD_CFX.encode(), format="lc480")


def test_runs_lists_each_run_once_in_file_order():
    assert parse_export(ABI_SDS.encode()).runs() == ["Plate1", "Plate2"]
    assert parse_export(lc480(LC480_ROWS).encode()).runs() == [""]


def test_error_message_reads_line_column_reason():
    error = ExportParseError("Cp 'abc' is not a number", line=7, column=5)
    assert str(error) == "line 7, column 5: Cp 'abc' is not a number"
    assert (error.line, error.column, error.reason) == (7, 5, "Cp 'abc' is not a number")
    assert str(ExportParseError("bad", line=3)) == "line 3: bad"
    assert isinstance(error, ValueError)
