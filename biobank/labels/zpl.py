"""Labels as ZPL II for Zebra printers: the printer draws the barcodes itself (^BC Code
128, ^BX Data Matrix), so what is sent is a few hundred bytes a label. Sizes are in dots
(203 dpi: 8 dots/mm; 300 dpi: 11.8). Field data is written with ^FH so that '^', '~'
and '_' in a code are sent as hex escapes and can never be read as commands.
"""

from __future__ import annotations

from .barcodes import CODE128, check_value
from .layouts import MM_PER_INCH, Label, Stock

DPIS = (203, 300, 600)


def field_data(text: str) -> str:
    """^FH_ ^FD…^FS with ^, ~ and _ hex-escaped (ZPL II manual, ^FH)."""
    escaped = "".join(f"_{ord(char):02X}" if char in "^~_" else char for char in text)
    return f"^FH_^FD{escaped}^FS"


def labels_zpl(labels: list[Label], stock: Stock, *, dpi: int = 203) -> str:
    if dpi not in DPIS:
        raise ValueError(f"dpi: the printer's resolution is one of {', '.join(map(str, DPIS))}")
    dots = dpi / MM_PER_INCH

    def d(millimetres: float) -> int:
        return round(millimetres * dots)

    out = []
    for label in labels:
        check_value(label.code)
        width, height, pad = d(stock.width_mm), d(stock.height_mm), d(1)
        out += ["^XA", "^CI28", f"^PW{width}", f"^LL{height}", "^LH0,0"]
        if stock.symbology == CODE128:
            out += [f"^FO{pad},{pad}^BY1,2.0,{d(stock.height_mm * 0.45)}^BCN,,N,N,N,A"]
            out.append(field_data(label.code))
            text_x, text_y = pad, pad + d(stock.height_mm * 0.45) + d(1)
        else:
            side = height - 2 * pad
            module = max(1, side // 18)  # an 18 x 18 symbol holds a 16-character code
            out += [f"^FO{pad},{pad}^BXN,{module},200"]
            out.append(field_data(label.code))
            text_x, text_y = pad + side + d(1), pad
        lines = [label.code, *label.lines]
        size = max(d(1.6), min(d(2.6), (height - text_y - pad) // max(1, len(lines))))
        for number, line in enumerate(lines):
            y = text_y + number * size
            if y + size > height:
                break
            out.append(f"^FO{text_x},{y}^A0N,{size},{size}")
            out.append(field_data(line))
        out.append("^XZ")
    return "\n".join(out) + "\n"
