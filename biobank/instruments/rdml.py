"""RDML (Real-time PCR Data Markup Language, the MIQE exchange format) v1.0 to v1.2.

An .rdml file is a zip holding one XML document (usually rdml_data.xml, but Bio-Rad
names it after the run); plain XML is accepted too. Some exporters write a non-detect
as Cq 40.0 (StepOne) and others leave <cq> out (CFX): both become undetermined with a
flag, never a number, because a 40 would read as a trace of miRNA.

Only the standard library is used, so entity-expansion attacks are stopped by refusing
any DOCTYPE: RDML never needs one.
"""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass
from xml.parsers import expat

from .base import (
    EXCLUDED_IN_FILE,
    RDML_NONDETECT_40,
    UNDETERMINED,
    ExportParseError,
    ParsedExport,
    ParsedWell,
)
from .decoding import MAX_EXPORT_BYTES, MAX_READINGS, NumberStyle, decode_head
from .positions import (
    PLATE_GEOMETRY,
    ROW_LETTERS,
    infer_plate_size,
    normalise_position,
    plate_size_for_index,
    position_from_index,
)
from .tables import too_many_readings
from .values import read_cq

FORMAT = "rdml"
INSTRUMENT = "RDML export"

# Local file header; Bio-Rad's CFX writes a "spanned archive" marker (PK 07 08) first.
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x07\x08PK\x03\x04", b"PK\x05\x06")
_RDML_ROOT = re.compile(r"<(?:[\w.-]+:)?rdml[\s>/]")
_PLATE_TEXT = re.compile(r"(\d+)\s*-?\s*well", re.IGNORECASE)
_REACT_NUMBER = re.compile(r"[0-9]{1,6}")
_NONDETECT_CQ = 40.0
_MAX_COLUMNS = 100  # rotor-style formats are one row of up to 100 tubes
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)
_XML_STYLE = NumberStyle()  # xsd:double always uses a decimal point


def sniff(data: bytes | str) -> bool:
    if isinstance(data, bytes) and data.startswith(_ZIP_MAGICS):
        return True  # no other supported export is a zip; parse() says if it is not RDML
    head = "\n".join(decode_head(data, limit=4096))
    return bool(_RDML_ROOT.search(head))


