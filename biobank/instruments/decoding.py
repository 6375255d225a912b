"""Bytes to lines, and text to numbers, for every text export.

Instrument PCs write whatever their Windows locale gives: UTF-16 with a BOM, UTF-8,
cp1252; CRLF, LF or classic-Mac CR; decimal commas in Germany, thousands separators
in QuantStudio. Doing this once, here, keeps the parsers about columns only and makes
line numbers in error messages mean the same thing for every format.
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .base import ExportParseError

MAX_EXPORT_BYTES = 64 * 1024 * 1024  # far above any plate export; refuses runaway uploads
# Readings (table rows, RDML data elements) a file may hold: a 384-well plate in four
# dyes is 1,536, so 20,000 is already absurd; a file of 1.3 M rows is refused while it
# is read, not after building a million wells.
MAX_READINGS = 20_000

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_FALLBACK_ENCODINGS = ("utf-8", "cp1252", "latin-1")


@dataclass(frozen=True)
class DecodedText:
    """A decoded export: ``lines[0]`` is line 1; no line keeps its line terminator."""

    lines: tuple[str, ...]
    encoding: str
    line_endings: str  # 'CRLF' | 'LF' | 'CR' | 'mixed' | 'none'

    def numbered(self, start: int = 1) -> Iterable[tuple[int, str]]:
        """(line number, line) from 1-based line ``start`` on."""
        for index in range(max(start, 1) - 1, len(self.lines)):
            yield index + 1, self.lines[index]


def decode_export(data: bytes) -> DecodedText:
    """Decode an export and split it into lines, whatever its encoding and line endings."""
    if len(data) > MAX_EXPORT_BYTES:
        raise ExportParseError(
            f"file is {len(data)} bytes; exports over {MAX_EXPORT_BYTES} bytes are refused"
        )
    text, encoding = _decode(data)
    text = text.removeprefix("\ufeff")  # a second BOM, left by re-saving in an editor
    if not text.strip():
        raise ExportParseError("file is empty")
    return DecodedText(
        lines=tuple(_split_lines(text)),
        encoding=encoding,
        line_endings=_line_ending_style(text),
    )


def decode_head(data: bytes | str, limit: int = 16384) -> list[str]:
    """First lines of a file for sniffing; never raises, replaces undecodable bytes."""
    if isinstance(data, str):
        return _split_lines(data[:limit])
    head = data[:limit]
    encoding = _bom_encoding(head)
    if encoding:
        head = head[len(_bom_for(encoding)) :]
    else:
        encoding = _guess_bomless_utf16(head) or "utf-8"
    return _split_lines(head.decode(encoding, errors="replace"))


def _decode(data: bytes) -> tuple[str, str]:
    encoding = _bom_encoding(data)
    if encoding:
        body = data[len(_bom_for(encoding)) :]
        try:
            return body.decode(encoding), f"{encoding} with BOM"
        except UnicodeDecodeError as error:
            raise _decode_error(encoding, error) from None
    utf16 = _guess_bomless_utf16(data)
    if utf16:
        try:
            return data.decode(utf16), utf16
        except UnicodeDecodeError as error:
            raise _decode_error(utf16, error) from None
    for candidate in _FALLBACK_ENCODINGS:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _decode_error(encoding: str, error: UnicodeDecodeError) -> ExportParseError:
    return ExportParseError(
        f"file looks like {encoding} but byte {error.start} cannot be decoded "
        f"({error.reason}); is it truncated or saved in another encoding?"
    )


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def _bom_for(encoding: str) -> bytes:
    return next(bom for bom, name in _BOMS if name == encoding)


def _guess_bomless_utf16(data: bytes) -> str | None:
    """UTF-16 without BOM shows as a NUL byte in every other position of ASCII text."""
    sample = data[:512]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0) / len(sample[0::2])
    odd_nuls = sample[1::2].count(0) / len(sample[1::2])
    if odd_nuls > 0.6 and even_nuls < 0.1:
        return "utf-16-le"
    if even_nuls > 0.6 and odd_nuls < 0.1:
        return "utf-16-be"
    return None


def _split_lines(text: str) -> list[str]:
    # str.splitlines() would also split on \x0b, \x1c, \u2028...: instruments mean CR/LF only
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = normalised.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline does not start another line
    return lines


def _line_ending_style(text: str) -> str:
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    styles = [name for name, count in (("CRLF", crlf), ("CR", cr), ("LF", lf)) if count]
    if not styles:
        return "none"
    return styles[0] if len(styles) == 1 else "mixed"


# --- numbers -------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_COMMA_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_DOT_GROUPED = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")


@dataclass(frozen=True)
class NumberStyle:
    """How a file writes numbers: decimal point (default) or decimal comma.

    Detected once per file because '1,234' alone is ambiguous: it is 1234 in a
    QuantStudio export that groups thousands and 1.234 in a German LightCycler one.
    """

    decimal_comma: bool = False

    @classmethod
    def detect(cls, cells: Iterable[str], *, cq_cells: Iterable[str] = ()) -> NumberStyle:
        """Judge the style from a file's numeric cells.

        ``cq_cells`` are values known to be below 1000 (Cq), where '27,102' can only mean
        a decimal comma; in other cells it may be 27102 with a thousands separator.
        """
        for cell in cq_cells:
            value = _SPACES.sub("", cell)
            if "," in value and "." not in value and _DECIMAL_COMMA.fullmatch(value):
                return cls(decimal_comma=True)
        for cell in cells:
            value = _SPACES.sub("", cell)
            if "," not in value:
                continue
            if "." in value:
                if value.rfind(",") > value.rfind(".") and _DOT_GROUPED.fullmatch(value):
                    return cls(decimal_comma=True)  # 1.234,5
                continue  # 1,234.5: comma groups thousands
            if _COMMA_GROUPED.fullmatch(value):
                continue  # 1,234: ambiguous, look further
            if _DECIMAL_COMMA.fullmatch(value):
                return cls(decimal_comma=True)  # 22,78
        return cls(decimal_comma=False)

    def parse(self, text: str) -> float:
        """Parse a number in this style; ValueError naming the text when it is not one."""
        value = _SPACES.sub("", text)
        if self.decimal_comma:
            if "." in value and not _DOT_GROUPED.fullmatch(value):
                raise ValueError(f"{text!r} is not a number")
            value = value.replace(".", "").replace(",", ".")
        elif "," in value:
            if not _COMMA_GROUPED.fullmatch(value):
                raise ValueError(f"{text!r} is not a number")
            value = value.replace(",", "")
        if not _PLAIN_NUMBER.fullmatch(value):
            raise ValueError(f"{text!r} is not a number")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is too large")
        return number
