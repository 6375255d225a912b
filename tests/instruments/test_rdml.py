"""RDML v1.0 / v1.1, zipped or plain XML; Cq 40.0 and missing Cq are non-detects."""

import io
import zipfile

import pytest

from biobank.instruments import ExportParseError, parse_export, rdml, sniff_format

from .synthetic import RDML_REACTS, rdml_xml


def zipped(xml: str, name: str = "rdml_data.xml") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, xml)
    return buffer.getvalue()


# --- real files ----------------------------------------------------------------------


def test_stepone_rdml_10_non_detects_written_as_40(export_bytes):
    data = export_bytes("rdml-abi-stepone-std.rdml")
    assert sniff_format(data) == "rdml"
    export = parse_export(data)
    assert export.format == "rdml"
    assert export.instrument == "Applied Biosystems StepOne\u2122 Instrument (RDML 1.0)"
    assert export.metadata["rdml_version"] == "1.0"
    assert export.metadata["xml_file"] == "rdml_data.xml"
    assert export.metadata["experiment"] == "Standard Curve Example"
    assert export.runs() == ["Run001"]
    assert export.plate_size == 96  # 'free format': inferred from A1..C8
    assert len(export.wells) == 24
    a1 = export.wells[0]
    assert (a1.position, a1.sample_name, a1.target, a1.dye) == (
        "A1",
        "NTC_RNase P",
        "RNase P",
        "FAM",
    )
    assert a1.cq is None  # <cq>40.0</cq>
    assert a1.flags == ("undetermined", "rdml_nondetect_40")
    assert a1.line == 112
    assert [w.position for w in export.wells if w.cq is None] == ["A1", "A2", "A3"]
    assert export.warnings == (
        "3 wells with Cq 40.0 read as undetermined (non-detect written as 40)",
    )
    by_position = {w.position: w for w in export.wells}
    assert by_position["A4"].cq == 28.96287
    assert by_position["A4"].sample_name == "pop1_RNase P"
    assert by_position["C8"].cq == 31.035166
    assert by_position["C8"].sample_name == "STD_RNase P_625.0"


def test_biorad_rdml_11_numeric_reacts_two_runs_and_absent_cq(export_bytes):
    data = export_bytes("rdml-biorad-qpcr-melt.rdml")
    assert data.startswith(b"PK\x07\x08")  # spanned-archive marker before the first header
    assert sniff_format(data) == "rdml"
    export = parse_export(data)
    assert export.instrument == "Bio-Rad Laboratories, Inc. (RDML 1.1)"
    assert export.metadata["xml_file"] == "BioRad_qPCR_melt.xml"
    assert export.plate_size == 96
    assert export.runs() == ["Amp Step 3_FAM", "Amp Step 3_Cy5"]
    assert len(export.wells) == 60
    fam = {w.position: w for w in export.wells if w.run == "Amp Step 3_FAM"}
    assert (fam["A1"].sample_name, fam["A1"].target, fam["A1"].dye, fam["A1"].cq) == (
        "Alm12",
        "EvaGreen",
        "FAM",
        27.7514537682101,
    )
    assert (fam["A8"].cq, fam["A8"].flags) == (None, ("undetermined",))  # no <cq> at all
    assert fam["D1"].cq == 10.1244311147873  # react 37
    assert fam["D10"].cq == 39.3137019214124  # react 46: a real Cq near 40 stays a number
    assert fam["H10"].cq == 35.3197402365743  # react 94
    cy5 = [w for w in export.wells if w.run == "Amp Step 3_Cy5"]
    assert len(cy5) == 30
    assert all(w.cq is None and w.dye == "Cy5" for w in cy5)


# --- synthetic -----------------------------------------------------------------------


def test_plain_xml_rdml_11():
    data = rdml_xml(reacts=RDML_REACTS).encode()
    assert sniff_format(data) == "rdml"
    export = parse_export(data)
    assert [(w.position, w.sample_name, w.cq, w.flags) for w in export.wells] == [
        ("A1", "S-001", 24.5, ()),
        ("B1", "S-002", None, ("undetermined", "rdml_nondetect_40")),
        ("H12", "NTC", None, ("undetermined",)),
    ]
    assert [w.line for w in export.wells] == [8, 9, 10]
    assert export.runs() == ["run 1"]
    assert export.wells[0].dye == "FAM"


@pytest.mark.parametrize("name", ["rdml_data.xml", "plate 7.xml"])
def test_zipped_rdml_whatever_the_member_is_called(name):
    export = parse_export(zipped(rdml_xml(reacts=RDML_REACTS), name))
    assert len(export.wells) == 3
    assert export.metadata["xml_file"] == name


