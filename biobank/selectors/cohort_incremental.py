"""The cohort after a data change, rebuilding only the patients the change can touch
(issue 16: re-analysis runs exactly after a change, and rebuilding the whole cohort from
every well then cost more than the analysis).

The database triggers that move CohortVersion also log each row they fire for to
CohortChange (biobank/migrations/0015), in the same transaction, with the version it
moved the counter to. From the newest stored snapshot with the same settings and code
(version v) to the current version w:

1. The log must hold at least one row for every version in (v, w]: a gap (a bump
   without a log row, a pruned log, a TRUNCATE) means "rebuild everything".
2. Each logged row (before and after the change) is mapped to the patients whose
   cohort rows or QC evidence it can change (`Scope`). Most rows belong to one patient
   (a well through its RT product, a follow-up, a draw ...). Rows that reach across
   patients widen the scope: an NTC well or any plate change to every patient with a
   well on that plate (the NTC rule), a spike-in well, an RT product, an isolation or a
   patient entering or leaving the cohort to every patient of the extraction batches
   involved (the spike-in rule compares a batch's products). An assay or a batch's own
   row, a TRUNCATE, or more than a quarter of the cohort: everything.
3. Those patients are built with biobank.selectors.cohort.cohort_subset (their wells,
   their batches' spike-ins, their plates' NTCs: each QC rule sees exactly what it sees
   in a full build), their rows replace the snapshot's, withdrawn or removed patients
   drop out, new ones come in, in study_id order with the snapshot's dtypes. The QC
   evidence is cut again (analysis.flags.evidence_from_parts) from its row-level
   tables with the touched plates', batches', patients' and wells' rows replaced.
4. The set of measured (miRNA, time point) decides the table's expression columns:
   when the splice changes it, or the subset brings a column the snapshot lacks,
   everything is rebuilt.

Returns None whenever it cannot be sure; the caller then builds in full. Tests
(tests/test_cohort_incremental.py) compare every write path with a full build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from django.db.models import Count

from biobank.models import (
    Aliquot,
    Assay,
    CohortChange,
    ExosomeIsolation,
    ExosomeIsolationBatch,
    Patient,
    ReverseTranscription,
    RnaIsolation,
    SerumDraw,
    Treatment,
    Well,
)

ALIQUOT_PATIENT = "draw__patient_id"
RT_PATIENT = "rna__isolation__aliquot__draw__patient_id"
RT_BATCH = "rna__isolation__batch_id"
MAX_SHARE = 0.25  # beyond this share of the cohort touched, a full build is as cheap
MIN_LIMIT = 200  # ... but a small cohort is always rebuilt incrementally up to this


class FullRebuild(Exception):
    """A change the incremental path cannot attribute: rebuild everything."""


@dataclass
class Scope:
    """Who a run of changes can touch: patients (database ids; `spread` ones also
    widen to their extraction batches), plates, batches, the wells logged (their rows in
    the exclusion evidence are replaced) and study ids seen in the patient rows (a
    renamed or deleted patient's old id)."""

    patients: set = field(default_factory=set)
    spread: set = field(default_factory=set)
    plates: set = field(default_factory=set)
    batches: set = field(default_factory=set)
    wells: set = field(default_factory=set)
    study_ids: set = field(default_factory=set)
    # ids to resolve upwards, table -> {id: spread?}
    treatments: set = field(default_factory=set)
    draws: dict = field(default_factory=dict)
    aliquots: dict = field(default_factory=dict)
    isolations: dict = field(default_factory=dict)
    rnas: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)


def _mark(ids: dict, key, spread: bool) -> None:
    if key is not None:
        ids[key] = ids.get(key, False) or spread


def changes_since(version: int, current: int) -> list[CohortChange] | None:
    """The logged rows after `version`, None when some version in (version, current]
    has no row (moved without the log: rebuild everything)."""
    if current <= version:
        return []
    logged = (
        CohortChange.objects.filter(version__gt=version, version__lte=current)
        .values("version")
        .aggregate(n=Count("version", distinct=True))["n"]
    )
    if logged != current - version:
        return None
    # Rows after `current` are of writes committed after the version was read: the
    # next read (keyed by their version) rebuilds from this one and sees them.
    logged = CohortChange.objects.filter(version__gt=version, version__lte=current)
    return list(logged.values_list("table", "old", "new"))


def _assay_roles(changes) -> dict:
    ids = {
        row.get("assay_id")
        for table, old, new in changes
        if table == "biobank_well"
        for row in (old, new)
        if row
    }
    return dict(Assay.objects.filter(pk__in=ids).values_list("pk", "role"))


def scope_of(changes) -> Scope:
    """Map logged rows to what they can touch (raises FullRebuild)."""
    scope = Scope()
    roles = _assay_roles(changes)
    for table, old, new in changes:
        rows = [row for row in (old, new) if row]
        if not rows:
            raise FullRebuild(f"{table} truncated")
        moved = old is None or new is None  # an INSERT or a DELETE
        for row in rows:
            _attribute(scope, table, row, moved or _differs(old, new, _KEYS.get(table, ())), roles)
    return scope


