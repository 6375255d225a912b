"""Standard-curve wells as each instrument export marks them: the standard flag and the
known quantity (LC480 'Standard' column, ABI Task STANDARD + Quantity, CFX Content
'Std-..' + Starting Quantity, RDML sample type 'std' + quantity/value), never the
calculated quantity of an unknown."""

from __future__ import annotations

import io
import zipfile

import pytest

from biobank.instruments import ExportParseError, abi, biorad_cfx, lc480, rdml

from .exports import EXPORTS_DIR
from .synthetic import lc480 as lc480_export


def test_lc480_standard_column_marks_standards_with_their_concentration():
    text = lc480_export(
        [
            "True\t128\tF9\tStandard 1\t12.64\t1.02E+06\t1000000\t",
            "True\t128\tF10\tStandard 2\t16.06\t1.06E+05\t1E+05\t",
            "True\t255\tA1\tSample 1\t16.13\t1.01E+05\t0\t",
            "True\t255\tA2\tSample 2\t\t\t\t",
        ]
    )
    wells = lc480.parse(text.encode()).wells
    assert [(w.position, w.standard, w.quantity) for w in wells] == [
        ("F9", True, 1_000_000.0),
        ("F10", True, 100_000.0),
        ("A1", False, None),  # Concentration 1.01E+05 is the software's estimate
        ("A2", False, None),
    ]


def test_lc480_decimal_comma_quantity():
    text = lc480_export(
        ["True\t128\tA1\tStd 1\t12,64\t\t1,5E+03\t", "True\t255\tA2\tS\t13,1\t\t0\t"]
    )
    wells = lc480.parse(text.encode()).wells
    assert (wells[0].standard, wells[0].quantity) == (True, 1500.0)
    assert not wells[1].standard


def test_lc480_standard_with_a_non_number_names_line_and_column():
    text = lc480_export(["True\t128\tA1\tStd 1\t12.64\t\tlots\t"])
    with pytest.raises(ExportParseError) as error:
        lc480.parse(text.encode())
    assert error.value.line == 3 and error.value.column == 7


ABI_STD = "\n".join(
    [
        "* Experiment Type = Standard Curve",
        "",
        "[Results]",
        "Well\tWell Position\tSample Name\tTarget Name\tTask\tReporter\tCT\tQuantity",
        '1\tA1\t\tRNase P\tSTANDARD\tFAM\t24.1\t"1,250.000"',
        "2\tA2\tpop1\tRNase P\tUNKNOWN\tFAM\t26.0\t312.5",
        "3\tA3\t\tRNase P\tNTC\tFAM\tUndetermined\t",
        "4\tA4\t\tRNase P\tSTANDARD\tFAM\tUndetermined\t625",
    ]
)


def test_abi_task_standard_carries_its_quantity_and_an_unknown_none():
    wells = abi.parse(ABI_STD.encode()).wells
    assert [(w.position, w.standard, w.quantity) for w in wells] == [
        ("A1", True, 1250.0),
        ("A2", False, None),  # QuantStudio's calculated quantity of an unknown
        ("A3", False, None),
        ("A4", True, 625.0),  # undetermined, still a point of the series
    ]


def test_abi_standard_with_a_negative_quantity_is_refused_with_its_line():
    with pytest.raises(ExportParseError, match="positive") as error:
        abi.parse(ABI_STD.replace("\t625", "\t-625").encode())
    assert error.value.line == 8


CFX = "\n".join(
    [
        ",Well,Fluor,Target,Content,Sample,Cq,Starting Quantity (SQ)",
        ",B07,SYBR,GLP1,Std-101,,28.01,8.000E+00",
        ",B08,SYBR,GLP1,Std-102,,31.40,8.000E-01",
        ",A01,SYBR,GLP1,Unkn-01,1-SI1,37.42,2.183E-03",
        ",A02,SYBR,GLP1,NTC,,N/A,",
    ]
)


def test_cfx_std_content_carries_starting_quantity():
    wells = biorad_cfx.parse(CFX.encode()).wells
    assert [(w.position, w.standard, w.quantity) for w in wells] == [
        ("B7", True, 8.0),
        ("B8", True, 0.8),
        ("A1", False, None),
        ("A2", False, None),
    ]


RDML = """<?xml version="1.0" encoding="UTF-8"?>
<rdml xmlns="http://www.rdml.org" version="1.1">
  <sample id="S1"><type>unkn</type></sample>
  <sample id="STD 1e4"><type>std</type>
    <quantity><value>10000.0</value><unit>cop</unit></quantity></sample>
  <sample id="STD ?"><type>std</type></sample>
  <target id="miR-21"><type>toi</type></target>
  <experiment id="E"><run id="R">
    <pcrFormat><rows>8</rows><columns>12</columns><rowLabel>ABC</rowLabel>
      <columnLabel>123</columnLabel></pcrFormat>
    <react id="1"><sample id="STD 1e4"/><data><tar id="miR-21"/><cq>20.1</cq></data></react>
    <react id="2"><sample id="S1"/><data><tar id="miR-21"/><cq>24.0</cq></data></react>
    <react id="3"><sample id="STD ?"/><data><tar id="miR-21"/><cq>25.0</cq></data></react>
  </run></experiment>
</rdml>"""


def test_rdml_std_sample_carries_quantity_and_unit():
    wells = rdml.parse(RDML.encode()).wells
    assert [(w.position, w.standard, w.quantity, w.quantity_unit) for w in wells] == [
        ("A1", True, 10000.0, "cop"),
        ("A2", False, None, ""),
        ("A3", True, None, ""),
    ]


def test_rdml_std_quantity_not_a_number_is_refused_with_its_line():
    with pytest.raises(ExportParseError, match="positive number") as error:
        rdml.parse(RDML.replace("10000.0", "many").encode())
    assert error.value.line == 5  # the <quantity> element


def _real(name: str) -> bytes:
    path = EXPORTS_DIR / name
    if not path.is_file():
        pytest.skip(f"real export {name} not found in {EXPORTS_DIR}")
    return path.read_bytes()


def test_real_lc480_abs_quant_has_its_seven_level_series():
    wells = lc480.parse(_real("lc480-htqpcr-demo-absquant.txt")).wells
    standards = [w for w in wells if w.standard]
    assert len(standards) == 35  # F-J 9..15: 5 replicates of 7 levels
    assert sorted({w.quantity for w in standards}) == [10.0**k for k in range(7)]


def test_real_abi_standard_curve_example():
    wells = abi.parse(_real("abi-quantstudio7flex-standard-curve-example.txt")).wells
    standards = [w for w in wells if w.standard]
    assert standards and all(w.quantity and w.quantity > 0 for w in standards)
    assert any(w.quantity == 1250.0 for w in standards)


def test_real_rdml_stepone_standards():
    data = _real("rdml-abi-stepone-std.rdml")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["rdml_data.xml"]
    wells = rdml.parse(data).wells
    quantities = {w.quantity for w in wells if w.standard}
    assert quantities == {10000.0, 5000.0, 2500.0, 1250.0, 625.0}
    assert all(w.quantity_unit == "other" for w in wells if w.standard)
