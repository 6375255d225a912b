"""The live cohort read through its snapshot (biobank.models.cohort_cache, issue 16).

Building the cohort from the wells takes seconds at 10,000 patients; a re-run with
unchanged data, the report's "data changed?" check and the export all read the same
table. The table is built once per cache key and kept with its QC evidence, its export
CSV (in chunks of patients) and its fingerprint:

    key = "v{CohortVersion}:{digest of the settings the build reads}:{digest of the code}"

- The version is read FIRST, then the data: a snapshot never holds data older than
  its key, and any committed write to the cohort's tables moves the version (database
  triggers), so the next read misses and rebuilds. A snapshot is never stale.
- The code digest covers the source of every module the table and its export are
  derived from (and the pandas and numpy versions the pickle needs), computed once per
  process: an upgrade never serves a table an older derivation built.
- A miss builds with biobank.selectors.cohort.cohort_with_evidence and stores in one
  pass over the table: each chunk of 1,000 patients is written once as the export's
  CSV body and fed to the whole-table Fingerprinter.
- Nothing is stored inside a transaction (`connection.in_atomic_block`): a write
  transaction would otherwise keep a snapshot of its own uncommitted data. The build is
  returned, not stored. No lock is held while building; two builders of one key race
  on the unique key, one stores, the other's IntegrityError is swallowed.
- Fingerprints of column subsets (what a plan reads) are memoised on the snapshot, so a
  re-run's input fingerprint on a hit is a dictionary lookup.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import time
import weakref
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from analysis.columns import LINE_END
from biobank.models import CohortChange, CohortSnapshot, CohortSnapshotChunk

if TYPE_CHECKING:
    import pandas as pd

# pandas and the analysis chain are imported by the functions that build, unpickle or
# fingerprint a table: streaming a stored snapshot's CSV needs neither (issue 16).

from .cohort_version import cohort_version

CHUNK_PATIENTS = 1000  # patients per stored CSV chunk (and Fingerprinter update)
KEEP_SNAPSHOTS = 2  # the newest and the one before: an export streaming it can finish
PICKLE_PROTOCOL = 5
MAX_MEMOISED = 256  # column subsets remembered per snapshot
CANONICAL = "canonical"  # the parts' entry keeping each chunk's fingerprinted text

# The options of settings.EXOTRACK the build reads (biobank.selectors.cohort).
SETTINGS_READ = ("CQ_CUTOFF", "REPLICATE_MAX_DISTANCE", "QC", "POST_DRAW_WINDOW_DAYS")

# Every source file the table, its evidence and its export bytes are derived from.
DERIVATION_SOURCES = (
    "analysis/cohort.py",
    "analysis/columns.py",
    "analysis/csv_safety.py",
    "analysis/dictionary.py",
    "analysis/flags.py",
    "analysis/normalise.py",
    "analysis/pipeline.py",
    "analysis/qc.py",
    "analysis/thresholds.py",
    "biobank/domain/child_pugh.py",
    "biobank/selectors/cohort.py",
    "biobank/selectors/cohort_cache.py",
    "biobank/selectors/cohort_incremental.py",
    "biobank/selectors/qc_inputs.py",
    "biobank/selectors/qc_thresholds.py",
    "biobank/selectors/wells.py",
)

ROOT = Path(__file__).resolve().parent.parent.parent


def settings_digest() -> str:
    """Digest of the settings the build reads (read on every call: tests override them)."""
    options = settings.EXOTRACK
    read = {name: options.get(name) for name in SETTINGS_READ}
    read["TIME_ZONE"], read["USE_TZ"] = settings.TIME_ZONE, settings.USE_TZ
    text = json.dumps(read, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@cache
def code_digest() -> str:
    """Digest of the derivation's source and of the libraries the pickle needs; once per
    process (the code of a running process does not change)."""
    digest = hashlib.sha256()
    for name in DERIVATION_SOURCES:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes() + b"\0")
    for library in ("pandas", "numpy"):
        digest.update(f"{library}=={package_version(library)}\0".encode())
    return digest.hexdigest()[:16]


def cohort_cache_key(version: int | None = None) -> str:
    """The key of the live cohort: read the version before any of the data."""
    version = cohort_version() if version is None else version
    return f"v{version}:{settings_digest()}:{code_digest()}"


def columns_key(columns) -> str:
    """The memo key of a column subset: the fingerprint sorts columns, so order is moot."""
    return hashlib.sha256("\x1f".join(sorted(columns)).encode()).hexdigest()[:32]


@dataclass
class CachedCohort:
    """The live cohort at one key: the table and its evidence, the stored snapshot's id
    (None when it was built but not stored) and the memoised subset fingerprints."""

    table: pd.DataFrame
    evidence: dict
    key: str
    snapshot_id: int | None
    fingerprints: dict = field(default_factory=dict)

    def columns_fingerprint(self, columns) -> str:
        """analysis.cohort.fingerprint(table[columns]), remembered on the snapshot."""
        return _memoised(self.table, list(columns), self.snapshot_id, self.fingerprints)


def cached_cohort() -> CachedCohort:
    """The live cohort: the stored snapshot of the current key, else a fresh build
    (stored when outside any transaction). Two queries on a hit."""
    key = cohort_cache_key()
    stored = (
        CohortSnapshot.objects.filter(key=key)
        .values_list("id", "table", "evidence", "fingerprints")
        .first()
    )
    if stored is not None:
        snapshot_id, table, evidence, fingerprints = stored
        cohort = CachedCohort(
            table=pickle.loads(bytes(table)),  # our own bytes, written below
            evidence=pickle.loads(bytes(evidence)),
            key=key,
            snapshot_id=snapshot_id,
            fingerprints=dict(fingerprints or {}),
        )
    else:
        cohort = _build(key)
    _serve(cohort)
    return cohort


def cached_cohort_with_evidence() -> tuple[pd.DataFrame, dict]:
    """(table, evidence) as biobank.selectors.cohort.cohort_with_evidence gives them, read
    through the cache. Each call hands out its own copy: callers may change it."""
    cohort = cached_cohort()
    return cohort.table, cohort.evidence


def cohort_snapshot() -> CohortSnapshot | None:
    """The stored snapshot of the current key without its table (for the export),
    building and storing it on a miss; None inside a transaction when none is stored
    (nothing may be stored there)."""
    key = cohort_cache_key()
    found = CohortSnapshot.objects.defer("table", "evidence", "parts").filter(key=key).first()
    if found is not None or connection.in_atomic_block:
        return found
    cohort = _build(key)
    if cohort.snapshot_id is None:  # another builder's IntegrityError: theirs is stored
        return CohortSnapshot.objects.defer("table", "evidence", "parts").filter(key=key).first()
    return CohortSnapshot.objects.defer("table", "evidence", "parts").get(pk=cohort.snapshot_id)


def snapshot_csv_chunks(snapshot: CohortSnapshot, *, fetch: int = 4):
    """The stored CSV body of `snapshot`, chunk by chunk, `fetch` chunks a round trip:
    memory holds a few chunks, never the table. Raises if the snapshot was deleted
    under the reader (two newer snapshots stored meanwhile), rather than end short."""
    sent = count = 0
    chunks = (
        CohortSnapshotChunk.objects.filter(snapshot_id=snapshot.pk)
        .order_by("index")
        .values_list("rows", "csv")
    )
    for rows, text in chunks.iterator(chunk_size=fetch):
        sent, count = sent + rows, count + 1
        yield text
    if sent != snapshot.rows or not count:  # every snapshot has a chunk (its header row)
        raise RuntimeError(
            f"the cohort snapshot {snapshot.pk} was replaced while it was read "
            f"({sent} of {snapshot.rows} patients sent); export again"
        )


# ---------------------------------------------------------------- building


def _build(key: str) -> CachedCohort:
    from .cohort import cohort_with_evidence_parts

    started = time.perf_counter()
    built = None if connection.in_atomic_block else _incremental(key)
    if built is None:
        table, evidence, parts = cohort_with_evidence_parts()
        reuse = None
    else:
        table, evidence, parts, reuse = built
    seconds = time.perf_counter() - started
    cohort = CachedCohort(table=table, evidence=evidence, key=key, snapshot_id=None)
    if connection.in_atomic_block:
        return cohort  # maybe uncommitted data of this transaction: never stored
    chunks, whole, canonical = _export(table, reuse=reuse)
    if parts is not None:
        parts = {**parts, CANONICAL: canonical}
    cohort.fingerprints = {columns_key(table.columns): whole}
    cohort.snapshot_id = _store(
        cohort, chunks=chunks, fingerprint=whole, seconds=seconds, parts=parts
    )
    return cohort


# Why the last read was built as it was (for the bench and the tests): "incremental",
# or the reason a full build was needed.
last_build: dict = {"how": None}


def _incremental(key: str):
    """(table, evidence, parts, what export_chunks may reuse) from the newest stored
    snapshot of the same settings and code and the change log since (biobank.selectors.
    cohort_incremental); None when a full build is needed."""
    from analysis.flags import evidence_from_parts

    from .cohort_incremental import FullRebuild, changes_since, incremental_build
    from .qc_inputs import withdrawn_count
    from .qc_thresholds import qc_thresholds

    version, suffix = int(key[1:].split(":", 1)[0]), key.split(":", 1)[1]
    base = (
        CohortSnapshot.objects.filter(
            key__endswith=f":{suffix}", version__lt=version, parts__isnull=False
        )
        .order_by("-version")
        .only("id", "version", "rows")
        .first()
    )
    if base is None:
        last_build["how"] = "no snapshot of these settings and code to start from"
        return None
    changes = changes_since(base.version, version)
    if changes is None:
        last_build["how"] = "the change log does not cover every version since"
        return None
    table, parts = CohortSnapshot.objects.filter(pk=base.pk).values_list(
        "table", "parts"
    ).first() or (None, None)
    if table is None:
        last_build["how"] = "the snapshot was replaced while it was read"
        return None
    thresholds = qc_thresholds()
    base_table, base_parts = pickle.loads(bytes(table)), pickle.loads(bytes(parts))
    canonical = base_parts.pop(CANONICAL, None)
    try:
        table, parts, touched = incremental_build(base_table, base_parts, changes, thresholds)
    except FullRebuild as reason:
        last_build["how"] = str(reason)
        return None
    evidence = {"withdrawn": withdrawn_count()} | evidence_from_parts(parts, thresholds)
    last_build["how"] = "incremental"
    reuse = Reuse(base.pk, base_table["study_id"].tolist(), touched, canonical)
    return table, evidence, parts, reuse


@dataclass
class Reuse:
    """What export_chunks may copy from the snapshot an incremental build started from:
    a chunk whose rows are the same study ids in the same places, none rebuilt (its
    stored CSV, and its canonical text for the fingerprint, kept with the parts)."""

    snapshot_id: int
    study_ids: list
    rebuilt: set
    canonical: list | None

    def stored_chunk(self, start: int, ids: list) -> tuple[str, str] | None:
        index = start // CHUNK_PATIENTS
        if (
            self.canonical is None
            or index >= len(self.canonical)
            or self.canonical[index] is None
            or self.study_ids[start : start + len(ids)] != ids
            or self.rebuilt.intersection(ids)
        ):
            return None
        found = (
            CohortSnapshotChunk.objects.filter(
                snapshot_id=self.snapshot_id, index=index, rows=len(ids)
            )
            .values_list("csv", flat=True)
            .first()
        )
        return None if found is None else (found, self.canonical[index])


def export_chunks(table: pd.DataFrame, chunk_size: int | None = None, reuse: Reuse | None = None):
    """One pass over the table: each run of `chunk_size` patients formatted once as the
    export's CSV body (the header row in the first) and fed to the Fingerprinter.
    Returns ([(rows, csv), ...], fingerprint of the whole table)."""
    chunks, whole, _canonical = _export(table, chunk_size, reuse)
    return chunks, whole


def _export(table: pd.DataFrame, chunk_size: int | None = None, reuse: Reuse | None = None):
    """export_chunks, and each chunk's canonical text as the Fingerprinter hashed it (None
    when the fingerprint is taken of the whole table). With `reuse`, a chunk an
    incremental build left as it was is copied from the snapshot it started from, its CSV
    and its canonical text, instead of formatted again."""
    # The Fingerprinter hashes chunks in study_id order; the export keeps the table's
    # order. When the two differ (a collation other than code points), the chunks are
    # written in the table's order and the fingerprint is taken of the whole table.
    chunk_size = chunk_size or CHUNK_PATIENTS
    in_order = table["study_id"].is_monotonic_increasing if len(table) else True
    from analysis.cohort import Fingerprinter, fingerprint
    from analysis.csv_safety import neutralise_frame

    fingerprinter = Fingerprinter()
    columns = sorted(table.columns)
    chunks, canonical = [], []
    for start in range(0, max(len(table), 1), chunk_size):
        chunk = table.iloc[start : start + chunk_size]
        stored = None
        if reuse is not None and in_order and chunk_size == CHUNK_PATIENTS:
            stored = reuse.stored_chunk(start, chunk["study_id"].tolist())
        if stored is not None:
            text, hashed = stored
        else:
            buffer = io.StringIO()
            neutralise_frame(chunk).to_csv(
                buffer, index=False, header=start == 0, lineterminator=LINE_END
            )
            text = buffer.getvalue()
            hashed = Fingerprinter.canonical_text(chunk) if in_order else None
        if in_order:
            fingerprinter.feed(columns, hashed)
        chunks.append((len(chunk), text))
        canonical.append(hashed)
    if not in_order:
        return chunks, fingerprint(table), None
    return chunks, fingerprinter.hexdigest(), canonical


def _store(
    cohort: CachedCohort, *, chunks, fingerprint: str, seconds: float, parts=None
) -> int | None:
    """Store the snapshot and its chunks in one short transaction (formatting is done),
    then drop all but the newest KEEP_SNAPSHOTS. None when another builder stored the
    key first."""
    try:
        with transaction.atomic():
            snapshot = CohortSnapshot.objects.create(
                key=cohort.key,
                version=int(cohort.key[1:].split(":", 1)[0]),
                build_seconds=seconds,
                rows=len(cohort.table),
                fingerprint=fingerprint,
                table=pickle.dumps(cohort.table, protocol=PICKLE_PROTOCOL),
                evidence=pickle.dumps(cohort.evidence, protocol=PICKLE_PROTOCOL),
                fingerprints=cohort.fingerprints,
                parts=None if parts is None else pickle.dumps(parts, protocol=PICKLE_PROTOCOL),
            )
            CohortSnapshotChunk.objects.bulk_create(
                CohortSnapshotChunk(snapshot=snapshot, index=index, rows=rows, csv=text)
                for index, (rows, text) in enumerate(chunks)
            )
            keep = CohortSnapshot.objects.order_by("-id").values_list("id", flat=True)
            older = list(
                CohortSnapshot.objects.exclude(pk__in=list(keep[:KEEP_SNAPSHOTS])).values_list(
                    "id", flat=True
                )
            )
            if older:  # by id: a delete() of the snapshots would load their tables first
                CohortSnapshotChunk.objects.filter(snapshot_id__in=older).delete()
                CohortSnapshot.objects.filter(pk__in=older).only("id").delete()
            oldest = CohortSnapshot.objects.order_by("version").values_list("version").first()
            if oldest is not None:  # no kept snapshot can start from an older change
                CohortChange.objects.filter(version__lte=oldest[0]).delete()
    except IntegrityError:
        return None  # the same key stored meanwhile by another builder: same data
    return snapshot.pk


# ---------------------------------------------------------------- subset fingerprints

# Tables handed out by cached_cohort, by identity, so that analysis.services.
# input_fingerprint can use the memo for a table exactly as served: id -> (weak
# reference, snapshot id, memo). Weak: a served table is freed with its last user.
_served: dict[int, tuple[weakref.ref, int | None, dict]] = {}


def _serve(cohort: CachedCohort) -> None:
    ident = id(cohort.table)
    reference = weakref.ref(cohort.table, lambda _ref, ident=ident: _served.pop(ident, None))
    _served[ident] = (reference, cohort.snapshot_id, cohort.fingerprints)


def served_fingerprint(table: pd.DataFrame, columns) -> str | None:
    """fingerprint(table[columns]) through the memo when `table` is a live cohort as
    cached_cohort served it (the caller has not changed it); else None."""
    entry = _served.get(id(table))
    if entry is None or entry[0]() is not table:
        return None
    return _memoised(table, list(columns), entry[1], entry[2])


def _memoised(table: pd.DataFrame, columns: list[str], snapshot_id, memo: dict) -> str:
    name = columns_key(columns)
    if name in memo:
        return memo[name]
    from analysis.cohort import fingerprint

    value = fingerprint(table[columns])
    if len(memo) < MAX_MEMOISED:
        memo[name] = value
        if snapshot_id is not None and not connection.in_atomic_block:
            # Read-modify-write without a lock: a concurrent addition lost here costs
            # one recomputation later, never a wrong value (same key, same data).
            CohortSnapshot.objects.filter(pk=snapshot_id).update(fingerprints=dict(memo))
    return value
