"""Sample sheets: a plate's layout written in each instrument's own plate-setup format.

The technician imports the sheet into the instrument software before the run, so the
sample names in the result file come back exactly as the layout has them (an RT
product's code, "NTC" for a no-template control: the names the import compares,
`biobank.services.plate_import.expected_name`). Names match by construction, not by
someone retyping 96 codes.

Like the parsers beside it, this module is bytes out of plain values, no database:
`biobank.selectors.plates.sample_sheet_wells` turns a plate into `SheetWell`s.

Where each format comes from:

* LightCycler 480 "Sample Information" text (`lc480_sample_information`): the tab-
  separated 'Section:Field' table the LightCycler 480 software (SW 1.5) exports from its
  Sample Editor and imports back; the columns and their order are those of the real
  export in ../shared/qpcr-exports/lc480-readqpcr-sampleinfo.txt (ReadqPCR's
  LC480_Example_SampleInfo.txt), which `lc480_sample_info.parse` reads; CRLF line
  ends, as in that file. Sample types are 'Target'/'Ref' + 'Unknown', 'Negative' or
  'PosCalibrator', as that file writes them; replicates point to their first well in
  'General:Repl. Of', the first one to itself, as there.
* Applied Biosystems 7500 Software v2 / QuantStudio Design & Analysis plate setup
  (`abi_plate_setup`): '* key = value' header lines, then a '[Sample Setup]' section
  whose columns are those of the [Sample Setup] section of the software's own text
  export (../shared/qpcr-exports/abi-quantstudio7flex-*.txt, ThermoFisher's bundled
  QS7 examples): Well (1-based number, row by row), Well Position, Sample Name, Sample
  Color, Biogroup Name, Biogroup Color, Target Name, Target Color, Task (UNKNOWN, NTC),
  Reporter, Quencher, Quantity, Comments. One row per well and target: a multiplex
  well has one row per reporter, as in that export. This is the file that File >
  Import Plate Setup reads back.
* Bio-Rad CFX Manager / CFX Maestro plate setup CSV (`cfx_plate_setup`): the
  'Row,Column,*Target Name,*Sample Name' sample-name template the Plate Editor imports
  (columns as written by public LIMS exporters for CFX/PrimePCR, e.g. the
  'Row,Column,*Target Name,*Sample Name,*Biological Group' files of RR-DSE's
  extra_protocol_2.py; not checked against the software here). The template carries no
  fluorophore, so a multiplex plate gets one file per fluor, imported with that fluor
  selected in the Plate Editor.

Spreadsheet formulas: a sheet is read by the instrument software, which evaluates
nothing, but a technician may open it in Excel first (the CFX one is a .csv). A name
beginning with =, +, - or @ would run there as a formula (OWASP "CSV Injection";
tabs and line breaks never reach a cell, `_clean` folds them). Such a name is refused
(SampleSheetError, naming the well), not escaped with a leading quote as the cohort
export does: the names must come back in the result file exactly as the layout has
them, and a quote typed into the instrument's sample name would come back with them.
RT codes and assay targets never begin so; only a hand-typed barcode or target could.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .positions import plate_geometry

# Per instrument, the reporter of each dye slot: a singleplex plate reads every assay
# in slot 0 (TaqMan miRNA assays are FAM-MGB); a multiplex well gives its n-th assay
# the n-th dye. LightCycler 480 names channels by filter combination (excitation-
# emission, nm): 465-510 is FAM/SYBR, 533-580 HEX/VIC, 533-610 Red 610, 618-660 Cy5.
ABI_DYES = ("FAM", "VIC", "ABY", "JUN")
CFX_DYES = ("FAM", "HEX", "Texas Red", "Cy5")
LC480_FILTERS = ("465-510", "533-580", "533-610", "618-660")
# First characters that make a spreadsheet read a cell as a formula (tab and CR cannot
# begin a cell here: _clean folds whitespace).
FORMULA_PREFIXES = ("=", "+", "-", "@")


class SampleSheetError(ValueError):
    """A layout that cannot be written as a sheet; the message names the well."""


@dataclass(frozen=True)
class SheetWell:
    """One well of the layout, as a sheet needs it (a multiplex position gives several)."""

    row: int  # 1-based
    column: int  # 1-based
    sample_name: str  # the RT product's code, 'NTC' for a no-template control
    target: str  # the assay's target, e.g. 'hsa-miR-122-5p'
    kind: str  # Well.Kind value: 'sample', 'ntc', 'calibrator', 'irc'
    reference: bool = False  # a reference (spike-in) assay rather than a target
    dye_slot: int = 0  # which dye of the instrument's list reads it
    replicate_of: str = ""  # position of the group's first replicate, '' when alone

    @property
    def position(self) -> str:
        return f"{'ABCDEFGHIJKLMNOP'[self.row - 1]}{self.column}"


def _ordered(wells: Iterable[SheetWell]) -> list[SheetWell]:
    """The wells in sheet order, refused if a name would run as a spreadsheet formula."""
    ordered = sorted(wells, key=lambda w: (w.row, w.column, w.dye_slot, w.target))
    for well in ordered:
        for what, name in (("sample name", well.sample_name), ("target", well.target)):
            _refuse_formula(name, f"Well {well.position}: the {what}")
    return ordered


def _refuse_formula(value: str, where: str) -> None:
    cleaned = _clean(value)
    if cleaned.startswith(FORMULA_PREFIXES):
        raise SampleSheetError(
            f"{where} {cleaned!r} begins with {cleaned[0]!r}, which a spreadsheet would "
            "run as a formula; rename it before writing a sample sheet"
        )


def _text(lines: Iterable[Sequence[str]], delimiter: str) -> bytes:
    """Rows joined with CRLF, the line end of every Windows instrument PC."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([_clean(cell) for cell in line] for line in lines)
    return buffer.getvalue().encode("utf-8")


