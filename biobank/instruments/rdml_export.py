"""RDML 1.3 writer: ExoTrack's plates out to the field's exchange format.

Our own writer (standard library only, no database): the selector
``biobank.selectors.rdml_export`` turns plates into the plain records below and
``rdml_archive`` writes them. The tests validate every file with rdmlpython against the
RDML 1.3 schema (RDML consortium, rdml.org) and read it back with ExoTrack's own RDML
importer (``biobank.instruments.rdml``) so that the round trip keeps every Cq.

Choices the schema forces, and why:
- element order follows the schema's sequences (rdml: id, dye, sample, target,
  experiment; target: description, type, efficiency, dyeId, commercialAssay);
- react ids are numbers, row first then column (A1=1, A2=2 ...), with
  <pcrFormat> giving rows and columns so the importer turns them back into A1;
- an undetermined well has no <cq> (the schema's way of saying "no Cq"); a curator's
  exclusion is <excl> with its reason, and a curator's "keep" goes in <note>;
- a sample's type is per target when it differs between targets (schema: sampleTargetType).
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

RDML_NAMESPACE = "http://www.rdml.org"
RDML_VERSION = "1.3"
PUBLISHER = "ExoTrack"
SAMPLE_TYPES = {"unkn", "ntc", "nac", "std", "ntp", "nrt", "pos", "opt"}
QUANTITY_UNITS = {"cop", "fold", "dil", "ng", "nMol", "other"}


@dataclass(frozen=True)
class RdmlTarget:
    id: str
    reference: bool  # RDML "ref" (a normaliser) or "toi" (target of interest)
    dye: str
    description: str = ""
    chemistry: str = ""  # one of the schema's dyeChemistryType values, or ""
    company: str = ""
    order_number: str = ""
    efficiency: float | None = None  # fold increase per cycle, as RDML asks (2.0 = 100 %)
    efficiency_se: float | None = None
    efficiency_method: str = ""


@dataclass(frozen=True)
class RdmlSample:
    id: str
    types: tuple[tuple[str, str], ...]  # (type, target id or "" for every target)
    description: str = ""
    annotations: tuple[tuple[str, str], ...] = ()
    calibrator: bool = False
    inter_run_calibrator: bool = False
    quantities: tuple[tuple[float, str, str], ...] = ()  # (value, unit, target id or "")
    cdna_enzyme: str = ""
    cdna_priming: str = ""  # primingMethodType, or ""


@dataclass(frozen=True)
class RdmlReading:
    row: int
    column: int
    sample_id: str
    target_id: str
    cq: float | None
    excluded_reason: str = ""  # non-empty: excluded, with the curator's reason
    note: str = ""


@dataclass(frozen=True)
class RdmlRun:
    id: str
    rows: int
    columns: int
    readings: tuple[RdmlReading, ...]
    instrument: str = ""
    run_date: datetime | None = None
    description: str = ""


@dataclass(frozen=True)
class RdmlDocument:
    experiment_id: str
    serial_number: str
    samples: tuple[RdmlSample, ...]
    targets: tuple[RdmlTarget, ...]
    runs: tuple[RdmlRun, ...]
    made_at: datetime
    description: str = ""
    dyes: tuple[str, ...] = field(default=())


class RdmlExportError(ValueError):
    """The records cannot make a valid RDML file (the message names what and where)."""


def react_id(row: int, column: int, columns: int) -> int:
    """RDML numbers plate wells row first: A1=1, A2=2, ..., B1=columns+1."""
    return (row - 1) * columns + column


def rdml_xml(document: RdmlDocument) -> bytes:
    """The rdml_data.xml text of ``document``, UTF-8 with an XML declaration."""
    _check(document)
    root = ET.Element("rdml", {"version": RDML_VERSION, "xmlns": RDML_NAMESPACE})
    _text(root, "dateMade", _datetime(document.made_at))
    _text(root, "dateUpdated", _datetime(document.made_at))
    rdml_id = ET.SubElement(root, "id")
    _text(rdml_id, "publisher", PUBLISHER)
    _text(rdml_id, "serialNumber", document.serial_number)
    dyes = list(dict.fromkeys([*document.dyes, *(target.dye for target in document.targets)]))
    chemistry = {target.dye: target.chemistry for target in document.targets if target.chemistry}
    for dye in dyes:
        dye_element = ET.SubElement(root, "dye", {"id": dye})
        if chemistry.get(dye):
            _text(dye_element, "dyeChemistry", chemistry[dye])
    for sample in document.samples:
        _sample(root, sample)
    for target in document.targets:
        _target(root, target)
    experiment = ET.SubElement(root, "experiment", {"id": document.experiment_id})
    if document.description:
        _text(experiment, "description", document.description)
    for run in document.runs:
        _run(experiment, run)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def rdml_archive(document: RdmlDocument) -> bytes:
    """An .rdml file: a zip holding rdml_data.xml, as the RDML specification asks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("rdml_data.xml", date_time=document.made_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, rdml_xml(document))
    return buffer.getvalue()


