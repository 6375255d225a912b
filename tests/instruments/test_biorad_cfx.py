"""Bio-Rad CFX Manager / CFX Maestro 'Quantification Cq Results' CSV."""

import pytest

from biobank.instruments import ExportParseError, biorad_cfx, parse_export, sniff_format

from .synthetic import BIORAD_CFX, BIORAD_CFX_SEMICOLON


def wells_at(export, position):
    return [w for w in export.wells if w.position == position]


def test_cfx_manager_384_zero_padded_and_na(export_bytes):
    data = export_bytes("biorad-cfx-htqpcr-sample.csv")
    assert sniff_format(data) == "biorad_cfx"
    export = parse_export(data)
    assert (export.format, export.instrument) == ("biorad_cfx", "Bio-Rad CFX")
    assert export.plate_size == 384
    assert len(export.wells) == 330
    assert sum(w.cq is None for w in export.wells) == 10
    assert export.metadata["line_endings"] == "CRLF"
    (a1,) = wells_at(export, "A1")  # written 'A01'
    assert (a1.sample_name, a1.target, a1.dye, a1.cq, a1.line) == (
        "1-SI1",
        "GLP1",
        "SYBR",
        37.42,
        2,
    )
    (a7,) = wells_at(export, "A7")  # Neg Ctrl, Cq 'N/A'
    assert (a7.sample_name, a7.cq, a7.flags) == ("", None, ("undetermined",))
    (h1,) = wells_at(export, "H1")
    assert (h1.sample_name, h1.cq, h1.line) == ("1-SI8", 28.01, 170)
    (p22,) = wells_at(export, "P22")
    assert (p22.sample_name, p22.target, p22.cq) == ("3-Co4", "TFF1", 36.14)


def test_cfx_maestro_two_fluors_per_well_are_both_kept(export_bytes):
    export = parse_export(export_bytes("biorad-cfxmaestro-allotropy-example01.csv"))
    assert export.plate_size == 96
    assert len(export.wells) == 48
    assert len({w.position for w in export.wells}) == 24
    fam, vic = wells_at(export, "A1")
    assert (fam.dye, fam.cq, fam.sample_name, fam.target, fam.line) == (
        "FAM",
        21.1877528266099,
        "M3905 R Ctx",
        "",
        2,
    )
    assert (vic.dye, vic.cq, vic.line) == ("VIC", 21.1590717001335, 26)
    assert wells_at(export, "D6")[1].cq == 20.9102822371808


def test_synthetic_cfx_export():
    export = parse_export(BIORAD_CFX.encode())
    assert [(w.position, w.dye, w.target, w.cq) for w in export.wells] == [
        ("A1", "FAM", "miR-21", 21.1877528266099),
        ("A1", "VIC", "miR-16", 23.5),
        ("B12", "FAM", "miR-21", None),
        ("P24", "FAM", "miR-21", None),  # NaN
    ]
    assert export.plate_size == 384


def test_european_semicolons_and_decimal_commas():
    data = BIORAD_CFX_SEMICOLON.encode("utf-16")
    assert sniff_format(data) == "biorad_cfx"
    export = parse_export(data)
    assert [(w.position, w.cq) for w in export.wells] == [("A1", 27.12), ("A2", None)]
    assert export.metadata["delimiter"] == ";"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (",Well,Fluor,Target,Sample,Cq\n", "line 1: the header is not followed by any well"),
        (
            ",Well,Fluor,Target,Sample,Cq\n,A01,FAM,miR-21,S,twelve\n",
            "line 2, column 6: Cq 'twelve' is not a number",
        ),
        (
            ",Well,Fluor,Target,Sample,Cq\n,Z99,FAM,miR-21,S,24.1\n",
            "line 2, column 2: well 'Z99' is not on a plate",
        ),
        (",Well,Fluor,Target,Sample,Cq\n,A01,FAM\n", "line 2: the row has 3 fields"),
        ("Well,Sample,Cq\nA01,S,24.1\n", "no Bio-Rad CFX 'Quantification Cq Results' header"),
    ],
)
def test_broken_cfx_files_raise_located_errors(text, message):
    with pytest.raises(ExportParseError) as caught:
        biorad_cfx.parse(text.encode())
    assert str(caught.value).startswith(message)
