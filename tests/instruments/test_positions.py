"""Every spelling of a well becomes 'A1'; impossible wells fail with a clear message."""

import re

import pytest

from biobank.instruments.base import ExportParseError
from biobank.instruments.positions import (
    column_number,
    infer_plate_size,
    normalise_position,
    plate_size_for_index,
    position_from_index,
    row_index,
    split_position,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A1", "A1"),
        ("A01", "A1"),
        ("a1", "A1"),
        (" a01 ", "A1"),
        ("A001", "A1"),
        ("H12", "H12"),
        ("P24", "P24"),
        ("p24", "P24"),
        ("B-7", "B7"),
    ],
)
def test_letter_number_spellings_are_canonical(text, expected):
    assert normalise_position(text) == expected


@pytest.mark.parametrize(
    ("text", "plate_size", "expected"),
    [
        ("1", 96, "A1"),
        ("12", 96, "A12"),
        ("13", 96, "B1"),
        ("96", 96, "H12"),
        ("25", 384, "B1"),
        ("384", 384, "P24"),
        ("007", 96, "A7"),
        ("A01", 96, "A1"),
    ],
)
def test_numeric_index_counts_row_by_row(text, plate_size, expected):
    assert normalise_position(text, plate_size) == expected


@pytest.mark.parametrize(
    ("text", "plate_size", "message"),
    [
        ("Z99", None, "well 'Z99' is not on a plate of up to 384 wells"),
        ("Q1", None, "rows A-P"),
        ("A25", None, "columns 1-24"),
        ("A0", None, "not on"),
        ("I1", 96, "not on a 96-well plate (rows A-H, columns 1-12)"),
        ("A13", 96, "columns 1-12"),
        ("97", 96, "well number 97 is not on a 8x12 plate"),
        ("0", 96, "well number 0"),
        ("5", None, "numeric well '5' needs a plate size"),
        ("", None, "'' is not a well position"),
        ("AA1", None, "not a well position"),
        ("A1B", None, "not a well position"),
    ],
)
def test_impossible_wells_raise_clear_errors(text, plate_size, message):
    with pytest.raises(ExportParseError, match=re.escape(message)):
        normalise_position(text, plate_size)


def test_unknown_plate_size_is_refused():
    with pytest.raises(ExportParseError, match="plate size 100 is not one of 48, 96, 384"):
        normalise_position("A1", 100)


def test_row_and_column_helpers_accept_any_spelling():
    assert split_position("c07") == ("C", 7)
    assert row_index("A1") == 0
    assert row_index("P24") == 15
    assert column_number("B012") == 12


def test_position_from_index_uses_the_given_geometry():
    assert position_from_index(9, rows=6, columns=8) == "B1"
    with pytest.raises(ExportParseError):
        position_from_index(49, rows=6, columns=8)


def test_plate_size_is_inferred_from_the_highest_row_and_column():
    assert infer_plate_size([]) is None
    assert infer_plate_size(["A1", "H12"]) == 96
    assert infer_plate_size(["A1", "I1"]) == 384
    assert infer_plate_size(["A13"]) == 384
    assert plate_size_for_index(96) == 96
    assert plate_size_for_index(97) == 384
    with pytest.raises(ExportParseError, match="beyond a 384-well plate"):
        plate_size_for_index(385)
