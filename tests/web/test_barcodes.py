"""Barcodes from reportlab read back the way a scanner does, against the Code 128
standard's own table (ISO/IEC 15417): a library can be wrong too (issue 15)."""

from __future__ import annotations

import re

import pytest

from biobank.labels.barcodes import DATAMATRIX, drawing, svg

# Bar/space widths of symbol values 0..106, bar first (the standard's table).
PATTERNS = [
    "212222",
    "222122",
    "222221",
    "121223",
    "121322",
    "131222",
    "122213",
    "122312",
    "132212",
    "221213",
    "221312",
    "231212",
    "112232",
    "122132",
    "122231",
    "113222",
    "123122",
    "123221",
    "223211",
    "221132",
    "221231",
    "213212",
    "223112",
    "312131",
    "311222",
    "321122",
    "321221",
    "312212",
    "322112",
    "322211",
    "212123",
    "212321",
    "232121",
    "111323",
    "131123",
    "131321",
    "112313",
    "132113",
    "132311",
    "211313",
    "231113",
    "231311",
    "112133",
    "112331",
    "132131",
    "113123",
    "113321",
    "133121",
    "313121",
    "211331",
    "231131",
    "213113",
    "213311",
    "213131",
    "311123",
    "311321",
    "331121",
    "312113",
    "312311",
    "332111",
    "314111",
    "221411",
    "431111",
    "111224",
    "111422",
    "121124",
    "121421",
    "141122",
    "141221",
    "112214",
    "112412",
    "122114",
    "122411",
    "142112",
    "142211",
    "241211",
    "221114",
    "413111",
    "241112",
    "134111",
    "111242",
    "121142",
    "121241",
    "114212",
    "124112",
    "124211",
    "411212",
    "421112",
    "421211",
    "212141",
    "214121",
    "412121",
    "111143",
    "111341",
    "131141",
    "114113",
    "114311",
    "411113",
    "411311",
    "113141",
    "114131",
    "311141",
    "411131",
    "211412",
    "211214",
    "211232",
    "2331112",
]

START = {103: "A", 104: "B", 105: "C"}
SWITCH = {99: "C", 100: "B", 101: "A"}


def bar_runs(image: str) -> list[int]:
    """Alternating bar and space widths (in modules) from the SVG's bar rectangles."""
    bars = sorted(
        (float(x), float(width))
        for x, width, fill in re.findall(
            r'<rect x="([\d.]+)" y="0" width="([\d.]+)" height="[\d.]+" style="[^"]*fill: ([^;]+);',
            image,
        )
        if fill != "none"
    )
    runs, end = [], None
    for x, width in bars:
        if end is not None:
            runs.append(round(x - end))
        runs.append(round(width))
        end = x + width
    return runs


def decode(runs: list[int]) -> str:
    """Widths -> symbols -> text, checking the start, the check symbol and the stop."""
    table = {pattern: value for value, pattern in enumerate(PATTERNS)}
    assert "".join(map(str, runs[-7:])) == PATTERNS[106], "stop pattern"
    symbols = [table["".join(map(str, runs[i : i + 6]))] for i in range(0, len(runs) - 7, 6)]
    start, *data, check = symbols
    assert check == (start + sum(i * v for i, v in enumerate(data, start=1))) % 103, "check"
    code_set, text = START[start], []
    for value in data:
        if value in SWITCH and not (code_set == "C" and value == 99):
            code_set = SWITCH[value]
        elif code_set == "C":
            text.append(f"{value:02d}")
        elif code_set == "B":
            text.append(chr(value + 32))
        else:
            text.append(chr(value + 32) if value < 64 else chr(value - 64))
    return "".join(text)


@pytest.mark.parametrize(
    "text", ["P-001-PRE-01", "DEMO-075-POST-03", "a b~{|}", "0", "12345678", "RT-HCC-0042-RT1"]
)
def test_code128_reads_back_as_the_text(text):
    assert decode(bar_runs(svg(text))) == text


def test_every_symbol_of_the_reference_table_is_eleven_modules():
    assert len(PATTERNS) == 107 and len(set(PATTERNS)) == 107
    assert all(sum(map(int, p)) == 11 for p in PATTERNS[:106])


def test_inline_images_carry_no_ids_and_say_what_they_are():
    image = svg("A<B", caption=True)
    assert image.startswith("<svg ") and " id=" not in image
    assert 'aria-label="Code 128 barcode A&lt;B"' in image
    assert "<title>A&lt;B</title>" in image and "A<B" not in image


def test_data_matrix_is_a_square_symbol():
    square = drawing("DEMO-001-PRE-01", symbology=DATAMATRIX)
    assert square.width == square.height > 0
    assert 'aria-label="Data Matrix barcode P-1"' in svg("P-1", symbology=DATAMATRIX)


@pytest.mark.parametrize("bad", ["", "µl", "line\nbreak"])
def test_what_a_barcode_cannot_hold_is_refused(bad):
    with pytest.raises(ValueError, match="barcode"):
        svg(bad)
