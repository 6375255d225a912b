"""Barcodes drawn by a maintained library (reportlab's Code 128 and ECC 200 Data Matrix),
as inline SVG for the pages and as drawings for the PDF labels (biobank.labels.pdf).

reportlab's Code 128 picks code sets itself (C for digit runs, B for text), so a label
is as short as the standard allows; Data Matrix carries the same text in a square a
few millimetres wide, which fits the cap or the side of a 2 ml cryo tube where a linear
code does not. Both are what the bench scanners read and type back.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from reportlab.graphics.shapes import Drawing

# reportlab is imported where a barcode is drawn: the pages that show none, and every
# process start, do not pay for it (tests/test_startup.py).

CODE128 = "code128"
DATAMATRIX = "datamatrix"
SYMBOLOGIES = (CODE128, DATAMATRIX)
# Printable ASCII: what every code ExoTrack makes uses, and what a scanner types back
# unchanged on any keyboard layout.
PRINTABLE = re.compile(r"[\x20-\x7e]+")


def check_value(value: str) -> str:
    if not value:
        raise ValueError("a barcode needs at least one character")
    if not PRINTABLE.fullmatch(value):
        raise ValueError(f"{value!r}: a barcode can only hold printable ASCII characters")
    return value


def drawing(
    value: str, *, symbology: str = CODE128, bar_height: float = 30, caption: bool = False
) -> Drawing:
    """The barcode as a reportlab drawing (points), quiet zones included; `caption`
    prints the text under a Code 128."""
    from reportlab.graphics.barcode import createBarcodeDrawing

    check_value(value)
    if symbology == CODE128:
        return createBarcodeDrawing(
            "Code128", value=value, barHeight=bar_height, barWidth=1, humanReadable=caption
        )
    if symbology == DATAMATRIX:
        return createBarcodeDrawing("ECC200DataMatrix", value=value)
    raise ValueError(f"unknown symbology {symbology!r}; use one of {', '.join(SYMBOLOGIES)}")


_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_TITLE = re.compile(r"<title>.*?</title>\s*<desc>.*?</desc>", re.DOTALL)
# reportlab clips each image to its box through a clipPath with a fixed id: inline, many
# images on one page would share the first one's ids. The bars lie inside the box anyway.
_CLIP = re.compile(
    r'\s*<clipPath id="clip">.*?</clipPath>|\s*style="clip-path: url\(#clip\)"|\s*id="group"',
    re.DOTALL,
)


def svg(
    value: str, *, symbology: str = CODE128, height_px: float = 60, caption: bool = False
) -> str:
    """An inline SVG image of the barcode (no XML prolog, no element ids), labelled for
    screen readers, scaled by CSS without changing its bars (crisp edges for printing)."""
    from reportlab.graphics import renderSVG

    image = renderSVG.drawToString(
        drawing(value, symbology=symbology, bar_height=height_px, caption=caption)
    )
    image = _CLIP.sub("", _PROLOG.sub("", image, count=1))
    name = "Code 128" if symbology == CODE128 else "Data Matrix"
    label = escape(f"{name} barcode {value}", {'"': "&quot;"})
    image = _TITLE.sub(f"<title>{escape(value)}</title>", image, count=1)
    return image.replace(
        "<svg ",
        f'<svg class="barcode" role="img" aria-label="{label}" shape-rendering="crispEdges" ',
        1,
    )
