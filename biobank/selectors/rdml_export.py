"""Plates as RDML records (biobank.instruments.rdml_export): what ExoTrack holds about
each well, its sample's chain from serum to cDNA, and each assay, in one query per
export whatever the number of plates.

Sample ids are the names the sample sheets write and the importer expects back
(``plate_import.expected_name``: the RT product's code, "NTC" for a no-template control),
so an exported plate can be imported again onto the same layout without a mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from biobank.instruments.rdml_export import (
    RdmlDocument,
    RdmlReading,
    RdmlRun,
    RdmlSample,
    RdmlTarget,
    rdml_archive,
)
from biobank.models import Assay, QpcrPlate, Well

# Well kind -> RDML sample type (schema sampleTypeType). Calibrators and IRCs are
# samples of unknown quantity flagged with calibratorSample / interRunCalibrator.
RDML_SAMPLE_TYPE = {
    Well.Kind.SAMPLE: "unkn",
    Well.Kind.NTC: "ntc",
    Well.Kind.CALIBRATOR: "unkn",
    Well.Kind.INTER_RUN_CALIBRATOR: "unkn",
    "standard": "std",
}
RDML_UNITS = {
    "cop": {"cop", "copies", "copy", "copies/ul", "copies per ul"},
    "fold": {"fold"},
    "dil": {"dil", "dilution", "x"},
    "ng": {"ng", "ng/ul"},
    "nMol": {"nmol", "nmol/ul"},
}
DEFAULT_DYE = "FAM"  # TaqMan miRNA assays report in FAM unless an import said otherwise
TAQMAN_CHEMISTRY = "hydrolysis probe"


def plates_rdml(plates: Iterable[QpcrPlate], *, experiment_id: str, serial: str) -> bytes:
    """An .rdml archive of ``plates``, one RDML run per plate (run id = barcode)."""
    return rdml_archive(plates_rdml_document(plates, experiment_id=experiment_id, serial=serial))


def plate_rdml(plate: QpcrPlate) -> bytes:
    return plates_rdml([plate], experiment_id=plate.barcode, serial=plate.barcode)


def study_plates() -> list[QpcrPlate]:
    """Every plate that holds wells: a study's runs (ExoTrack holds one study)."""
    return list(QpcrPlate.objects.filter(wells__isnull=False).distinct().order_by("barcode"))


def plates_rdml_document(
    plates: Iterable[QpcrPlate], *, experiment_id: str, serial: str
) -> RdmlDocument:
    plates = list(plates)
    wells = list(
        Well.objects.filter(plate__in=plates)
        .select_related(
            "plate",
            "assay",
            "sample__rna__isolation__batch",
            "sample__rna__isolation__aliquot__draw",
        )
        .order_by("plate__barcode", "row", "column", "assay__target")
    )
    return RdmlDocument(
        experiment_id=experiment_id,
        serial_number=serial,
        samples=_samples(wells),
        targets=_targets(plates, wells),
        runs=tuple(_run(plate, [w for w in wells if w.plate_id == plate.pk]) for plate in plates),
        made_at=datetime.now(UTC),
        description="Exported by ExoTrack; Cq as stored, exclusions as curated.",
    )


def sample_id(well: Well) -> str:
    """A standard's id carries its quantity: RDML states one quantity per sample, so each
    level of a dilution series is its own sample ("Standard 10000 copies")."""
    from biobank.services.plate_import import expected_name

    if well.kind == "standard":
        quantity = getattr(well, "quantity", None)
        unit = getattr(well, "quantity_unit", "")
        return " ".join(filter(None, ["Standard", f"{quantity:g}" if quantity else "", unit]))
    return expected_name(kind=well.kind, sample_code=well.sample.code if well.sample_id else None)


def rdml_unit(unit: str) -> str:
    """ExoTrack's free-text quantity unit as RDML's quantityUnitType."""
    text = unit.strip().casefold()
    for code, words in RDML_UNITS.items():
        if text in words:
            return code
    return "other"


def _run(plate: QpcrPlate, wells: list[Well]) -> RdmlRun:
    rows, columns = plate.dimensions
    return RdmlRun(
        id=plate.barcode,
        rows=rows,
        columns=columns,
        instrument=plate.instrument,
        run_date=plate.run_at,
        readings=tuple(_reading(well) for well in wells),
    )


def _reading(well: Well) -> RdmlReading:
    note = ""
    if well.excluded is False:
        note = f"kept by the curator: {well.exclusion_reason}"
    elif well.replicate > 1:
        note = f"replicate {well.replicate}"
    return RdmlReading(
        row=well.row,
        column=well.column,
        sample_id=sample_id(well),
        target_id=well.assay.target,
        cq=well.cq,
        excluded_reason=well.exclusion_reason if well.excluded else "",
        note=note,
    )


