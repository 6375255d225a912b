"""The RT product code scheme: '<aliquot barcode>-RT<n>', n counting the tube's products."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biobank.domain.rt_codes import next_rt_code, rt_code, rt_number


def test_the_first_product_of_a_tube_is_rt1():
    assert next_rt_code("P-001-PRE-01", []) == "P-001-PRE-01-RT1"


def test_a_second_product_of_the_same_rna_counts_on():
    assert next_rt_code("P-001-PRE-01", ["P-001-PRE-01-RT1"]) == "P-001-PRE-01-RT2"


def test_numbers_never_come_round_twice():
    # RT2 deleted in the admin: the next is RT4, not a second RT3 or a new RT2.
    assert next_rt_code("AL-1", ["AL-1-RT1", "AL-1-RT3"]) == "AL-1-RT4"


def test_an_off_scheme_code_still_counts_as_a_product():
    # The older demo named products '<barcode>-RT'; a typed code likewise.
    assert next_rt_code("AL-1", ["AL-1-RT"]) == "AL-1-RT2"
    assert next_rt_code("AL-1", ["cDNA 7", "AL-1-RT1"]) == "AL-1-RT3"


def test_only_codes_of_this_tube_are_read_as_numbered():
    assert rt_number("AL-1", "AL-1-RT12") == 12
    assert rt_number("AL-1", "AL-10-RT2") is None
    assert rt_number("AL-1", "AL-1-RT01") is None
    assert rt_number("A.1", "AB1-RT1") is None  # the barcode is literal, not a pattern


@pytest.mark.parametrize("barcode, number", [("", 1), ("  ", 1), ("AL-1", 0)])
def test_nonsense_is_refused(barcode, number):
    with pytest.raises(ValueError):
        rt_code(barcode, number)


def test_a_code_too_long_for_the_database_is_refused():
    with pytest.raises(ValueError, match="longer than 64"):
        rt_code("X" * 61, 1)


@given(
    barcode=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40
    ),
    numbers=st.lists(st.integers(min_value=1, max_value=999), max_size=8),
)
def test_the_next_code_is_new_and_reads_back(barcode, numbers):
    existing = [rt_code(barcode, n) for n in numbers]
    code = next_rt_code(barcode, existing)
    assert code not in existing
    assert code.startswith(barcode + "-RT")
    assert rt_number(barcode, code) == max([len(existing), *numbers]) + 1
