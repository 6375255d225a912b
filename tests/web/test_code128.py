"""The Code 128 encoder against the standard: a known encoding, and a scanner's reading back."""

from __future__ import annotations

import pytest

from biobank.labels.code128 import PATTERNS, modules, svg, symbol_values


def decode(bits: str) -> str:
    """Read a module string back the way a scanner does: widths -> symbols -> text,
    checking the start, the check symbol and the stop on the way."""
    runs, current, width = [], bits[0], 0
    for bit in bits:
        if bit == current:
            width += 1
        else:
            runs.append(width)
            current, width = bit, 1
    runs.append(width)
    pattern_value = {pattern: value for value, pattern in enumerate(PATTERNS)}
    symbols = [
        pattern_value["".join(map(str, runs[i : i + 6]))] for i in range(0, len(runs) - 7, 6)
    ]
    assert "".join(map(str, runs[-7:])) == PATTERNS[106], "stop pattern"
    start, *data, check = symbols
    assert start == 104, "start B"
    assert check == (start + sum(i * v for i, v in enumerate(data, start=1))) % 103
    return "".join(chr(value + 32) for value in data)


def test_every_symbol_is_eleven_modules_and_the_stop_thirteen():
    assert len(PATTERNS) == 107 and len(set(PATTERNS)) == 107
    assert all(sum(map(int, p)) == 11 for p in PATTERNS[:106])
    assert sum(map(int, PATTERNS[106])) == 13


def test_wikipedia_encodes_as_the_standard_says():
    # The textbook example: 'Wikipedia' in code set B has check symbol 88 ('x').
    assert symbol_values("Wikipedia") == [104, 55, 73, 75, 73, 80, 69, 68, 73, 65, 88, 106]
    bits = modules("Wikipedia")
    assert bits.startswith("11010010000")  # Start B
    assert bits.endswith("1100011101011")  # Stop with its final bar
    assert len(bits) == 11 * 11 + 13


@pytest.mark.parametrize("text", ["P-001-PRE-01", "DEMO-075-POST-03", "a b~{|}", "0"])
def test_modules_decode_back_to_the_text(text):
    assert decode(modules(text)) == text


def test_text_outside_code_set_b_is_refused():
    with pytest.raises(ValueError, match="cannot encode"):
        symbol_values("µl")
    with pytest.raises(ValueError, match="at least one"):
        symbol_values("")


def test_svg_draws_one_rect_per_bar_and_escapes_the_caption():
    image = svg("A<B")
    bars = modules("A<B").replace("0", " ").split()
    assert image.count("<rect x=") == len(bars)
    assert "A&lt;B" in image and "A<B" not in image
