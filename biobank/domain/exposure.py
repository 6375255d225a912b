"""Which tubes were in a freezer during a time window, and for how long, read from their
custody log (pure: the caller reads the events, biobank.selectors.excursions).

A tube's place over time follows its events, in (at, id) order:

    check_in, move          it is in the event's to_box from that moment
    check_out, discard      it is out of every freezer
    consume                 out when it is the last consume of a tube now used up
    thaw, excursion, void   no change of place (a void corrects a log line; the tube's
                            place was changed by what was done, not by the line)

Before its first event a tube whose log does not begin with its check-in (a tube made
before the log, or by hand) is taken to have been where its first event found it (that
event's from_box), or, with no event naming a box, where it is now, since it was made.

Freezers are the boxes' freezers as they are now (a box moved to another rack or
freezer moves its past with it: the log names boxes, not freezers).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

PLACING = {"check_in", "move"}
REMOVING = {"check_out", "discard"}


@dataclass(frozen=True)
class TubeLog:
    """What the computation needs of one tube: where it is now and since when it exists,
    and its events as (kind, at, freezer id of from_box, freezer id of to_box), in
    (at, id) order, only those up to the window's end."""

    aliquot_id: int
    created_at: dt.datetime
    freezer_now: int | None
    used_up: bool
    events: list[tuple[str, dt.datetime, int | None, int | None]]


@dataclass(frozen=True)
class Exposure:
    aliquot_id: int
    seconds: float
    entered_at: dt.datetime  # first moment inside within the window
    left_at: dt.datetime | None  # last moment inside within the window; None: still inside

    @property
    def minutes(self) -> int:
        """Rounded up: any part of a minute inside counts as that minute."""
        return math.ceil(self.seconds / 60 - 1e-9) if self.seconds > 0 else 0


def stays(log: TubeLog) -> list[tuple[dt.datetime, dt.datetime | None, int]]:
    """(from, until, freezer id) of every stay of the tube in a freezer; until None for
    the stay that goes on."""
    last_consume = max(
        (i for i, (kind, *_rest) in enumerate(log.events) if kind == "consume"), default=None
    )
    first_box = next(
        ((source, target) for _, _, source, target in log.events if source or target), None
    )
    starts_with_check_in = bool(log.events) and log.events[0][0] == "check_in"
    if starts_with_check_in:
        where = None
    elif first_box is not None:
        where = first_box[0]  # None when its first box event placed it (came from outside)
    else:
        where = log.freezer_now
    since = log.created_at
    result = []
    for i, (kind, at, _source, target) in enumerate(log.events):
        if kind in PLACING:
            after = target
        elif kind in REMOVING or (kind == "consume" and log.used_up and i == last_consume):
            after = None
        else:
            continue
        if after != where:
            if where is not None:
                result.append((since, at, where))
            where, since = after, at
    if where is not None:
        result.append((since, None, where))
    return result


def exposures(
    logs: Iterable[TubeLog], *, freezer_id: int, start: dt.datetime, end: dt.datetime
) -> dict[int, Exposure]:
    """The tubes that were in `freezer_id` at some moment of [start, end], with the time
    inside within it. A tube that left before `start` or came after `end` is not there;
    one inside at `start` of a window with no length yet (start == end) is, with 0 s."""
    found: dict[int, Exposure] = {}
    for log in logs:
        seconds, entered, left, inside = 0.0, None, None, False
        for since, until, freezer in stays(log):
            if freezer != freezer_id:
                continue
            if since > end or (until is not None and until <= start):
                continue
            lo, hi = max(since, start), end if until is None else min(until, end)
            seconds += max((hi - lo).total_seconds(), 0.0)
            entered = lo if entered is None else min(entered, lo)
            left = None if until is None or until > end else until
            inside = True
        if inside:
            found[log.aliquot_id] = Exposure(log.aliquot_id, seconds, entered, left)
    return found
