"""Readings no plate could take: a Cq outside the one range, a well read twice."""

from __future__ import annotations

import pytest

from biobank.instruments.base import ParsedWell
from biobank.instruments.checks import LISTED, duplicates, out_of_range
from biobank.instruments.values import CQ_MAX, CQ_MIN, cq_in_range
from biobank.models import Well


def reading(position="A1", cq=25.0, target="", dye="FAM", line=2, run=""):
    return ParsedWell(position, "RT-1", target, cq, line, run=run, dye=dye)


def test_the_range_is_the_database_constraint():
    """The check constraint is built from the same two numbers."""
    constraint = next(c for c in Well._meta.constraints if c.name == "well_cq_plausible")
    assert f"('cq__gt', {CQ_MIN})" in str(constraint.condition)
    assert f"('cq__lt', {CQ_MAX})" in str(constraint.condition)
    assert (CQ_MIN, CQ_MAX) == (0.0, 60.0)


@pytest.mark.parametrize(
    ("cq", "inside"), [(0.0, False), (0.01, True), (59.99, True), (60.0, False), (75.0, False)]
)
def test_both_ends_are_excluded(cq, inside):
    assert cq_in_range(cq) is inside


def test_each_well_outside_is_named_with_its_line():
    found = out_of_range(
        [reading("C7", 75.0, line=31), reading("A1", 20.0), reading("B2", None), reading("D4", 0)]
    )
    assert found == [
        "well C7: Cq 75 is outside 0-60 cycles (line 31)",
        "well D4: Cq 0 is outside 0-60 cycles (line 2)",
    ]


def test_a_long_list_is_cut_short():
    found = out_of_range([reading(f"A{n}", 99.0, line=n) for n in range(1, 25)])
    assert (
        len(found) == LISTED + 1 and found[-1] == "… and 14 more wells with a Cq outside the range"
    )


def test_a_well_twice_for_one_assay_is_named():
    found = duplicates(
        [
            reading("A1", 25.0, line=5),
            reading("A2", 26.0, line=6),
            reading("A1", 26.5, line=98),
        ]
    )
    assert found == [
        "well A1 is in the file 2 times (lines 5, 98; Cq 25, 26.5): one reading per well and assay"
    ]


def test_multiplex_and_runs_are_not_duplicates():
    assert not duplicates(
        [
            reading("A1", 25.0, dye="FAM"),
            reading("A1", 26.0, dye="VIC"),
            reading("B1", 25.0, target="miR-122"),
            reading("B1", 25.0, target="cel-miR-39"),
            reading("C1", 25.0, run="run 1"),
            reading("C1", 25.0, run="run 2"),
        ]
    )
    same_target = duplicates(
        [reading("B1", 25.0, target="miR-122"), reading("B1", None, target="MIR-122 ", line=9)]
    )
    assert same_target == [
        "well B1 (miR-122) is in the file 2 times (lines 2, 9; Cq 25, no Cq): one reading per "
        "well and assay"
    ]


# --- the row cap (issue 17, item 5) ----------------------------------------------------


def test_a_table_of_more_readings_than_any_plate_is_refused_while_read():
    from biobank.instruments import ExportParseError, parse_export
    from biobank.instruments.decoding import MAX_READINGS

    from . import synthetic

    row = "True\t255\tA1\tS\t25.00\t\t0\t"
    assert len(parse_export(synthetic.lc480([row] * MAX_READINGS).encode()).wells) == 20_000
    with pytest.raises(ExportParseError) as refused:
        parse_export(synthetic.lc480([row] * (MAX_READINGS + 1)).encode())
    # Title on line 1, header on line 2: row 20,001 is line 20,003.
    assert str(refused.value).startswith(
        "line 20003: the file holds more than 20,000 readings; a plate export has at most"
    )


def test_an_rdml_of_more_readings_than_any_plate_is_refused():
    from biobank.instruments import ExportParseError, parse_export
    from biobank.instruments.decoding import MAX_READINGS

    from . import synthetic

    data = '<data><tar id="miR-21"/><cq>24.5</cq></data>' * (MAX_READINGS + 1)
    xml = synthetic.rdml_xml(reacts=f'<react id="1">{data}</react>').encode()
    with pytest.raises(ExportParseError, match="more than 20,000 readings"):
        parse_export(xml)