def parse(data: bytes) -> ParsedExport:
    if not data.strip():
        raise ExportParseError("file is empty")
    xml, inner_name = _unzip(data) if data.startswith(_ZIP_MAGICS) else (data, "")
    document = _XmlDocument.parse(xml)
    root = document.root
    if root.tag != "rdml":
        raise ExportParseError(f"the XML root element is <{root.tag}>, not <rdml>", line=1)
    version = root.get("version", "")
    dyes = {target.get("id", ""): _dye_of(target) for target in root.iter("target")}
    standards = _standards(root, document)
    warnings: list[str] = []
    wells: list[ParsedWell] = []
    plate_sizes: list[int] = []
    readings = sum(1 for _ in root.iter("data"))
    if readings > MAX_READINGS:
        raise too_many_readings()
    for run_name, run in _runs(root):
        plate_size, geometry = _run_format(run, document, warnings, run_name)
        if plate_size:
            plate_sizes.append(plate_size)
        wells += _run_wells(run, run_name, geometry, plate_size, dyes, document, standards)
    nondetects = sum(1 for well in wells if RDML_NONDETECT_40 in well.flags)
    if nondetects:
        warnings.append(
            f"{nondetects} wells with Cq 40.0 read as undetermined (non-detect written as 40)"
        )
    metadata = _metadata(root, inner_name)
    return ParsedExport(
        format=FORMAT,
        instrument=_instrument(metadata, version),
        wells=tuple(wells),
        plate_size=plate_sizes[0] if plate_sizes else infer_plate_size(w.position for w in wells),
        metadata=metadata,
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class _XmlDocument:
    """Element tree without namespaces, plus the line each element started on."""

    root: ET.Element
    lines: dict[int, int]  # id(element) -> line; the tree keeps the elements alive

    def line(self, element: ET.Element | None) -> int:
        return self.lines.get(id(element), 0) if element is not None else 0

    @classmethod
    def parse(cls, xml: bytes) -> _XmlDocument:
        builder = ET.TreeBuilder()
        lines: dict[int, int] = {}
        parser = expat.ParserCreate(namespace_separator=" ")

        def start(name: str, attributes: dict[str, str]) -> None:
            local = {_local(key): value for key, value in attributes.items()}
            lines[id(builder.start(_local(name), local))] = parser.CurrentLineNumber

        def refuse_doctype(*_args: object) -> None:
            raise ExportParseError(
                "XML with a DOCTYPE is refused (RDML needs none, and it can hide entity bombs)",
                line=parser.CurrentLineNumber,
            )

        parser.StartElementHandler = start
        parser.EndElementHandler = lambda name: builder.end(_local(name))
        parser.CharacterDataHandler = builder.data
        parser.StartDoctypeDeclHandler = refuse_doctype
        parser.EntityDeclHandler = refuse_doctype
        parser.buffer_text = True
        try:
            parser.Parse(xml, True)
        except expat.ExpatError as error:
            raise ExportParseError(
                f"not well-formed XML ({expat.ErrorString(error.code)})",
                line=error.lineno,
                column=error.offset + 1,
            ) from None
        except ExportParseError:
            raise
        except (LookupError, ValueError) as error:  # encoding="..." Python cannot decode
            raise ExportParseError(f"the XML encoding cannot be read ({error})") from None
        return cls(builder.close(), lines)


def _local(name: str) -> str:
    return name.rsplit(" ", 1)[-1]


def _unzip(data: bytes) -> tuple[bytes, str]:
    """The RDML XML inside an .rdml zip: rdml_data.xml, or the only .xml member."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = _rdml_member(archive)
            with archive.open(member) as stream:
                xml = stream.read(MAX_EXPORT_BYTES + 1)
    except ExportParseError:
        raise
    except _ZIP_ERRORS as error:  # corrupt, truncated, encrypted, unknown compression
        raise ExportParseError(f"cannot read the RDML zip archive: {error}") from None
    if len(xml) > MAX_EXPORT_BYTES:
        raise ExportParseError(f"{member.filename} unpacks to more than {MAX_EXPORT_BYTES} bytes")
    return xml, member.filename


def _rdml_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [info for info in archive.infolist() if info.filename.endswith(".xml")]
    for member in members:
        if member.filename == "rdml_data.xml":
            return member
    if len(members) != 1:
        found = ", ".join(member.filename for member in members) or "none"
        raise ExportParseError(
            f"the zip archive should hold rdml_data.xml or one .xml file (found: {found})"
        )
    return members[0]


def _runs(root: ET.Element) -> list[tuple[str, ET.Element]]:
    """(name, run) pairs; the run id alone unless two experiments reuse it."""
    pairs = [
        (experiment.get("id", ""), run)
        for experiment in root.findall("experiment")
        for run in experiment.findall("run")
    ]
    run_ids = [run.get("id", "") for _, run in pairs]
    unique = len(set(run_ids)) == len(run_ids)
    return [
        (run.get("id", "") if unique else f"{experiment}/{run.get('id', '')}", run)
        for experiment, run in pairs
    ]


def _run_format(
    run: ET.Element, document: _XmlDocument, warnings: list[str], run_name: str
) -> tuple[int | None, tuple[int, int] | None]:
    """(plate size, (rows, columns)) from <pcrFormat>; numbered reacts need the geometry."""
    pcr_format = run.find("pcrFormat")
    if pcr_format is not None and pcr_format.find("columns") is not None:  # RDML >= 1.1
        rows = _dimension(pcr_format.find("rows"), len(ROW_LETTERS), document)
        columns = _dimension(pcr_format.find("columns"), _MAX_COLUMNS, document)
        return rows * columns, (rows, columns)
    text = (pcr_format.text or "") if pcr_format is not None else ""  # RDML 1.0: free text
    match = _PLATE_TEXT.search(text)
    if match and int(match.group(1)) in PLATE_GEOMETRY:
        size = int(match.group(1))
        return size, PLATE_GEOMETRY[size]
    numbers = [react.get("id", "").strip() for react in run.findall("react")]
    if numbers and all(_REACT_NUMBER.fullmatch(number) for number in numbers):
        size = plate_size_for_index(max(int(number) for number in numbers))
        warnings.append(f"run {run_name!r} numbers its wells without a plate format: {size}-well")
        return size, PLATE_GEOMETRY[size]
    return None, None


def _dimension(element: ET.Element | None, largest: int, document: _XmlDocument) -> int:
    text = (element.text or "").strip() if element is not None else ""
    if not (_REACT_NUMBER.fullmatch(text) and 1 <= int(text) <= largest):
        raise ExportParseError(
            f"pcrFormat rows/columns {text!r} is not a plate dimension (1-{largest})",
            line=document.line(element) or None,
        )
    return int(text)


def _run_wells(
    run: ET.Element,
    run_name: str,
    geometry: tuple[int, int] | None,
    plate_size: int | None,
    dyes: dict[str, str],
    document: _XmlDocument,
    standards: dict[str, tuple[float | None, str]],
) -> list[ParsedWell]:
    wells = []
    for react in run.findall("react"):
        position = _react_position(react, geometry, plate_size, document)
        sample = react.find("sample")
        sample_name = sample.get("id", "") if sample is not None else ""
        standard = standards.get(sample_name) if sample_name in standards else None
        for data in react.findall("data"):
            tar = data.find("tar")
            target = tar.get("id", "") if tar is not None else ""
            cq_element = data.find("cq")
            line = document.line(cq_element) or document.line(data)
            cq, flags = _read_cq(cq_element, line)
            if data.find("excl") is not None:
                flags += (EXCLUDED_IN_FILE,)
            wells.append(
                ParsedWell(
                    position=position,
                    sample_name=sample_name,
                    target=target,
                    cq=cq,
                    line=line,
                    run=run_name,
                    dye=dyes.get(target, ""),
                    flags=flags,
                    standard=standard is not None,
                    quantity=standard[0] if standard else None,
                    quantity_unit=standard[1] if standard else "",
                )
            )
    return wells


def _standards(root: ET.Element, document: _XmlDocument) -> dict[str, tuple[float | None, str]]:
    """Sample id -> (quantity, unit) of every <sample> of type 'std' (a dilution-series
    point); quantity None when the sample states none. A quantity that is not a positive
    number is refused with its line."""
    found = {}
    for sample in root.findall("sample"):
        if (sample.findtext("type") or "").strip().casefold() != "std":
            continue
        value = sample.find("quantity/value")
        quantity = None
        if value is not None and (value.text or "").strip():
            text = value.text.strip()
            try:
                quantity = _XML_STYLE.parse(text)
            except ValueError:
                quantity = math.nan
            if not (math.isfinite(quantity) and quantity > 0):
                raise ExportParseError(
                    f"sample {sample.get('id', '')!r}: standard quantity {text!r} is not a "
                    "positive number",
                    line=document.line(value) or None,
                )
        unit = (sample.findtext("quantity/unit") or "").strip()
        found[sample.get("id", "")] = (quantity, unit)
    return found


def _react_position(
    react: ET.Element,
    geometry: tuple[int, int] | None,
    plate_size: int | None,
    document: _XmlDocument,
) -> str:
    react_id = react.get("id", "").strip()
    try:
        if geometry and _REACT_NUMBER.fullmatch(react_id):
            rows, columns = geometry
            return position_from_index(int(react_id), rows=rows, columns=columns)
        return normalise_position(react_id, plate_size)
    except ExportParseError as error:
        raise error.located(line=document.line(react) or None) from None


def _read_cq(element: ET.Element | None, line: int) -> tuple[float | None, tuple[str, ...]]:
    text = element.text if element is not None else None
    try:
        cq = read_cq(text, _XML_STYLE, "cq")
    except ExportParseError as error:
        raise error.located(line=line or None) from None
    if cq is None:
        return None, (UNDETERMINED,)
    if cq == _NONDETECT_CQ:
        return None, (UNDETERMINED, RDML_NONDETECT_40)
    return cq, ()


def _dye_of(target: ET.Element) -> str:
    dye = target.find("dyeId")
    if dye is None:
        return ""
    return dye.get("id") or (dye.text or "").strip()  # 1.1+: attribute; 1.0: text


def _metadata(root: ET.Element, inner_name: str) -> dict[str, str]:
    metadata = {"rdml_version": root.get("version", "")}
    if inner_name:
        metadata["xml_file"] = inner_name
    for key, path in (
        ("date_made", "dateMade"),
        ("date_updated", "dateUpdated"),
        ("publisher", "id/publisher"),
        ("experiment", "experiment"),
        ("run", "experiment/run"),
        ("run_date", "experiment/run/runDate"),
        ("instrument", "experiment/run/instrument"),
    ):
        element = root.find(path)
        if element is not None:
            value = element.get("id") if key in {"experiment", "run"} else element.text
            if value and value.strip():
                metadata[key] = value.strip()
    return metadata


def _instrument(metadata: dict[str, str], version: str) -> str:
    instrument = metadata.get("instrument", "")
    if not instrument or len(instrument) > 60:  # Bio-Rad puts firmware serials here
        instrument = metadata.get("publisher", "") or INSTRUMENT
    return f"{instrument} (RDML {version})" if version else instrument