# Columns whose change moves a row from one patient, batch or plate to another.
_KEYS = {
    "biobank_patient": ("withdrawn_on",),
    "biobank_serumdraw": ("patient_id",),
    "biobank_aliquot": ("draw_id",),
    "biobank_exosomeisolation": ("aliquot_id", "batch_id"),
    "biobank_rnaisolation": ("isolation_id",),
    "biobank_reversetranscription": ("rna_id",),
}


def _differs(old, new, keys) -> bool:
    return any(old.get(key) != new.get(key) for key in keys)


def _attribute(scope: Scope, table: str, row: dict, moved: bool, roles: dict) -> None:
    if table == "biobank_patient":
        scope.patients.add(row["id"])
        if moved:  # entering or leaving the cohort changes its batches' spike-in peers
            scope.spread.add(row["id"])
        scope.study_ids.add(row["study_id"])
    elif table in ("biobank_treatment", "biobank_followup"):
        scope.patients.add(row["patient_id"])
    elif table == "biobank_clinicalassessment":
        scope.treatments.add(row["treatment_id"])
    elif table == "biobank_serumdraw":
        scope.patients.add(row["patient_id"])
        if moved:
            scope.spread.add(row["patient_id"])
    elif table == "biobank_aliquot":
        _mark(scope.draws, row["draw_id"], moved)
    elif table == "biobank_temperatureexcursion_affected_aliquots":
        _mark(scope.aliquots, row["aliquot_id"], False)
    elif table == "biobank_exosomeisolation":
        _mark(scope.aliquots, row["aliquot_id"], moved)
        if moved:
            scope.batches.add(row["batch_id"])
    elif table == "biobank_rnaisolation":
        _mark(scope.isolations, row["isolation_id"], moved)
    elif table == "biobank_reversetranscription":
        _mark(scope.rnas, row["rna_id"], True)  # its code is in the spike-in evidence
    elif table == "biobank_qpcrplate":
        scope.plates.add(row["id"])
    elif table == "biobank_well":
        scope.wells.add(row["id"])
        if row["kind"] != Well.Kind.SAMPLE or row["sample_id"] is None:
            scope.plates.add(row["plate_id"])
        if row["sample_id"] is not None:
            spike_in = roles.get(row["assay_id"]) != Assay.Role.TARGET
            _mark(scope.samples, row["sample_id"], spike_in)
    else:  # an assay (target, role) or a batch's code: every patient may change
        raise FullRebuild(f"{table} changed")


def _resolve(scope: Scope) -> None:
    """Walk the logged ids up to their patients (and batches). A parent deleted since is
    itself in the log (a row cannot outlive its parent), so skipping it loses nothing."""
    if scope.treatments:
        scope.patients |= set(
            Treatment.objects.filter(pk__in=scope.treatments).values_list("patient_id", flat=True)
        )
    ups = (
        (RnaIsolation, scope.rnas, scope.isolations, "isolation_id", None),
        (ExosomeIsolation, scope.isolations, scope.aliquots, "aliquot_id", "batch_id"),
        (Aliquot, scope.aliquots, scope.draws, "draw_id", None),
    )
    for model, ids, parents, parent, batch in (
        (ReverseTranscription, scope.samples, scope.rnas, "rna_id", None),
        *ups,
    ):
        columns = ["pk", parent] + ([batch] if batch else [])
        for found in model.objects.filter(pk__in=list(ids)).values_list(*columns):
            spread = ids[found[0]]
            _mark(parents, found[1], spread)
            if batch and spread:
                scope.batches.add(found[2])
    for draw, patient in SerumDraw.objects.filter(pk__in=list(scope.draws)).values_list(
        "pk", "patient_id"
    ):
        scope.patients.add(patient)
        if scope.draws[draw]:
            scope.spread.add(patient)
    if scope.spread:
        scope.batches |= set(
            ReverseTranscription.objects.filter(
                **{f"{RT_PATIENT}__in": list(scope.spread)}
            ).values_list(RT_BATCH, flat=True)
        )
    scope.batches.discard(None)
    if scope.batches:
        scope.patients |= set(
            ReverseTranscription.objects.filter(
                **{f"{RT_BATCH}__in": list(scope.batches)}
            ).values_list(RT_PATIENT, flat=True)
        )
    scope.plates.discard(None)
    if scope.plates:
        scope.patients |= set(
            Well.objects.filter(plate_id__in=list(scope.plates))
            .exclude(sample__isnull=True)
            .values_list(f"sample__{RT_PATIENT}", flat=True)
        )
    scope.patients.discard(None)
    scope.study_ids |= set(
        Patient.objects.filter(pk__in=list(scope.patients)).values_list("study_id", flat=True)
    )


# ---------------------------------------------------------------- splicing


