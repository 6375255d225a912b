"""Time `verify_custody` over ~100,000 custody events, beside the read alone.

Seeds the demo cohort (default 300 patients, 2,400 tubes and their check-in and
consume events), then adds thaw events through the chained writer
(services.custody.custody_events_record, one lot per round of one event per tube)
until the log holds `--events` events. Then, in the same process:

  - peer: reading the same columns in the same order, streamed, no hashing
    (the floor a verifier cannot go under), after one untimed warm-up read;
  - verify_custody: the same read, each event's hash recomputed and compared.

Its own database (default: a scratch SQLite file only this bench uses); the thaw
events it added are deleted at the end (the seeded cohort stays).

    .venv/bin/python bench/verify_custody.py [--events 100000] [--patients 300]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/exotrack_bench_verify_custody .venv/bin/python bench/verify_custody.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import time

from _django import prepare  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

BENCH_REASON = "bench/verify_custody.py"


def add_events(wanted: int) -> int:
    from biobank.models import Aliquot, StorageEvent
    from biobank.services.custody import custody_events_record

    tubes = list(Aliquot.objects.order_by("pk").only("pk"))
    have = StorageEvent.objects.count()
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    round_ = 0
    while have < wanted:
        lot = tubes[: wanted - have]
        moment = start + dt.timedelta(minutes=round_)
        with transaction.atomic():
            custody_events_record(
                [
                    StorageEvent(aliquot=tube, kind="thaw", at=moment, reason=BENCH_REASON)
                    for tube in lot
                ],
                batch_size=5000,
            )
        have += len(lot)
        round_ += 1
    return have


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=300)
    options = parser.parse_args()
    prepare(options.patients)

    from biobank.models import StorageEvent
    from biobank.selectors.custody import CHAIN_FIELDS

    started = time.perf_counter()
    total = add_events(options.events)
    print(
        f"custody log: {total} events (added through the chained writer in "
        f"{time.perf_counter() - started:.1f} s)"
    )
    try:

        def stream() -> int:
            rows = 0
            for _ in (
                StorageEvent.objects.order_by("aliquot_id", "at", "id")
                .values_list(*CHAIN_FIELDS, named=True)
                .iterator(chunk_size=5000)
            ):
                rows += 1
            return rows

        stream()  # untimed: both timings below then start from a warm cache
        started = time.perf_counter()
        rows = stream()
        read = time.perf_counter() - started
        print(f"peer, the streamed read alone: {rows} rows in {read:.2f} s")
        out = io.StringIO()
        started = time.perf_counter()
        try:
            call_command("verify_custody", stdout=out, stderr=out)
            status = 0
        except SystemExit as stop:  # a broken chain: still a timing, said as such
            status = stop.code
        took = time.perf_counter() - started
        print(
            f"verify_custody: {took:.2f} s (x{took / read:.1f} the read), exit status {status}; "
            f"it printed {len(out.getvalue().splitlines())} line(s), the last:"
        )
        print("  " + out.getvalue().strip().splitlines()[-1])
    finally:
        removed, _ = StorageEvent.objects.filter(reason=BENCH_REASON).delete()
        print(f"removed the {removed} bench events")


if __name__ == "__main__":
    main()
