"""The MIQE 2.0 checklist (Bustin et al., Clin Chem 2025;71:634) for a plate or an
analysis run, filled from what ExoTrack holds; what it cannot know is marked for the user.

Each item says where its value comes from (``source``), so a reviewer can trust a filled
item and a user knows what is left to complete. docs/miqe.md lists the items.
One query reads the wells with their whole chain (serum draw to cDNA); a run adds none
per plate.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from biobank.models import Assay, PlateImport, QpcrPlate, Well

CITATION = (
    "Bustin SA, Ruijter JM, van den Hoff MJB, Kubista M, Pfaffl MW, Shipley GL, et al. "
    "MIQE 2.0: Revision of the Minimum Information for Publication of Quantitative "
    "Real-Time PCR Experiments Guidelines. Clin Chem 2025;71:634-51."
)
FILLED, PARTLY, USER = "filled", "partly", "to complete"
CSV_COLUMNS = ["section", "item", "status", "value", "source"]


@dataclass(frozen=True)
class MiqeItem:
    section: str
    item: str
    value: str
    source: str
    status: str  # FILLED, PARTLY (ExoTrack holds part), USER (for the user to complete)


def _filled(section, item, value, source, *, partly: bool = False) -> MiqeItem:
    if not value:
        return MiqeItem(section, item, "", source, USER)
    return MiqeItem(section, item, value, source, PARTLY if partly else FILLED)


def _user(section, item, why: str = "not recorded in ExoTrack") -> MiqeItem:
    return MiqeItem(section, item, "", why, USER)


def _listed(values: Iterable, limit: int = 12) -> str:
    values = sorted({str(v) for v in values if v not in (None, "")})
    shown = ", ".join(values[:limit])
    return shown + (f" (+{len(values) - limit} more)" if len(values) > limit else "")


def _wells(plates: list[QpcrPlate]) -> list[Well]:
    return list(
        Well.objects.filter(plate__in=plates)
        .select_related(
            "assay",
            "sample__rna__isolation__batch",
            "sample__rna__isolation__aliquot__draw",
        )
        .order_by("plate_id", "row", "column", "assay_id")
    )


def plate_miqe(plate: QpcrPlate) -> list[MiqeItem]:
    """The checklist for one plate: sample to Cq, with its NTCs, replicates and import."""
    wells = _wells([plate])
    return _wet_lab_items([plate], wells) + _plate_analysis_items([plate], wells)


def run_miqe(run) -> list[MiqeItem]:
    """The checklist for an analysis run: every plate the run read (the live database's
    plates; none for an imported cohort, whose wet-lab items are left to the user), then
    the run's normalisation, QC evidence and statistics."""
    from biobank.selectors.rdml_export import study_plates

    design = [
        _filled(
            "Experimental design",
            "Number of patients in the analysis",
            f"{run.n_patients}" if run.n_patients is not None else "",
            "AnalysisRun.n_patients (after the QC gate)",
        ),
        _user(
            "Experimental design",
            "Definition of experimental and control groups",
            "the study protocol (the plan names the comparisons, not the design)",
        ),
    ]
    if run.dataset_id is None:
        plates = study_plates()
        wells = _wells(plates)
        wet = _wet_lab_items(plates, wells) + _plate_analysis_items(plates, wells)
    else:
        wet = [
            _user(
                "Sample",
                "Sample description, processing and storage",
                f"the run read the imported cohort {run.dataset.name!r}: its samples "
                "and plates are not in ExoTrack",
            ),
        ]
    return design + wet + _run_items(run)


