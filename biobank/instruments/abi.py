"""Applied Biosystems results exports: 7500 / 7900HT (SDS) and QuantStudio text files.

All of them are a header block (SDS: 'key<TAB>value' lines; QuantStudio: '* key = value'
lines), then a results table with Well/Pos, Sample Name, Target Name or Detector and a
CT/Ct/Cq column. QuantStudio splits the body into '[Section]'s and only [Results] holds
Cts; SDS files may hold several tables and end with a footer, so every results table
found is read and anything else is left alone.
"""

from __future__ import annotations

import re

from .base import (
    EXCLUDED_IN_FILE,
    FLAGGED_IN_FILE,
    ExportParseError,
    ParsedExport,
    ParsedWell,
)
from .decoding import DecodedText, decode_export, decode_head
from .positions import PLATE_GEOMETRY, infer_plate_size, plate_size_for_index
from .tables import (
    Header,
    Row,
    WellColumns,
    find_header,
    head_has_header,
    header_key,
    is_section_marker,
    number_style,
    split_fields,
    table_rows,
    text_metadata,
    well_from_row,
)

FORMAT = "abi"
INSTRUMENT = "Applied Biosystems 7500 / 7900HT / QuantStudio"

_POSITION_COLUMNS = ("Well Position", "Pos", "Well")  # in order of preference
_CQ_COLUMNS = ("Ct", "Cq")
_SAMPLE_COLUMNS = ("Sample Name", "Sample")
_TARGET_COLUMNS = ("Target Name", "Detector", "Detector Name", "Target")
_DYE_COLUMNS = ("Reporter", "Reporter Dye")
_RUN_COLUMNS = ("Plate", "Plate Name")
_QUANTITY_COLUMNS = ("Quantity", "Qty", "Ct Mean", "Quantity Mean")
_DELIMITERS = ("\t", ",", ";")
_KEY_VALUE = re.compile(r"\*\s*(?P<key>[^=]*?)\s*=\s?(?P<value>.*?)\s*")
_BLOCK_SIZE = re.compile(r"(\d+)\s*-?\s*well", re.IGNORECASE)
_SNIFF_LINES = 60
_WELL_NUMBER = re.compile(r"[0-9]{1,6}")


def _is_results_header(header: Header) -> bool:
    return (
        any(header.has(name) for name in _POSITION_COLUMNS)
        and header.has(*_CQ_COLUMNS)
        and header.has(*_SAMPLE_COLUMNS, *_TARGET_COLUMNS)
    )


def sniff(data: bytes | str) -> bool:
    lines = decode_head(data)[:_SNIFF_LINES]
    if not lines:
        return False
    if lines[0].startswith("SDS ") or _KEY_VALUE.fullmatch(lines[0]):
        return True
    if any(_section_name(line) == "results" for line in lines):
        return True
    return head_has_header(data, _is_results_header, delimiters=_DELIMITERS, lines=_SNIFF_LINES)


def parse(data: bytes) -> ParsedExport:
    text = decode_export(data)
    blocks = _results_tables(text)
    if not blocks:
        where = " in the [Results] section" if _has_sections(text) else ""
        raise ExportParseError(
            "no Applied Biosystems results table: expected a header with Well or Pos, "
            f"Sample Name, Target Name or Detector, and CT or Cq columns{where}"
        )
    metadata = text_metadata(text) | _header_metadata(text, blocks[0][0].line)
    plate_size = _declared_plate_size(metadata)
    warnings: list[str] = []
    wells: list[ParsedWell] = []
    for number, (header, rows) in enumerate(blocks, start=1):
        if not rows:
            raise ExportParseError(
                "the results header is not followed by any well", line=header.line
            )
        warnings += [
            f"line {header.line}: column {name!r} appears more than once; the first is read"
            for name in header.duplicated()
        ]
        columns = _well_columns(header)
        if plate_size is None:
            plate_size = _plate_size_of_numbered_wells(rows, columns.position, warnings)
        run = f"run {number}" if len(blocks) > 1 else ""
        wells += _read_table(header, rows, columns, plate_size, run)
    return ParsedExport(
        format=FORMAT,
        instrument=_instrument(text, metadata),
        wells=tuple(wells),
        plate_size=plate_size or infer_plate_size(well.position for well in wells),
        metadata=metadata,
        warnings=tuple(warnings),
    )


