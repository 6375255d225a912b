"""Applied Biosystems SDS 2.3 and QuantStudio results exports."""

import pytest

from biobank.instruments import ExportParseError, abi, parse_export, sniff_format

from .synthetic import ABI_7500_CSV, ABI_QUANTSTUDIO, ABI_SDS


def well(export, position, run=""):
    matches = [w for w in export.wells if w.position == position and w.run == run]
    assert len(matches) == 1, matches
    return matches[0]


# --- real files ----------------------------------------------------------------------


def test_sds23_rq_results_cr_endings_undetermined_and_footer(export_bytes):
    data = export_bytes("abi-sds23-htqpcr-rq-results.txt")
    assert sniff_format(data) == "abi"
    export = parse_export(data)
    assert export.instrument == "Applied Biosystems (SDS 2.3 RQ Results)"
    assert export.plate_size == 384
    assert len(export.wells) == 384  # the PlateID/AF22 footer is not a well
    assert export.runs() == ["Control"]
    assert sum(w.cq is None for w in export.wells) == 31
    assert export.metadata["line_endings"] == "CR"
    assert export.metadata["Filename"] == "Testscreen analys all.sdm"
    assert export.metadata["EmbeddedFile"] == "FileA; FileB; FileC"
    a1 = well(export, "A1", run="Control")
    assert (a1.sample_name, a1.target, a1.cq, a1.line) == ("Sample01", "Gene1", 11.463166, 18)
    a6 = well(export, "A6", run="Control")
    assert (a6.cq, a6.flags) == (11.280299, ("flagged_in_file",))
    a9 = well(export, "A9", run="Control")  # Ct 'Undetermined'
    assert (a9.target, a9.cq, a9.flags) == ("Gene9", None, ("undetermined", "flagged_in_file"))
    p24 = well(export, "P24", run="Control")  # a 16-field row
    assert (p24.target, p24.cq, p24.line) == ("Gene191", 29.962372, 401)


def test_quantstudio_comparative_ct_with_cyrillic_header_value(export_bytes):
    export = parse_export(export_bytes("abi-quantstudio7flex-comparative-ct-example.txt"))
    assert export.format == "abi"
    assert export.instrument == "Applied Biosystems QuantStudio(TM) 7 Flex System"
    assert export.plate_size == 96
    assert export.metadata["Experiment Type"] == "Comparative C\u0442 (\u0394\u0394C\u0442)"
    assert export.metadata["Experiment Name"] == "QuantStudio96-Well Comparative Ct Example"
    assert len(export.wells) == 16  # only [Results]; [Sample Setup] has no Ct
    assert sum(w.cq is None for w in export.wells) == 6
    a1 = well(export, "A1")  # NTC: empty sample name, Undetermined
    assert (a1.sample_name, a1.target, a1.cq, a1.dye) == ("", "TGF-B", None, "FAM")
    assert a1.line == 85
    d1 = well(export, "D1")
    assert (d1.sample_name, d1.target, d1.cq) == ("Lung", "TGF-B", 30.155)
    assert well(export, "D10").cq == 29.799


def test_quantstudio_standard_curve_thousands_separators(export_bytes):
    export = parse_export(export_bytes("abi-quantstudio7flex-standard-curve-example.txt"))
    assert len(export.wells) == 95
    assert "H11" not in {w.position for w in export.wells}
    assert [w.position for w in export.wells if w.cq is None] == ["D1", "D2", "D3", "D4"]
    a1 = well(export, "A1")  # Quantity 5,720.562 next to it
    assert (a1.sample_name, a1.target, a1.cq, a1.line) == ("5K", "RNase P", 27.102, 379)
    d5 = well(export, "D5")
    assert (d5.sample_name, d5.cq) == ("", 29.331)
    assert well(export, "H12").cq == 26.217