def _check(document: RdmlDocument) -> None:
    sample_ids = [sample.id for sample in document.samples]
    target_ids = [target.id for target in document.targets]
    for kind, ids in (("sample", sample_ids), ("target", target_ids)):
        doubled = sorted({i for i in ids if ids.count(i) > 1})
        if doubled or any(not i.strip() for i in ids):
            raise RdmlExportError(f"{kind} ids must be unique and not empty: {doubled or ids}")
    for sample in document.samples:
        for sample_type, _target in sample.types:
            if sample_type not in SAMPLE_TYPES:
                raise RdmlExportError(f"sample {sample.id!r}: unknown RDML type {sample_type!r}")
        for _value, unit, _target in sample.quantities:
            if unit not in QUANTITY_UNITS:
                raise RdmlExportError(f"sample {sample.id!r}: unknown quantity unit {unit!r}")
    known_samples, known_targets = set(sample_ids), set(target_ids)
    run_ids = [run.id for run in document.runs]
    if len(set(run_ids)) != len(run_ids):
        raise RdmlExportError(f"run ids must be unique: {run_ids}")
    for run in document.runs:
        seen: dict[tuple[int, int], str] = {}
        pairs: set[tuple[int, int, str]] = set()
        for reading in run.readings:
            where = f"run {run.id!r} well row {reading.row} column {reading.column}"
            if not (1 <= reading.row <= run.rows and 1 <= reading.column <= run.columns):
                raise RdmlExportError(f"{where} is off a {run.rows}x{run.columns} plate")
            if reading.sample_id not in known_samples:
                raise RdmlExportError(f"{where}: sample {reading.sample_id!r} is not declared")
            if reading.target_id not in known_targets:
                raise RdmlExportError(f"{where}: target {reading.target_id!r} is not declared")
            if seen.setdefault((reading.row, reading.column), reading.sample_id) != (
                reading.sample_id
            ):
                raise RdmlExportError(f"{where} holds two samples (RDML allows one per well)")
            key = (reading.row, reading.column, reading.target_id)
            if key in pairs:
                raise RdmlExportError(f"{where} reads target {reading.target_id!r} twice")
            pairs.add(key)


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = value
    return element


def _number(value: float) -> str:
    """repr() of a float is the shortest text that reads back as the same double."""
    return repr(float(value))


def _datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _sample(root: ET.Element, sample: RdmlSample) -> None:
    element = ET.SubElement(root, "sample", {"id": sample.id})
    if sample.description:
        _text(element, "description", sample.description)
    for prop, value in sample.annotations:
        annotation = ET.SubElement(element, "annotation")
        _text(annotation, "property", prop)
        _text(annotation, "value", value)
    for sample_type, target in sample.types:
        _text(element, "type", sample_type).attrib.update({"targetId": target} if target else {})
    if sample.inter_run_calibrator:
        _text(element, "interRunCalibrator", "true")
    for value, unit, target in sample.quantities:
        quantity = ET.SubElement(element, "quantity", {"targetId": target} if target else {})
        _text(quantity, "value", _number(value))
        _text(quantity, "unit", unit)
    if sample.calibrator:
        _text(element, "calibratorSample", "true")
    if sample.cdna_enzyme or sample.cdna_priming:
        cdna = ET.SubElement(element, "cdnaSynthesisMethod")
        if sample.cdna_enzyme:
            _text(cdna, "enzyme", sample.cdna_enzyme)
        if sample.cdna_priming:
            _text(cdna, "primingMethod", sample.cdna_priming)


def _target(root: ET.Element, target: RdmlTarget) -> None:
    element = ET.SubElement(root, "target", {"id": target.id})
    if target.description:
        _text(element, "description", target.description)
    _text(element, "type", "ref" if target.reference else "toi")
    if target.efficiency is not None:
        if target.efficiency_method:
            _text(element, "amplificationEfficiencyMethod", target.efficiency_method)
        _text(element, "amplificationEfficiency", _number(target.efficiency))
        if target.efficiency_se is not None:
            _text(element, "amplificationEfficiencySE", _number(target.efficiency_se))
    ET.SubElement(element, "dyeId", {"id": target.dye})
    if target.company and target.order_number:
        commercial = ET.SubElement(element, "commercialAssay")
        _text(commercial, "company", target.company)
        _text(commercial, "orderNumber", target.order_number)


def _run(experiment: ET.Element, run: RdmlRun) -> None:
    element = ET.SubElement(experiment, "run", {"id": run.id})
    if run.description:
        _text(element, "description", run.description)
    if run.instrument:
        _text(element, "instrument", run.instrument)
    pcr_format = ET.SubElement(element, "pcrFormat")
    _text(pcr_format, "rows", str(run.rows))
    _text(pcr_format, "columns", str(run.columns))
    _text(pcr_format, "rowLabel", "ABC")
    _text(pcr_format, "columnLabel", "123")
    if run.run_date is not None:
        _text(element, "runDate", _datetime(run.run_date))
    reacts: dict[int, tuple[str, list[RdmlReading]]] = {}
    for reading in run.readings:
        number = react_id(reading.row, reading.column, run.columns)
        reacts.setdefault(number, (reading.sample_id, []))[1].append(reading)
    for number in sorted(reacts):
        sample_id, readings = reacts[number]
        react = ET.SubElement(element, "react", {"id": str(number)})
        ET.SubElement(react, "sample", {"id": sample_id})
        for reading in sorted(readings, key=lambda r: r.target_id):
            data = ET.SubElement(react, "data")
            ET.SubElement(data, "tar", {"id": reading.target_id})
            if reading.cq is not None:
                _text(data, "cq", _number(reading.cq))
            if reading.excluded_reason:
                _text(data, "excl", reading.excluded_reason)
            if reading.note:
                _text(data, "note", reading.note)
