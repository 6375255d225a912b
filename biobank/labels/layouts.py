"""Label kinds and the label stocks they print on.

A label is a code and a few lines of text (`Label`); a stock is the physical label: its
size, and for sheets how many sit on a page. Cryo labels are small: the common
thermal-transfer cryo labels for 1.5-2 ml tubes are about 1.28 x 0.5 in (32.5 x 12.7 mm)
and 1.0 x 0.5 in for cap and side, and laser sheets of the same size come 4 across an A4
or Letter page. A label too small for a legible Code 128 of its code gets a Data Matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

from .barcodes import CODE128, DATAMATRIX

MM_PER_INCH = 25.4


@dataclass(frozen=True)
class Label:
    code: str  # what the barcode holds, and the first line
    lines: tuple[str, ...] = ()  # study id, timepoint, volume, date, position…


@dataclass(frozen=True)
class Stock:
    key: str
    name: str
    width_mm: float
    height_mm: float
    symbology: str
    # Sheets: labels across and down a page, the page size and margins; a roll: 1 x 1,
    # one label a page (what thermal printers' drivers expect).
    across: int = 1
    down: int = 1
    page_mm: tuple[float, float] | None = None
    margin_mm: tuple[float, float] = (0, 0)
    gap_mm: tuple[float, float] = (0, 0)

    @property
    def is_sheet(self) -> bool:
        return self.page_mm is not None

    @property
    def per_page(self) -> int:
        return self.across * self.down


STOCKS = {
    stock.key: stock
    for stock in (
        Stock("cryo-32x13", "Cryo tube, 32.5 x 12.7 mm roll (1.28 x 0.5 in)", 32.5, 12.7, DATAMATRIX),
        Stock("cryo-25x13", "Cryo tube cap/side, 25.4 x 12.7 mm roll (1.0 x 0.5 in)", 25.4, 12.7, DATAMATRIX),
        Stock("tube-51x25", "Tube or box, 50.8 x 25.4 mm roll (2 x 1 in)", 50.8, 25.4, CODE128),
        Stock(
            "a4-cryo-32x13", "A4 sheet of cryo labels, 32.5 x 12.7 mm, 5 x 18", 32.5, 12.7, DATAMATRIX,
            across=5, down=18, page_mm=(210, 297), margin_mm=(12, 20), gap_mm=(6.5, 2.7),
        ),
        Stock(
            "a4-38x21", "A4 sheet, 38.1 x 21.2 mm, 5 x 13 (laser)", 38.1, 21.2, CODE128,
            across=5, down=13, page_mm=(210, 297), margin_mm=(4.7, 10.7), gap_mm=(2.5, 0),
        ),
    )
}  # fmt: skip
DEFAULT_STOCK = "cryo-32x13"


def stock_named(key: str | None) -> Stock:
    """The stock `key` names (the default when empty); a clear error naming the choices."""
    if not key:
        return STOCKS[DEFAULT_STOCK]
    if key not in STOCKS:
        raise ValueError(f"label stock {key!r} is not known; choose one of {', '.join(STOCKS)}")
    return STOCKS[key]