def _wet_lab_items(plates: list[QpcrPlate], wells: list[Well]) -> list[MiqeItem]:
    rts = {w.sample_id: w.sample for w in wells if w.sample_id}.values()
    rnas = {rt.rna_id: rt.rna for rt in rts}.values()
    isolations = [rna.isolation for rna in rnas]
    batches = {i.batch_id: i.batch for i in isolations}.values()
    draws = [i.aliquot.draw for i in isolations]
    items = [
        _filled(
            "Sample",
            "Description (matrix, fraction)",
            f"serum, exosome fraction; {len(rts)} cDNA products from {len(draws)} serum aliquots"
            if rts
            else "",
            "ExosomeIsolation -> Aliquot -> SerumDraw of every well's cDNA",
        ),
        _filled(
            "Sample",
            "Volume processed",
            _listed(f"{i.serum_volume_ul} ul serum" for i in isolations),
            "ExosomeIsolation.serum_volume_ul",
        ),
        _filled(
            "Sample",
            "Pre-analytical handling (SPREC)",
            _listed(i.aliquot.sprec_code for i in isolations),
            "SPREC derived from the draw's times and temperatures (biobank.domain.sprec)",
        ),
        _filled(
            "Sample",
            "Storage conditions and freeze-thaw cycles of the RNA",
            _listed(
                f"{r.storage_temperature_c:g} C, {r.freeze_thaw_count} freeze-thaw" for r in rnas
            ),
            "RnaIsolation.storage_temperature_c, freeze_thaw_count",
        ),
        _filled(
            "Sample",
            "Haemolysis assessment",
            ", ".join(
                f"{grade}: {n}"
                for grade, n in sorted(Counter(d.get_haemolysis_display() for d in draws).items())
            ),
            "SerumDraw.haemolysis (visual grade per draw)",
        ),
        _filled(
            "Sample",
            "Serum storage temperature",
            _listed(f"{d.storage_temperature_c:g} C" for d in draws),
            "SerumDraw.storage_temperature_c",
        ),
        _filled(
            "Nucleic acid extraction",
            "Exosome isolation procedure and reagent lot",
            _listed(
                f"ExoQuick lot {b.exoquick_lot}, {b.serum_volume_ul} ul serum + "
                f"{b.exoquick_volume_ul} ul, {b.incubation_temperature_c:g} C "
                f"{b.incubation_hours:g} h, {b.centrifugation_g} x g "
                f"{b.centrifugation_minutes} min"
                for b in batches
            ),
            "ExosomeIsolationBatch",
        ),
        _filled(
            "Nucleic acid extraction",
            "RNA extraction kit and lot",
            _listed(f"{r.kit} lot {r.kit_lot}" for r in rnas),
            "RnaIsolation.kit, kit_lot",
        ),
        _filled(
            "Nucleic acid extraction",
            "Extraction control (spike-in), amount and lot",
            _listed(
                f"{b.spike_in_name} {b.spike_in_volume_ul} ul, lot {b.spike_in_lot}"
                for b in batches
            ),
            "ExosomeIsolationBatch.spike_in_*",
        ),
        _filled(
            "Nucleic acid extraction",
            "Deviations from the protocol",
            _listed([r.deviation for r in rnas] + [rt.deviation for rt in rts])
            or ("none recorded" if rts else ""),
            "RnaIsolation.deviation, ReverseTranscription.deviation",
        ),
        _user("Nucleic acid extraction", "DNase treatment"),
        _user("Nucleic acid extraction", "RNA quantity / yield and method"),
        _user("Nucleic acid extraction", "RNA integrity or quality assessment"),
        _user(
            "Nucleic acid extraction",
            "Inhibition testing",
            "not recorded; the spike-in Cq per sample is in the analysis report's QC",
        ),
        _filled(
            "Reverse transcription",
            "RT kit, lot and priming",
            _listed(f"{rt.kit} lot {rt.kit_lot}, target-specific stem-loop primers" for rt in rts),
            "ReverseTranscription.kit, kit_lot; priming from the kit (TaqMan miRNA RT)",
        ),
        _filled(
            "Reverse transcription",
            "RNA volume into the RT",
            _listed(f"{rt.input_volume_ul} ul" for rt in rts),
            "ReverseTranscription.input_volume_ul",
            partly=True,
        ),
        _user("Reverse transcription", "RT reaction volume, temperatures and times"),
        _user("Reverse transcription", "No-RT controls", "ExoTrack has no no-RT well kind"),
    ]
    return items + _assay_items(wells) + _run_plate_items(plates, wells)