def test_rdml_10_text_pcr_format_and_letter_ids():
    reacts = (
        '<react id="A01"><sample id="S"/><data><tar id="miR-21"/><cq>30.1</cq></data></react>'
        '<react id="P24"><sample id="S"/><data><tar id="miR-21"/><cq>NaN</cq></data></react>'
    )
    export = parse_export(
        rdml_xml("1.0", reacts, pcr_format="<pcrFormat>384-well plate; A1-P24</pcrFormat>").encode()
    )
    assert export.plate_size == 384
    assert [(w.position, w.cq) for w in export.wells] == [("A1", 30.1), ("P24", None)]


def test_numbered_reacts_without_plate_format_assume_96_wells():
    reacts = '<react id="13"><sample id="S"/><data><tar id="miR-21"/><cq>30</cq></data></react>'
    export = parse_export(rdml_xml("1.0", reacts, pcr_format="<pcrFormat/>").encode())
    assert export.wells[0].position == "B1"
    assert export.warnings == ("run 'run 1' numbers its wells without a plate format: 96-well",)


def test_excluded_reaction_and_prefixed_namespace_in_utf16():
    xml = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<rdml:rdml xmlns:rdml="http://www.rdml.org" version="1.2">'
        '<rdml:experiment id="e"><rdml:run id="r">'
        "<rdml:pcrFormat><rdml:rows>8</rdml:rows><rdml:columns>12</rdml:columns></rdml:pcrFormat>"
        '<rdml:react id="2"><rdml:sample id="S"/><rdml:data><rdml:tar id="t"/>'
        "<rdml:cq>22.5</rdml:cq><rdml:excl>pipetting</rdml:excl></rdml:data></rdml:react>"
        "</rdml:run></rdml:experiment></rdml:rdml>"
    )
    export = parse_export(xml.encode("utf-16"))
    assert [(w.position, w.cq, w.flags) for w in export.wells] == [
        ("A2", 22.5, ("excluded_in_file",))
    ]


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n'
    '<!DOCTYPE rdml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
    '<rdml version="1.1">&b;</rdml>'
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (BILLION_LAUGHS.encode(), "line 2: XML with a DOCTYPE is refused"),
        (zipped(BILLION_LAUGHS), "line 2: XML with a DOCTYPE is refused"),
        (b'<rdml version="1.1"><experiment>', "line 1, column 33: not well-formed XML"),
        (b"<rdml version='1.1'><dateMade>x</date></rdml>", "line 1, column 34: not well-formed"),
        (b'<?xml version="1.0" encoding="TF-8"?><rdml/>', "the XML encoding cannot be read"),
        (b'<?xml version="1.0" encoding="shift_jis"?><rdml/>', "the XML encoding cannot be"),
        (b"<notrdml/>", "line 1: the XML root element is <notrdml>, not <rdml>"),
        (
            zipped("<rdml/>", "readme.txt"),
            "the zip archive should hold rdml_data.xml or one .xml file (found: none)",
        ),
        (zipped(rdml_xml(reacts=RDML_REACTS))[:200], "cannot read the RDML zip archive"),
        (
            rdml_xml(reacts='<react id="1"><data><cq>abc</cq></data></react>').encode(),
            "line 8: cq 'abc' is not a number",
        ),
        (
            rdml_xml(reacts='<react id="97"><data><cq>20</cq></data></react>').encode(),
            "line 8: well number 97 is not on a 8x12 plate",
        ),
        (
            rdml_xml(reacts='<react id="Z99"><data><cq>20</cq></data></react>').encode(),
            "line 8: well 'Z99' is not on a 96-well plate",
        ),
        (
            rdml_xml(
                pcr_format="<pcrFormat><rows>x</rows><columns>12</columns></pcrFormat>"
            ).encode(),
            "line 7: pcrFormat rows/columns 'x' is not a plate dimension (1-16)",
        ),
        (
            rdml_xml(
                pcr_format="<pcrFormat><rows>32</rows><columns>48</columns></pcrFormat>"
            ).encode(),
            "line 7: pcrFormat rows/columns '32' is not a plate dimension (1-16)",
        ),
        (b"", "file is empty"),
    ],
)
def test_broken_rdml_raises_located_errors(data, message):
    with pytest.raises(ExportParseError) as caught:
        rdml.parse(data)
    assert str(caught.value).startswith(message)


def test_rotor_format_is_one_row_of_tubes():
    reacts = '<react id="72"><sample id="S"/><data><tar id="miR-21"/><cq>30</cq></data></react>'
    rotor = "<pcrFormat><rows>1</rows><columns>72</columns></pcrFormat>"
    export = parse_export(rdml_xml(reacts=reacts, pcr_format=rotor).encode())
    assert (export.plate_size, export.wells[0].position) == (72, "A72")