def test_quantstudio_results_only_with_duplicate_columns(export_bytes):
    export = parse_export(export_bytes("abi-quantstudio7flex-results-only-2024.txt"))
    assert len(export.wells) == 24
    assert export.metadata["Experiment Name"] == "01OCT2024"
    a1 = well(export, "A1")  # Quantity 100,000,000.000
    assert (a1.sample_name, a1.target, a1.cq, a1.dye) == (
        "Standard 1 (1e8)",
        "3'UTR",
        16.484,
        "VIC",
    )
    a4 = well(export, "A4")
    assert (a4.sample_name, a4.cq) == ("5000018696625", 25.711)  # stays a string
    assert well(export, "B12").cq == 26.592
    assert any("'Target Name' appears more than once" in w for w in export.warnings)


# --- synthetic quirks ----------------------------------------------------------------


def test_several_plates_in_one_sds_file_keep_every_well():
    export = parse_export(ABI_SDS.encode())
    assert export.runs() == ["Plate1", "Plate2"]
    assert [(w.run, w.position, w.cq, w.flags) for w in export.wells] == [
        ("Plate1", "A1", 24.5, ()),
        ("Plate1", "A2", None, ("undetermined", "flagged_in_file")),
        ("Plate2", "A1", 24.75, ("excluded_in_file",)),  # Omit TRUE
    ]
    assert export.metadata["EmbeddedFile"] == "Plate1; Plate2"


def test_several_tables_without_a_plate_column_become_numbered_runs():
    table = "Well\tSample Name\tTarget Name\tCt\nA1\tS-001\tmiR-21\t24.5\n"
    export = parse_export(f"{table}\n{table}".encode())
    assert [(w.run, w.position, w.line) for w in export.wells] == [
        ("run 1", "A1", 2),
        ("run 2", "A1", 5),
    ]


def test_quantstudio_cyrillic_ct_column_quoted_thousands_and_omit():
    export = parse_export(ABI_QUANTSTUDIO.encode())
    assert export.format == "abi"
    assert export.plate_size == 96
    assert [(w.position, w.sample_name, w.target, w.cq, w.dye, w.flags) for w in export.wells] == [
        ("A1", "S-001", "miR-21", 24.512, "FAM", ()),
        ("A2", "S-001", "miR-21", None, "FAM", ("undetermined", "excluded_in_file")),
        ("B1", "5000018696625", "miR-16", 19.525, "VIC", ()),
    ]


def test_7500_csv_with_numbered_wells_assumes_a_96_well_plate():
    export = parse_export(ABI_7500_CSV.encode())
    assert [(w.position, w.sample_name, w.target, w.cq) for w in export.wells] == [
        ("A1", "S-001", "miR-21", 24.5),
        ("H12", "S-002", "miR-21", None),
    ]
    assert export.plate_size == 96
    assert export.warnings == (
        "wells are numbered and the file gives no block type: read as 96-well",
    )
    assert export.metadata["Run Date"] == "2012-03-01"


def test_decimal_comma_cts_with_three_decimals():
    data = b"Well;Sample Name;Detector;Ct\nA1;S-001;miR-21;27,102\n"
    assert [w.cq for w in parse_export(data, format="abi").wells] == [27.102]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "* Block Type = 96-Well Block\n\n[Results]\nWell\tSample Name\n",
            "no Applied Biosystems results table",
        ),
        (
            "[Results]\nWell\tWell Position\tSample Name\tTarget Name\tCT\n",
            "line 2: the results header is not followed by any well",
        ),
        (
            "Well\tSample Name\tDetector\tCt\nA1\tS\tmiR-21\t2x.5\n",
            "line 2, column 4: Ct '2x.5' is not a number",
        ),
        (
            "Well\tSample Name\tDetector\tCt\nZ99\tS\tmiR-21\t24.5\n",
            "line 2, column 1: well 'Z99' is not on a plate",
        ),
        (
            "* Block Type = 96-Well Block\n[Results]\nWell Position\tSample Name\tCT\nI1\tS\t24\n",
            "line 4, column 1: well 'I1' is not on a 96-well plate",
        ),
        (
            "Well\tSample Name\tDetector\tCt\n385\tS\tmiR-21\t24.5\n",
            "well number 385 is beyond a 384-well plate",
        ),
    ],
)
def test_broken_results_raise_located_errors(text, message):
    with pytest.raises(ExportParseError) as caught:
        abi.parse(text.encode())
    assert str(caught.value).startswith(message)
