"""Reading the custody log: checking the hash chains, and one tube's timeline.

The check recomputes each tube's chain in (at, id) order from the stored fields
(biobank/domain/custody.py) and compares, event by event:
- the event's own hash with the one recomputed from its fields and its
  `previous_hash`: a difference means the event's row was edited;
- its `previous_hash` with the hash of the event that now precedes it: a difference
  means an event before it was deleted, inserted or moved in time.
Each problem is reported once, at the event where it shows; the chain then goes on
from the stored hash, so one edit does not flag every later event.

What a chain cannot show: the removal of a tube's last events (nothing after them
refers to them), and a rewrite that recomputes every later hash too; the summary's
digest of all chain heads, kept outside the database, shows the latter.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from biobank.domain.custody import GENESIS, event_hash
from biobank.models import Aliquot, StorageEvent

CHAIN_FIELDS = (
    "id",
    "aliquot_id",
    "kind",
    "at",
    "user_id",
    "from_box_id",
    "from_row",
    "from_column",
    "to_box_id",
    "to_row",
    "to_column",
    "volume_change_ul",
    "reason",
    "voids_id",
    "previous_hash",
    "hash",
)


@dataclass(frozen=True)
class BrokenLink:
    aliquot_id: int
    event_id: int
    kind: str
    at: object
    problem: str
    barcode: str = ""


@dataclass
class ChainCheck:
    tubes: int = 0
    events: int = 0
    seconds: float = 0.0
    broken: list[BrokenLink] = field(default_factory=list)
    heads_digest: str = ""

    @property
    def intact(self) -> bool:
        return not self.broken


def _problems(rows: Iterator) -> Iterator[tuple[object, str | None, str | None]]:
    """(row, problem or None, new tube?) for rows in (aliquot, at, id) order."""
    current, expected_previous = None, GENESIS
    for row in rows:
        if row.aliquot_id != current:
            current, expected_previous = row.aliquot_id, GENESIS
            new_tube = True
        else:
            new_tube = False
        problem = None
        recomputed = event_hash(row.previous_hash, row)
        if recomputed != row.hash:
            problem = (
                f"fields changed: stored hash {row.hash[:16]}… but the fields give "
                f"{recomputed[:16]}…"
            )
        elif row.previous_hash != expected_previous:
            problem = (
                "link broken: it follows "
                + ("nothing (first event)" if expected_previous == GENESIS else "another event")
                + f" ({expected_previous[:16]}…) but was chained after {row.previous_hash[:16]}… "
                "(an event before it was deleted, inserted or re-dated)"
            )
        expected_previous = row.hash
        yield row, problem, new_tube


def custody_check(*, aliquot: Aliquot | None = None) -> ChainCheck:
    """Recompute every chain (or one tube's), streaming the log in chain order."""
    started = time.perf_counter()
    events = StorageEvent.objects.all()
    if aliquot is not None:
        events = events.filter(aliquot=aliquot)
    rows = (
        events.order_by("aliquot_id", "at", "id")
        .values_list(*CHAIN_FIELDS, named=True)
        .iterator(chunk_size=5000)
    )
    check = ChainCheck()
    heads = hashlib.sha256()
    last = None
    for row, problem, new_tube in _problems(rows):
        if new_tube:
            if last is not None:
                heads.update(f"{last.aliquot_id}:{last.hash}\n".encode())
            check.tubes += 1
        check.events += 1
        last = row
        if problem:
            check.broken.append(BrokenLink(row.aliquot_id, row.id, row.kind, row.at, problem))
    if last is not None:
        heads.update(f"{last.aliquot_id}:{last.hash}\n".encode())
    if check.broken:
        barcodes = dict(
            Aliquot.objects.filter(pk__in={link.aliquot_id for link in check.broken}).values_list(
                "pk", "barcode"
            )
        )
        check.broken = [
            BrokenLink(**{**link.__dict__, "barcode": barcodes.get(link.aliquot_id, "?")})
            for link in check.broken
        ]
    check.heads_digest = heads.hexdigest()
    check.seconds = time.perf_counter() - started
    return check


@dataclass(frozen=True)
class TimelineEntry:
    event: StorageEvent
    voided_by: StorageEvent | None
    problem: str | None


@dataclass(frozen=True)
class CustodyTimeline:
    aliquot: Aliquot
    entries: list[TimelineEntry]

    @property
    def broken(self) -> list[TimelineEntry]:
        return [entry for entry in self.entries if entry.problem]

    @property
    def intact(self) -> bool:
        return not self.broken

    @property
    def status(self) -> str:
        if self.intact:
            return f"Chain verified: {len(self.entries)} event(s), every hash matches"
        return f"CHAIN BROKEN at {len(self.broken)} event(s): the log was altered outside ExoTrack"


def custody_events(aliquot: Aliquot):
    """A tube's events in chain order, with what the pages print of them."""
    return (
        StorageEvent.objects.filter(aliquot=aliquot)
        .select_related("user", "from_box", "to_box", "voided_by", "voided_by__user")
        .order_by("at", "id")
    )


def custody_timeline(aliquot: Aliquot) -> CustodyTimeline:
    """Every event of the tube, with its void (if any) and the chain's verdict on it."""
    events = list(custody_events(aliquot))
    entries = []
    for event, problem, _ in _problems(iter(events)):
        voided_by = getattr(event, "voided_by", None)
        entries.append(TimelineEntry(event, voided_by, problem))
    return CustodyTimeline(aliquot, entries)


def custody_event_by_id(event_id: int) -> StorageEvent | None:
    return (
        StorageEvent.objects.select_related("aliquot__draw__patient", "aliquot__box")
        .filter(pk=event_id)
        .first()
    )