def _targets(plates: list[QpcrPlate], wells: list[Well]) -> tuple[RdmlTarget, ...]:
    dyes: dict[str, str] = {}
    for plate in plates:  # the dye each assay was read in, as confirmed at an import
        for dye, target in (plate.dye_assays or {}).items():
            if target:
                dyes.setdefault(target, dye)
    assays = {well.assay.pk: well.assay for well in wells}
    efficiencies = assay_efficiencies(assays.values())
    targets = []
    for assay in sorted(assays.values(), key=lambda a: a.target):
        efficiency = efficiencies.get(assay.pk)
        targets.append(
            RdmlTarget(
                id=assay.target,
                reference=assay.role == Assay.Role.SPIKE_IN,
                dye=dyes.get(assay.target, DEFAULT_DYE),
                description=assay.get_role_display(),
                chemistry=TAQMAN_CHEMISTRY if "taqman" in assay.vendor.lower() else "",
                company=assay.vendor,
                order_number=assay.vendor_assay_id,
                efficiency=efficiency[0] if efficiency else None,
                efficiency_se=efficiency[1] if efficiency else None,
                efficiency_method=efficiency[2] if efficiency else "",
            )
        )
    return tuple(targets)


def assay_efficiencies(assays: Iterable[Assay]) -> dict[int, tuple[float, float | None, str]]:
    """Each assay's chosen efficiency as RDML writes it: (fold increase per cycle, its SE,
    method and source). ExoTrack stores E as a fraction (1.0 = 100 %), RDML the base of
    the exponential (2.0). Empty when no AssayEfficiency model exists (before issue 14's
    efficiency choice lands) or none was chosen: RDML readers then assume doubling."""
    from django.apps import apps

    try:
        model = apps.get_model("biobank", "AssayEfficiency")
    except LookupError:
        return {}
    found = {}
    for record in model.objects.filter(assay__in=list(assays)):
        method = record.get_method_display() if hasattr(record, "get_method_display") else ""
        label = "; ".join(filter(None, [method, getattr(record, "source", "")]))
        found[record.assay_id] = (1.0 + record.value, getattr(record, "se", None), label)
    return found


def _samples(wells: list[Well]) -> tuple[RdmlSample, ...]:
    by_id: dict[str, list[Well]] = {}
    for well in wells:
        by_id.setdefault(sample_id(well), []).append(well)
    return tuple(_sample(name, group) for name, group in sorted(by_id.items()))


def _sample(name: str, wells: list[Well]) -> RdmlSample:
    per_target = {(RDML_SAMPLE_TYPE.get(well.kind, "unkn"), well.assay.target) for well in wells}
    kinds = {sample_type for sample_type, _ in per_target}
    types = (
        ((kinds.pop(), ""),) if len(kinds) == 1 else tuple(sorted(per_target, key=lambda t: t[1]))
    )
    rt = next((well.sample for well in wells if well.sample_id), None)
    return RdmlSample(
        id=name,
        types=types,
        description=_description(rt, name),
        annotations=_annotations(rt),
        calibrator=any(well.kind == Well.Kind.CALIBRATOR for well in wells),
        inter_run_calibrator=any(well.kind == Well.Kind.INTER_RUN_CALIBRATOR for well in wells),
        quantities=_quantities(wells),
        cdna_enzyme=rt.kit if rt else "",
        cdna_priming="target-specific" if rt else "",  # TaqMan miRNA RT: stem-loop primers
    )


def _quantities(wells: list[Well]) -> tuple[tuple[float, str, str], ...]:
    """A standard's known quantity (the same for every target of the sample id)."""
    for well in wells:
        quantity = getattr(well, "quantity", None)
        if well.kind == "standard" and quantity:
            return ((quantity, rdml_unit(getattr(well, "quantity_unit", "")), ""),)
    return ()


def _description(rt, name: str) -> str:
    if rt is None:
        return "No-template control" if name == "NTC" else "Standard (dilution series point)"
    return f"cDNA {rt.code} ({rt.kit}, lot {rt.kit_lot}, {rt.performed_on:%Y-%m-%d})"


def _annotations(rt) -> tuple[tuple[str, str], ...]:
    if rt is None:
        return ()
    rna = rt.rna
    isolation = rna.isolation
    batch = isolation.batch
    pairs = [
        ("RT kit lot", rt.kit_lot),
        ("RT input volume (ul)", f"{rt.input_volume_ul}"),
        ("RNA isolation kit", rna.kit),
        ("RNA isolation kit lot", rna.kit_lot),
        ("RNA SPREC", rna.sprec_code),
        ("RNA freeze-thaw cycles", str(rna.freeze_thaw_count)),
        ("Exosome isolation batch", batch.code),
        ("ExoQuick lot", batch.exoquick_lot),
        ("Spike-in", f"{batch.spike_in_name} {batch.spike_in_volume_ul} ul"),
        ("Spike-in lot", batch.spike_in_lot),
        ("Serum aliquot", isolation.aliquot.barcode),
        ("Serum SPREC", isolation.aliquot.sprec_code),
        ("Deviation", "; ".join(d for d in (rt.deviation, rna.deviation) if d)),
    ]
    return tuple((prop, value) for prop, value in pairs if value)


def study_rdml() -> bytes:
    """Every plate of the study in one RDML file: one experiment, a run per plate."""
    return plates_rdml(study_plates(), experiment_id="ExoTrack", serial="exotrack-study")