def _assay_items(wells: list[Well]) -> list[MiqeItem]:
    assays = sorted({w.assay_id: w.assay for w in wells}.values(), key=lambda a: a.target)
    efficiencies = _efficiencies(assays)
    return [
        _filled(
            "qPCR target information",
            "Targets, assay vendor and IDs",
            "; ".join(
                f"{a.target} ({a.get_role_display()}, {a.vendor}"
                f"{' ' + a.vendor_assay_id if a.vendor_assay_id else ''})"
                for a in assays
            ),
            "Assay.target, role, vendor, vendor_assay_id",
        ),
        _user(
            "qPCR oligonucleotides",
            "Primer / probe sequences or amplicon context sequence",
            "commercial assays: the vendor's context sequence for each assay ID above",
        ),
        _filled(
            "qPCR validation",
            "PCR efficiency and how it was determined",
            "; ".join(f"{a.target}: {efficiencies[a.pk]}" for a in assays if a.pk in efficiencies),
            "the efficiency chosen per assay (standard curve, pooled or declared); "
            "none chosen means 100 % assumed, as the paper did",
            partly=len(efficiencies) < len(assays),
        ),
        _user("qPCR validation", "Limit of detection / linear dynamic range"),
        _user("qPCR validation", "Specificity (hydrolysis probe assays)"),
    ]


def _efficiencies(assays: list[Assay]) -> dict[int, str]:
    """Each assay's chosen efficiency in words, when the AssayEfficiency model exists
    and one was chosen (issue 14, q14eff); {} otherwise."""
    from django.apps import apps

    try:
        model = apps.get_model("biobank", "AssayEfficiency")
    except LookupError:
        return {}
    chosen = {}
    for record in model.objects.filter(assay__in=assays).order_by("pk"):
        value = getattr(record, "value", None)
        if value is None:
            continue
        se = getattr(record, "se", None)
        text = f"E = {value:.1%}" + (f" (SE {se:.1%})" if se is not None else "")
        method = getattr(record, "method", "")
        source = getattr(record, "source", "")
        chosen[record.assay_id] = " ".join(filter(None, [text, method, source]))
    return chosen


def _run_plate_items(plates: list[QpcrPlate], wells: list[Well]) -> list[MiqeItem]:
    ntcs = [w for w in wells if w.kind == Well.Kind.NTC]
    ntc_hits = [w for w in ntcs if w.cq is not None]
    groups = Counter(
        (w.plate_id, w.kind, w.sample_id, w.assay_id) for w in wells if w.kind != Well.Kind.NTC
    )
    spreads = _replicate_sd(wells)
    positions = Counter((w.plate_id, w.row, w.column) for w in wells)
    kinds = Counter(w.get_kind_display() for w in wells)
    excluded = [w for w in wells if w.excluded]
    return [
        _filled(
            "qPCR protocol",
            "Instrument",
            _listed(p.instrument for p in plates),
            "QpcrPlate.instrument",
        ),
        _filled(
            "qPCR protocol",
            "Plate format and layout",
            _listed(f"{p.barcode}: {p.plate_format} wells" for p in plates)
            + "; "
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            if wells
            else "",
            "QpcrPlate.plate_format; Well.kind counts",
        ),
        _filled(
            "qPCR protocol",
            "Multiplexing",
            f"{sum(1 for n in positions.values() if n > 1)} wells read more than one assay"
            if any(n > 1 for n in positions.values())
            else ("singleplex" if wells else ""),
            "wells sharing a plate position",
        ),
        _user("qPCR protocol", "Master mix, reaction volume, primer/probe concentrations"),
        _user("qPCR protocol", "Thermocycling parameters"),
        _filled(
            "qPCR validation",
            "No-template controls and their results",
            f"{len(ntcs)} NTC wells; {len(ntc_hits)} with a Cq"
            + (f" (lowest {min(w.cq for w in ntc_hits):.2f})" if ntc_hits else "")
            if ntcs
            else "",
            "Well.kind = NTC and its Cq",
        ),
        _filled(
            "Data analysis",
            "Technical replicates",
            (
                f"{_listed(Counter(groups.values()).keys())} per sample and assay; "
                f"median SD of replicate Cq {statistics.median(spreads):.3f}"
            )
            if spreads
            else "",
            "wells of the same plate, kind, cDNA and assay",
        ),
        _filled(
            "Data analysis",
            "Outlier identification and disposition",
            f"{len(excluded)} wells excluded by a curator, with a reason each"
            + (f" ({_listed(w.exclusion_reason for w in excluded)})" if excluded else "")
            if any(w.cq is not None for w in wells)
            else "",
            "Well.excluded, exclusion_reason, excluded_by/at",
        ),
        _filled(
            "Data analysis",
            "Inter-run calibration",
            f"{sum(1 for w in wells if w.kind == Well.Kind.INTER_RUN_CALIBRATOR)} IRC wells"
            if any(w.kind == Well.Kind.INTER_RUN_CALIBRATOR for w in wells)
            else "",
            "Well.kind = IRC",
        ),
    ]


