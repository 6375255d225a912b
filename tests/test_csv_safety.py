"""The formula escape is reversible for every string, and leaves numbers alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.csv_safety import FORMULA_PREFIXES, neutralise, restore


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_each_prefix_gets_a_quote(prefix):
    assert neutralise(prefix + "cmd|' /C calc'!A0") == "'" + prefix + "cmd|' /C calc'!A0"


@pytest.mark.parametrize("number", ["-1.5", "+3", "-2e-3", "-.5", "12", "-0"])
def test_plain_numbers_are_left_as_they_are(number):
    assert neutralise(number) == number


@pytest.mark.parametrize("text", ["", "P-001", "a=b", "'quoted", "''", "1-2"])
def test_harmless_text_is_left_as_it_is(text):
    assert neutralise(text) == text == restore(text)


@given(st.text(alphabet=st.sampled_from(["'", "=", "+", "-", "@", "\t", "\r", "1", ".", "a"])))
def test_restore_undoes_neutralise(text):
    written = neutralise(text)
    assert restore(written) == text
    assert written[:1] not in FORMULA_PREFIXES or written == text  # a plain number