def roster() -> list[str]:
    """The study ids of the cohort table, in its order (biobank.selectors.cohort)."""
    return list(
        Patient.objects.active()
        .filter(treatments__is_initial=True)
        .order_by("study_id")
        .values_list("study_id", flat=True)
    )


def _like(frame: pd.DataFrame, model: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `model`'s columns and dtypes (a subset build may lack a column the
    whole cohort has, or infer another dtype for an all-missing one)."""
    frame = frame.reindex(columns=model.columns)
    for column, dtype in model.dtypes.items():
        if frame[column].dtype != dtype:
            frame[column] = frame[column].astype(dtype)
    return frame


def _splice(old: pd.DataFrame, new: pd.DataFrame, drop, order) -> pd.DataFrame:
    """`old` without the rows `drop` marks, plus `new`, sorted stably by `order`."""
    kept = old.loc[~drop]
    if len(new):
        kept = pd.concat([kept, _like(new, old)], ignore_index=True)
    return kept.sort_values(order, kind="stable").reset_index(drop=True)


def incremental_build(base_table, base_parts, changes, thresholds):
    """(table, evidence parts, study ids rebuilt) after `changes` from the snapshot
    (base_table, base_parts); raises FullRebuild."""
    from analysis.flags import evidence_parts

    from .cohort import cohort_subset, measured

    scope = scope_of(changes)
    _resolve(scope)
    study_ids = roster()
    present = set(base_table["study_id"])
    touched = scope.study_ids | (set(study_ids) - present)
    limit = max(MIN_LIMIT, int(MAX_SHARE * max(len(study_ids), len(present))))
    if len(touched) > limit:
        raise FullRebuild(f"{len(touched)} patients touched")
    if scope.batches:
        batch_codes = set(
            ExosomeIsolationBatch.objects.filter(pk__in=scope.batches).values_list(
                "code", flat=True
            )
        )
    else:
        batch_codes = set()

    table, result, products, wells = cohort_subset(
        sorted(touched), plate_ids=scope.plates, thresholds=thresholds
    )
    if not set(table.columns) <= set(base_table.columns):
        raise FullRebuild("a new column")
    in_cohort = set(study_ids)
    drop = base_table["study_id"].isin(touched) | ~base_table["study_id"].isin(in_cohort)
    spliced = _splice(base_table, table, drop, "study_id")
    if list(spliced["study_id"]) != study_ids:
        raise FullRebuild("the splice does not give the cohort's patients")

    if result is None:
        empty = pd.DataFrame(columns=["patient_id", "target", "tp"])
        new_parts = {name: part.iloc[0:0] for name, part in base_parts.items()}
        new_parts["measured"] = empty
    else:
        new_parts = evidence_parts(
            qc_wells=result.qc_wells, ntc=result.ntc, qc=result.qc, products=products
        )
        new_parts["measured"] = measured(result.normalised)
    plates = set(wells["plate_id"]) | scope.plates | _plates_of(changes)
    batches = set(products["batch"]) | batch_codes
    loaded_wells = set(wells["well_id"]) | scope.wells
    parts = {}
    rules = {
        # part: (rows of the snapshot to drop, rows of the subset to take, order)
        "ntc": (lambda p: p["plate_id"].isin(plates), None, ["plate_id", "target"]),
        "spike_in": (
            lambda p: p["batch"].isin(batches) | p["patient_id"].isin(touched),
            lambda p: p["batch"].isin(batches) | p["patient_id"].isin(touched),
            ["sample_id"],
        ),
        "haemolysis": (
            lambda p: p["patient_id"].isin(touched),
            lambda p: p["patient_id"].isin(touched),
            ["draw_id"],
        ),
        "excluded": (
            lambda p: p["well_id"].isin(loaded_wells) | p["patient_id"].isin(touched),
            lambda p: p["well_id"].isin(loaded_wells),
            ["plate_id", "row", "column"],
        ),
        "measured": (
            lambda p: p["patient_id"].isin(touched),
            lambda p: p["patient_id"].isin(touched),
            None,
        ),
    }
    for name, (dropped, taken, order) in rules.items():
        old, new = base_parts[name], new_parts[name]
        if len(new) and taken is not None:
            new = new.loc[taken(new)]
        if not len(old):
            if len(new):
                raise FullRebuild(f"the snapshot has no {name} rows to splice into")
            parts[name] = old
            continue
        parts[name] = _splice(old, new, dropped(old), order or ["patient_id", "target", "tp"])
    before = set(map(tuple, base_parts["measured"][["target", "tp"]].drop_duplicates().values))
    after = set(map(tuple, parts["measured"][["target", "tp"]].drop_duplicates().values))
    if before != after:
        raise FullRebuild("the measured miRNAs or time points changed")
    return spliced, parts, touched


def _plates_of(changes) -> set:
    return {
        row["plate_id"]
        for table, old, new in changes
        if table == "biobank_well"
        for row in (old, new)
        if row
    }