def _clean(cell: str) -> str:
    """No tab, quote or line break inside a field: the instruments' readers split
    naively on the delimiter."""
    return " ".join(str(cell).replace('"', "'").split())


# --- Roche LightCycler 480 ----------------------------------------------------------

LC480_COLUMNS = (
    "General:Pos",
    "General:Sample Name",
    "General:Repl. Of",
    "General:Filt. Comb.",
    "General:Target Name",
    "Sample Preferences:Color",
    "Abs Quant:Concentration",
    "Rel Quant:Efficiency",
    "Rel Quant:Combined Sample/Target type",
)
LC480_SAMPLE_TYPES = {
    "sample": "Unknown",
    "ntc": "Negative",
    "calibrator": "PosCalibrator",
    "irc": "PosCalibrator",
    "standard": "Standard",
}
# Delphi colour constants, as the LightCycler writes them: one per kind of well.
_LC480_COLOURS = {
    "sample": "clBlue",
    "ntc": "clGray",
    "calibrator": "clRed",
    "irc": "clFuchsia",
    "standard": "clGreen",
}


def lc480_sample_type(well: SheetWell) -> str:
    """'Target Unknown', 'Ref Negative', 'Target PosCalibrator' ..."""
    return f"{'Ref' if well.reference else 'Target'} {LC480_SAMPLE_TYPES[well.kind]}"


def lc480_sample_information(wells: Iterable[SheetWell]) -> bytes:
    """The LightCycler 480 Sample Editor's "Sample Information" text, one row per
    well and filter combination."""
    rows = [
        (
            well.position,
            well.sample_name,
            well.replicate_of,
            LC480_FILTERS[well.dye_slot],
            well.target,
            _LC480_COLOURS[well.kind],
            "",
            "2.00",
            lc480_sample_type(well),
        )
        for well in _ordered(wells)
    ]
    return _text([LC480_COLUMNS, *rows], "\t")


# --- Applied Biosystems 7500 / QuantStudio ------------------------------------------

ABI_COLUMNS = (
    "Well",
    "Well Position",
    "Sample Name",
    "Sample Color",
    "Biogroup Name",
    "Biogroup Color",
    "Target Name",
    "Target Color",
    "Task",
    "Reporter",
    "Quencher",
    "Quantity",
    "Comments",
)
ABI_BLOCKS = {96: "96-Well Block (0.2mL)", 384: "384-Well Block"}
# Readable colours for the software's plate view, which wants one per sample and target.
_PALETTE = (
    (229, 118, 31),
    (31, 143, 146),
    (224, 169, 46),
    (140, 155, 59),
    (194, 91, 138),
    (91, 127, 194),
    (138, 91, 194),
    (176, 122, 74),
)


def _rgb(index: int) -> str:
    red, green, blue = _PALETTE[index % len(_PALETTE)]
    return f"RGB({red},{green},{blue})"


def abi_plate_setup(wells: Iterable[SheetWell], *, plate_size: int, experiment_name: str) -> bytes:
    """A 7500 Software v2 / QuantStudio "Import Plate Setup" text file."""
    _, columns = plate_geometry(plate_size)
    wells = _ordered(wells)
    samples = list(dict.fromkeys(w.sample_name for w in wells if w.kind != "ntc"))
    targets = list(dict.fromkeys(w.target for w in wells))
    header = [
        f"* Block Type = {ABI_BLOCKS[plate_size]}",
        "* Chemistry = TAQMAN",
        f"* Experiment Name = {_clean(experiment_name)}",
        "* Passive Reference = ROX",
        "",
        "[Sample Setup]",
    ]
    rows = [
        (
            str((well.row - 1) * columns + well.column),
            well.position,
            well.sample_name,
            "" if well.kind == "ntc" else _rgb(samples.index(well.sample_name)),
            "",
            "",
            well.target,
            _rgb(targets.index(well.target) + 3),
            {"ntc": "NTC", "standard": "STANDARD"}.get(well.kind, "UNKNOWN"),
            ABI_DYES[well.dye_slot],
            "NFQ-MGB",
            "",
            "",
        )
        for well in wells
    ]
    return ("\r\n".join(header) + "\r\n").encode("utf-8") + _text([ABI_COLUMNS, *rows], "\t")


# --- Bio-Rad CFX --------------------------------------------------------------------

CFX_COLUMNS = ("Row", "Column", "*Target Name", "*Sample Name")


def cfx_dye_slots(wells: Iterable[SheetWell]) -> list[int]:
    """The dye slots the layout uses: one CFX file each."""
    return sorted({well.dye_slot for well in wells})


def cfx_plate_setup(wells: Iterable[SheetWell], *, dye_slot: int = 0) -> bytes:
    """The CFX Plate Editor's sample-name CSV for one fluor (`CFX_DYES[dye_slot]`)."""
    rows = [
        (well.position[0], str(well.column), well.target, well.sample_name)
        for well in _ordered(wells)
        if well.dye_slot == dye_slot
    ]
    return _text([CFX_COLUMNS, *rows], ",")