def _replicate_sd(wells: list[Well]) -> list[float]:
    by_group: dict[tuple, list[float]] = {}
    for w in wells:
        if w.cq is not None and not w.excluded and w.kind != Well.Kind.NTC:
            by_group.setdefault((w.plate_id, w.kind, w.sample_id, w.assay_id), []).append(w.cq)
    return [statistics.stdev(cqs) for cqs in by_group.values() if len(cqs) > 1]


def _plate_analysis_items(plates: list[QpcrPlate], wells: list[Well]) -> list[MiqeItem]:
    imports = list(
        PlateImport.objects.filter(plate__in=plates, reverted_at__isnull=True).order_by("pk")
    )
    spike_ins = Assay.objects.filter(role=Assay.Role.SPIKE_IN).values_list("target", flat=True)
    return [
        _filled(
            "Data analysis",
            "Cq determination (software, method) and raw data",
            _listed(
                f"{i.instrument} ({i.format}), {i.original_name} sha256 {i.sha256[:12]}"
                for i in imports
            ),
            "PlateImport: the instrument's export, kept byte for byte",
            partly=True,
        ),
        _filled(
            "Data analysis",
            "Data in RDML",
            "RDML 1.3 export of every plate (plate page)" if wells else "",
            "biobank.instruments.rdml_export",
        ),
        _filled(
            "Data analysis",
            "Normalisation (reference targets)",
            f"dCq against the spike-in {_listed(spike_ins)}" if spike_ins else "",
            "Assay.role = spike-in (the paper's normalisation, docs/analysis.md)",
            partly=True,
        ),
    ]


def _run_items(run) -> list[MiqeItem]:
    qc = run.qc or {}
    spike = qc.get("spike_in") or []
    names = [a.get("name") or a.get("kind") for a in (run.spec or {}).get("analyses", [])]
    flow = " -> ".join(f"{s.get('step')} {s.get('n')}" for s in qc.get("flow") or [])
    return [
        _filled(
            "Data analysis",
            "Evidence that the reference is stable",
            f"{sum(1 for p in spike if p.get('outlier'))} of {len(spike)} samples with an "
            "outlying spike-in Cq"
            if spike
            else "",
            "AnalysisRun.qc['spike_in'] (the report's QC section)",
            partly=True,
        ),
        _filled(
            "Data analysis",
            "QC policy and patient flow",
            "; ".join(filter(None, [qc.get("policy_label") or qc.get("policy"), flow])),
            "AnalysisRun.qc (policy, flow)",
        ),
        _filled(
            "Data analysis",
            "Measurements and patients left out",
            f"{len(qc.get('excluded_measurements') or [])} measurements, "
            f"{len(qc.get('excluded_patients') or [])} patients"
            if qc
            else "",
            "AnalysisRun.qc",
        ),
        _user(
            "Data analysis",
            "Results as efficiency-corrected quantities with their uncertainty",
            "the report gives the paper's 2^-dCq (100 % efficiency assumed); efficiency-"
            "corrected relative quantities with SEs (analysis/quantities.py) are not yet "
            "in the report",
        ),
        _filled(
            "Data analysis",
            "Statistical methods",
            _listed(names, limit=20),
            "AnalysisRun.spec (the plan as it was run)",
        ),
        _filled(
            "Data analysis",
            "Software and versions",
            ", ".join(f"{k} {v}" for k, v in sorted((run.versions or {}).items())),
            "AnalysisRun.versions",
        ),
    ]


def miqe_csv(items: list[MiqeItem]) -> str:
    from analysis.csv_safety import neutralise

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow([neutralise(str(getattr(item, column) or "")) for column in CSV_COLUMNS])
    return out.getvalue()
