"""The custody log's hash chain: what one event's hash is made of.

Each tube's events form a chain in (at, id) order: an event's hash is the SHA-256 of
the previous event's hash (GENESIS for the tube's first) and a canonical text of the
event's own fields. Editing any of those fields, deleting or reordering an event in
the database changes a hash the next event (or the verifier) relies on, so the
tampering shows. Pure functions on attribute values: the services, the demo loader,
the data migration and `verify_custody` all compute it here, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal

GENESIS = "0" * 64
VOLUME_STEP = Decimal("0.1")  # StorageEvent.volume_change_ul has one decimal place


def canonical_volume(value) -> Decimal:
    """The volume as the database keeps it (one decimal), so the hash computed before
    the insert equals the one recomputed from the stored row."""
    volume = Decimal(str(value)).quantize(VOLUME_STEP, rounding=ROUND_HALF_UP)
    return volume if volume != 0 else Decimal("0.0")  # no "-0.0"


def canonical_at(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("A custody event's time must be timezone-aware")
    # isoformat is twice as fast as strftime; the fixed timespec keeps it canonical.
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical_event(event) -> str:
    """The fields an inspector relies on, in a fixed order, as compact JSON."""
    return json.dumps(
        [
            event.aliquot_id,
            event.kind,
            canonical_at(event.at),
            event.user_id,
            event.from_box_id,
            event.from_row,
            event.from_column,
            event.to_box_id,
            event.to_row,
            event.to_column,
            str(canonical_volume(event.volume_change_ul)),
            event.reason,
            event.voids_id,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def event_hash(previous_hash: str, event) -> str:
    return hashlib.sha256(f"{previous_hash}\n{canonical_event(event)}".encode()).hexdigest()
