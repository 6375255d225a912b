"""Writing the custody log: every StorageEvent goes through `custody_events_record`.

It links each new event to its tube's chain (biobank/domain/custody.py) and inserts
the lot in one statement: one query for the last hash of every tube concerned, one
insert, whatever the number of tubes. Callers hold the row lock of every tube they
log (biobank.services.aliquots.lock_aliquot(s)), so two transactions cannot both
read the same last hash and fork a tube's chain.

The log is append-only. A wrong line is corrected by `storage_event_void`, a new
event that names it and says why; nothing edits or deletes an event.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from biobank.domain.custody import GENESIS, canonical_volume, event_hash
from biobank.models import Aliquot, StorageEvent

from .bulk_history import bulk_insert

Kind = StorageEvent.Kind


def chain_heads(aliquot_ids) -> dict[int, tuple]:
    """(at, hash) of the last event of each tube, in one query: one index seek per tube
    (storage_event_chain_order), not a scan of every tube's whole log."""
    ids = sorted(set(aliquot_ids))
    if not ids:
        return {}
    last = StorageEvent.objects.filter(aliquot_id=OuterRef("pk")).order_by("-at", "-id")
    heads = (
        Aliquot.objects.filter(pk__in=ids)
        .annotate(
            last_at=Subquery(last.values("at")[:1]), last_hash=Subquery(last.values("hash")[:1])
        )
        .filter(last_hash__isnull=False)
        .values_list("pk", "last_at", "last_hash")
    )
    return {aliquot_id: (at, hash_) for aliquot_id, at, hash_ in heads}


def custody_chain(events: Sequence[StorageEvent], *, new_tubes: bool = False) -> list[StorageEvent]:
    """Set `previous_hash` and `hash` on unsaved events, in place.

    The events are inserted in the order given, so ids grow in that order; a tube's
    events among them are chained in (at, order given), which is the (at, id) order
    the verifier reads. `new_tubes`: the caller has just created every tube concerned
    (no earlier events to look up)."""
    events = list(events)
    heads = {} if new_tubes else chain_heads(event.aliquot_id for event in events)
    chain_order = sorted(range(len(events)), key=lambda i: (events[i].aliquot_id, events[i].at))
    for i in chain_order:
        event = events[i]
        last_at, last_hash = heads.get(event.aliquot_id, (None, GENESIS))
        if last_at is not None and event.at < last_at:
            raise ValidationError(
                {
                    "at": f"An event of aliquot {event.aliquot_id} cannot be dated "
                    f"{event.at:%Y-%m-%d %H:%M:%S}, before its last event "
                    f"({last_at:%Y-%m-%d %H:%M:%S})"
                }
            )
        event.volume_change_ul = canonical_volume(event.volume_change_ul)
        event.previous_hash = last_hash
        event.hash = event_hash(last_hash, event)
        heads[event.aliquot_id] = (event.at, event.hash)
    return events


def custody_events_record(
    events: Sequence[StorageEvent],
    *,
    new_tubes: bool = False,
    batch_size: int | None = None,
    want_ids: bool = True,
) -> list[StorageEvent]:
    """Chain and insert custody events (two queries whatever their number).

    `want_ids=False`: the caller does not need the new events' ids, so they go in through
    bulk_history.bulk_insert, one statement however many (bulk_create on SQLite sends a
    statement per 62 events: Django assumes 999 variables a statement)."""
    events = custody_chain(events, new_tubes=new_tubes)
    if not events:
        return []
    if not want_ids:
        bulk_insert(objs=events, model=StorageEvent)
        return events
    return StorageEvent.objects.bulk_create(events, batch_size=batch_size)


@transaction.atomic
def storage_event_void(*, event: StorageEvent, user, reason: str) -> StorageEvent:
    """Record that `event` was wrong, with why. The voided line stays in the log (struck
    through on the tube's page); the tube's place, volume and status are not touched:
    they follow from what was done to the tube, which the other services record."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the event is voided"})
    limit = StorageEvent._meta.get_field("reason").max_length
    if len(reason) > limit:
        raise ValidationError(
            {"reason": f"The reason is {len(reason)} characters; at most {limit} are kept"}
        )
    aliquot = Aliquot.objects.select_for_update().get(pk=event.aliquot_id)
    event = StorageEvent.objects.get(pk=event.pk)
    if event.kind == Kind.VOID:
        raise ValidationError(
            {"event": f"Event {event.pk} is itself a void; record a new event instead"}
        )
    already = StorageEvent.objects.filter(voids=event).values_list("pk", flat=True).first()
    if already:
        raise ValidationError({"event": f"Event {event.pk} is already voided by event {already}"})
    void = StorageEvent(
        aliquot=aliquot,
        kind=Kind.VOID,
        at=timezone.now(),
        user=user if getattr(user, "is_authenticated", False) else None,
        volume_change_ul=0,
        reason=reason,
        voids=event,
    )
    try:
        with transaction.atomic():
            (void,) = custody_events_record([void])
    except IntegrityError as error:  # a concurrent void of the same event
        raise ValidationError({"event": f"Event {event.pk} was just voided"}) from error
    return void