def _read_table(
    header: Header, rows: list[Row], columns: WellColumns, plate_size: int | None, run: str
) -> list[ParsedWell]:
    quantities = [header.index(name) for name in _QUANTITY_COLUMNS]
    style = number_style(rows, columns.cq, quantities)
    omit, flag = header.index("Omit"), header.index("Flag")
    task = header.index("Task")
    return [
        well_from_row(
            row,
            header,
            columns,
            style,
            plate_size=plate_size,
            run=run,
            flags=_row_flags(row, omit, flag),
            standard=row.cell(task).casefold() == "standard",
        )
        for row in rows
    ]


def _row_flags(row: Row, omit: int | None, flag: int | None) -> tuple[str, ...]:
    flags = []
    if row.cell(omit).casefold() == "true":
        flags.append(EXCLUDED_IN_FILE)
    if row.cell(flag).casefold() == "flagged":
        flags.append(FLAGGED_IN_FILE)
    return tuple(flags)


def _well_columns(header: Header) -> WellColumns:
    position = next(header.index(name) for name in _POSITION_COLUMNS if header.has(name))
    return WellColumns(
        position=position,
        cq=header.require(*_CQ_COLUMNS),
        sample=header.index(*_SAMPLE_COLUMNS),
        target=header.index(*_TARGET_COLUMNS),
        dye=header.index(*_DYE_COLUMNS),
        run=header.index(*_RUN_COLUMNS),
        quantity=header.index("Quantity", "Qty"),
    )


def _results_tables(text: DecodedText) -> list[tuple[Header, list[Row]]]:
    """Every results table, in file order; with sections, only those in [Results]."""
    tables = []
    for start, stop in _search_ranges(text):
        while start <= stop:
            header = find_header(
                text, _is_results_header, delimiters=_DELIMITERS, start=start, stop=stop
            )
            if header is None:
                break
            rows = table_rows(text, header)
            tables.append((header, rows))
            start = (rows[-1].line if rows else header.line) + 1
    return tables


def _search_ranges(text: DecodedText) -> list[tuple[int, int]]:
    if not _has_sections(text):
        return [(1, len(text.lines))]
    ranges = []
    markers = [n for n, line in text.numbered() if is_section_marker(line)]
    for index, marker in enumerate(markers):
        if _section_name(text.lines[marker - 1]) == "results":
            end = markers[index + 1] - 1 if index + 1 < len(markers) else len(text.lines)
            ranges.append((marker + 1, end))
    return ranges


def _has_sections(text: DecodedText) -> bool:
    return any(is_section_marker(line) for line in text.lines)


def _section_name(line: str) -> str | None:
    return header_key(line.strip()[1:-1]) if is_section_marker(line) else None


def _header_metadata(text: DecodedText, first_header_line: int) -> dict[str, str]:
    """'* key = value' and 'key<TAB>value' lines above the first table or section."""
    metadata: dict[str, str] = {}
    for number, line in text.numbered():
        if number >= first_header_line or is_section_marker(line):
            break
        key, value = _key_value(line, number)
        if key:
            previous = metadata.get(key)
            metadata[key] = f"{previous}; {value}" if previous else value
    return metadata


def _key_value(line: str, number: int) -> tuple[str, str]:
    match = _KEY_VALUE.fullmatch(line)
    if match:
        return match.group("key"), match.group("value")
    delimiter = next((d for d in _DELIMITERS if d in line), None)
    if delimiter is None:
        return "", ""
    fields = [field.strip() for field in split_fields(line, delimiter, line_number=number)]
    key = fields[0] if fields else ""
    return key, " ".join(field for field in fields[1:] if field)


def _declared_plate_size(metadata: dict[str, str]) -> int | None:
    match = _BLOCK_SIZE.search(metadata.get("Block Type", ""))
    size = int(match.group(1)) if match else None
    return size if size in PLATE_GEOMETRY else None


def _plate_size_of_numbered_wells(
    rows: list[Row], position_column: int, warnings: list[str]
) -> int | None:
    """A table that names wells only by number needs a plate size; assume the smallest."""
    cells = [row.cell(position_column) for row in rows]
    if not cells or not all(_WELL_NUMBER.fullmatch(cell) for cell in cells):
        return None
    size = plate_size_for_index(max(int(cell) for cell in cells))
    warnings.append(f"wells are numbered and the file gives no block type: read as {size}-well")
    return size


def _instrument(text: DecodedText, metadata: dict[str, str]) -> str:
    model = metadata.get("Instrument Type", "")
    if model:
        return model if model.startswith("Applied") else f"Applied Biosystems {model}"
    first = text.lines[0].split("\t")[0].strip()
    if first.startswith("SDS "):
        return f"Applied Biosystems ({first})"
    return "Applied Biosystems"
