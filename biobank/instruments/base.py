"""Types shared by every instrument parser.

Parsers return plain frozen dataclasses (no Django, no database) so that they can be
tested against real exports in isolation and so the importer downstream decides what
to store. Every failure to read an input is an ``ExportParseError`` that says where
in the file the problem is, because the person fixing the file needs the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# Flags a ParsedWell may carry; the importer decides what each one means for the data.
UNDETERMINED = "undetermined"  # no Cq: the file says no amplification (cq is None)
EXCLUDED_IN_FILE = "excluded_in_file"  # the user excluded/omitted the well in the software
FLAGGED_IN_FILE = "flagged_in_file"  # the software flagged the well (ABI SDS 'Flagged')
LAYOUT_ONLY = "layout_only"  # a plate-layout file: there never was a Cq to read
RDML_NONDETECT_40 = "rdml_nondetect_40"  # RDML wrote the non-detect as Cq 40.0


class ExportParseError(ValueError):
    """Raised for any input that cannot be read; the message names line and column."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.reason = message
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        if self.line is None:
            return self.reason
        if self.column is None:
            return f"line {self.line}: {self.reason}"
        return f"line {self.line}, column {self.column}: {self.reason}"

    def located(self, *, line: int | None, column: int | None = None) -> ExportParseError:
        """Return a copy that also says where, keeping a location already known."""
        if self.line is not None:
            return self
        return ExportParseError(self.reason, line=line, column=column)


@dataclass(frozen=True)
class ParsedWell:
    """One Cq reading as the file states it; a well may appear several times."""

    position: str  # canonical 'A1'
    sample_name: str  # '' when the file has none
    target: str  # target / detector / assay name, '' when the file has none
    cq: float | None  # None = undetermined, never 0
    line: int  # 1-based line in the decoded file (0 for XML when unknown)
    run: str = ""  # run / plate name when a file holds several runs
    dye: str = ""
    flags: tuple[str, ...] = ()
    # A standard-curve well (dilution series) as the file marks it: LC480 'Standard',
    # ABI Task STANDARD, CFX Content 'Std-..', RDML sample type 'std'; with the known
    # quantity the file states (None when it states none) and its unit ('' = unstated).
    standard: bool = False
    quantity: float | None = None
    quantity_unit: str = ""

    @property
    def undetermined(self) -> bool:
        return self.cq is None


@dataclass(frozen=True)
class ParsedExport:
    """Everything a parser read from one export file."""

    format: str  # 'lc480' | 'lc480_sample_info' | 'abi' | 'biorad_cfx' | 'rdml'
    instrument: str  # human readable, e.g. 'Roche LightCycler 480'
    wells: tuple[ParsedWell, ...]
    plate_size: int | None
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def runs(self) -> list[str]:
        """Run names in file order, each once."""
        return list(dict.fromkeys(well.run for well in self.wells))


class ExportParser(Protocol):
    """What every format module exposes; the registry in ``__init__`` holds these."""

    FORMAT: str
    INSTRUMENT: str

    def sniff(self, data: bytes | str) -> bool: ...

    def parse(self, data: bytes) -> ParsedExport: ...
