"""Readers for qPCR instrument exports: bytes in, ``ParsedExport`` out, no database.

One module per format, each exposing ``FORMAT``, ``INSTRUMENT``, ``sniff(data)`` and
``parse(data)``; ``FORMATS`` registers them and ``parse_export`` picks one by sniffing
the bytes, so an upload works whatever the user named the file.
"""

from __future__ import annotations

from . import abi, biorad_cfx, lc480, lc480_sample_info, rdml
from .base import ExportParseError, ExportParser, ParsedExport, ParsedWell
from .positions import normalise_position

# Sniffing order matters: the most specific formats first (an ABI-style header check
# would also accept a Bio-Rad header, and a Sample Information file is not a Cp file).
FORMATS: dict[str, ExportParser] = {
    module.FORMAT: module  # type: ignore[misc]
    for module in (rdml, lc480_sample_info, lc480, biorad_cfx, abi)
}

__all__ = [
    "FORMATS",
    "ExportParseError",
    "ParsedExport",
    "ParsedWell",
    "normalise_position",
    "parse_export",
    "sniff_format",
]


def sniff_format(data: bytes, filename: str | None = None) -> str:
    """Name of the format ``data`` is in; ExportParseError when no parser recognises it."""
    for name, parser in FORMATS.items():
        if parser.sniff(data):
            return name
    described = f"{filename!r}" if filename else "the file"
    if not data.strip():
        raise ExportParseError(f"unrecognised export: {described} is empty")
    known = ", ".join(FORMATS)
    raise ExportParseError(
        f"unrecognised export: {described} is none of the supported formats ({known})"
    )


def parse_export(data: bytes, *, format: str = "auto", filename: str | None = None) -> ParsedExport:
    """Parse an export; ``format`` 'auto' sniffs it, otherwise names a key of FORMATS."""
    if format == "auto":
        format = sniff_format(data, filename)
    parser = FORMATS.get(format)
    if parser is None:
        known = ", ".join(["auto", *FORMATS])
        raise ExportParseError(f"unknown export format {format!r}; choose one of {known}")
    return parser.parse(data)
