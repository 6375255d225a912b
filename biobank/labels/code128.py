"""Code 128 (ISO/IEC 15417), code set B, drawn as SVG.

Code set B covers printable ASCII, which is every barcode the biobank makes
(study id, timepoint and a number: 'DEMO-001-PRE-01'); the bench scanners read it
and type the same text back. Code set C would only shorten long digit runs, which
our barcodes do not have, so it is left out to keep the encoder easy to check.

A symbol is: start B, one symbol per character, the check symbol (the weighted sum
modulo 103), stop. Each symbol is six alternating bar and space widths in modules
(eleven modules in all; the stop has a seventh, final bar).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

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

START_B = 104
STOP = 106
QUIET_ZONE_MODULES = 10  # the standard's minimum blank margin on each side


def symbol_values(text: str) -> list[int]:
    """Start B, the characters, the check symbol and stop, as symbol values."""
    if not text:
        raise ValueError("Code 128 needs at least one character")
    bad = sorted({char for char in text if not 32 <= ord(char) <= 127})
    if bad:
        raise ValueError(f"Code 128 set B cannot encode {''.join(bad)!r}")
    data = [ord(char) - 32 for char in text]
    check = (START_B + sum(weight * value for weight, value in enumerate(data, start=1))) % 103
    return [START_B, *data, check, STOP]


def module_widths(text: str) -> list[int]:
    """Alternating bar and space widths of the whole symbol, bar first, no quiet zone."""
    return [int(width) for value in symbol_values(text) for width in PATTERNS[value]]


def modules(text: str) -> str:
    """The symbol as '1' (bar) and '0' (space) modules, handy for tests."""
    return "".join(
        ("1" if index % 2 == 0 else "0") * width for index, width in enumerate(module_widths(text))
    )


def svg(text: str, *, module_px: float = 2, height_px: float = 60, caption: bool = True) -> str:
    """An SVG image of the barcode, with the quiet zone and, below it, the text.

    Bars are whole `rect`s with crisp edges so that a label printer does not blur
    them; the size is in user units, so CSS can scale the image without changing it.
    """
    widths = module_widths(text)
    total = sum(widths) + 2 * QUIET_ZONE_MODULES
    text_px = 14 if caption else 0
    bars, x = [], QUIET_ZONE_MODULES
    for index, width in enumerate(widths):
        if index % 2 == 0:
            bars.append(
                f'<rect x="{x * module_px:g}" y="0" width="{width * module_px:g}" '
                f'height="{height_px:g}"/>'
            )
        x += width
    width_px, full_height = total * module_px, height_px + text_px
    label = (
        f'<text x="{width_px / 2:g}" y="{full_height - 2:g}" text-anchor="middle" '
        f'font-family="monospace" font-size="12">{escape(text)}</text>'
        if caption
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="barcode" role="img" '
        f'aria-label="Code 128 barcode {escape(text, {chr(34): "&quot;"})}" '
        f'width="{width_px:g}" height="{full_height:g}" '
        f'viewBox="0 0 {width_px:g} {full_height:g}" shape-rendering="crispEdges">'
        f'<rect width="100%" height="100%" fill="#fff"/><g fill="#000">{"".join(bars)}</g>'
        f"{label}</svg>"
    )
