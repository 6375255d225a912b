"""Time a 96-tube rack-scanner import (preview, then confirm), beside its peer.

Two 8 x 12 racks (boxes RK-BENCH-A and RK-BENCH-B) and 96 tubes. Each round:

  - rack scan: the FluidX file of rack B listing the 96 tubes recorded in rack A, at the
    same positions; rack_scan_preview then rack_scan_confirm move all 96 into B (96
    custody events, one RackScanImport);
  - peers, alternately: the same 96 tubes moved back into A by 96 single-tube
    aliquot_move calls in one transaction (what a technician's page did tube by tube
    before), or by one bulk.aliquots_move (main's bulk service, no file to read).

Time (median of 2 x --repeat rack scans and --repeat of each peer, after one untimed warm-up round) and queries of each,
in the same process. Its own database (default: a scratch SQLite file only this bench
uses); the RackScanImport rows it writes are deleted each round so the same file can
be confirmed again; the custody events are append-only and stay in that database.

    .venv/bin/python bench/rack_scan.py [--repeat 5]
    createdb -h 127.0.0.1 -U postgres exotrack_bench_rackscan
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/exotrack_bench_rackscan .venv/bin/python bench/rack_scan.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from decimal import Decimal

# Moving tubes triggers no re-analysis; seeding the two-patient cohort would, in a
# background thread, beside the figures.
os.environ.setdefault("EXOTRACK_REANALYSIS_ENABLED", "0")

from _django import prepare  # noqa: E402
from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

ROWS = "ABCDEFGH"


def racks():
    from biobank.models import Aliquot, Box, Freezer, Rack, SerumDraw

    freezer, _ = Freezer.objects.get_or_create(name="BENCH-RACKSCAN")
    shelf, _ = Rack.objects.get_or_create(freezer=freezer, name="R1")
    a, _ = Box.objects.get_or_create(
        barcode="RK-BENCH-A", defaults={"rack": shelf, "name": "A", "rows": 8, "columns": 12}
    )
    b, _ = Box.objects.get_or_create(
        barcode="RK-BENCH-B", defaults={"rack": shelf, "name": "B", "rows": 8, "columns": 12}
    )
    draw = SerumDraw.objects.order_by("pk").first()
    if not Aliquot.objects.filter(barcode__startswith="RKB-").exists():
        Aliquot.objects.bulk_create(
            Aliquot(
                barcode=f"RKB-{i:03d}",
                draw=draw,
                initial_volume_ul=Decimal(100),
                volume_ul=Decimal(100),
                status="stored",
                box=a,
                row=(i - 1) // 12 + 1,
                column=(i - 1) % 12 + 1,
            )
            for i in range(1, 97)
        )
    # Back into A wherever an interrupted run left them.
    Aliquot.objects.filter(barcode__startswith="RKB-").update(box=a)
    return a, b


def rack_file() -> bytes:
    return "".join(
        f"{ROWS[(i - 1) // 12]}{(i - 1) % 12 + 1},RKB-{i:03d}\r\n" for i in range(1, 97)
    ).encode()


def rack_scan_round(b, user, data):
    """(preview s, confirm s, preview queries, confirm queries)"""
    from biobank.models import RackScanImport
    from biobank.services.rack_scan import rack_scan_confirm, rack_scan_preview

    RackScanImport.objects.filter(box=b).delete()
    reset_queries()  # the log keeps 9,000: a full one would count 0
    with CaptureQueriesContext(connection) as previewing:
        started = time.perf_counter()
        preview = rack_scan_preview(box=b, data=data, filename="RK-BENCH-B.csv")
        previewed = time.perf_counter()
    assert not preview.refused, preview.refusals
    reset_queries()  # the log keeps 9,000: a full one would count 0
    with CaptureQueriesContext(connection) as confirming:
        started_confirm = time.perf_counter()
        record = rack_scan_confirm(box=b, data=data, filename="RK-BENCH-B.csv", user=user)
        done = time.perf_counter()
    assert record.tubes_moved == 96, record.tubes_moved
    return previewed - started, done - started_confirm, len(previewing), len(confirming)


def peer_round(a, user):
    from biobank.models import Aliquot
    from biobank.services.aliquots import Position, aliquot_move

    tubes = list(Aliquot.objects.filter(barcode__startswith="RKB-").order_by("pk"))
    reset_queries()  # the log keeps 9,000: a full one would count 0
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        with transaction.atomic():
            for tube in tubes:
                aliquot_move(
                    aliquot=tube,
                    position=Position(box=a, row=tube.row, column=tube.column),
                    user=user,
                    reason="bench/rack_scan.py peer",
                )
        done = time.perf_counter()
    return done - started, len(queries)


def bulk_round(a, user):
    from biobank.models import Aliquot
    from biobank.services.aliquots import Position
    from biobank.services.bulk import aliquots_move

    tubes = list(Aliquot.objects.filter(barcode__startswith="RKB-").order_by("pk"))
    placements = [(t.barcode, Position(box=a, row=t.row, column=t.column)) for t in tubes]
    reset_queries()  # the log keeps 9,000: a full one would count 0
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        outcome = aliquots_move(
            placements=placements, user=user, reason="bench/rack_scan.py", all_or_nothing=True
        )
        done = time.perf_counter()
    assert len(outcome.done) == 96
    return done - started, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    prepare(patients=2)
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench-rackscan")
    a, b = racks()
    data = rack_file()
    previews, confirms, peers, bulks = [], [], [], []
    for round_ in range(arguments.repeat + 1):
        for back in (peer_round, bulk_round):
            preview_s, confirm_s, preview_queries, confirm_queries = rack_scan_round(b, user, data)
            back_s, back_queries = back(a, user)
            if round_:  # the first round warms caches and the database
                previews.append(preview_s)
                confirms.append(confirm_s)
                (peers if back is peer_round else bulks).append(back_s)
            if back is peer_round:
                peer_queries = back_queries
            else:
                bulk_queries = back_queries
    ms = lambda values: f"{statistics.median(values) * 1000:.0f} ms"  # noqa: E731
    print(
        f"96-tube rack scan, medians of {len(previews)} scans and {arguments.repeat} of each peer:"
    )
    print(f"  preview  {ms(previews)}  ({preview_queries} queries)")
    print(f"  confirm  {ms(confirms)}  ({confirm_queries} queries: 96 moves, their custody events)")
    print(f"  peer: 96 single-tube aliquot_move calls  {ms(peers)}  ({peer_queries} queries)")
    print(f"  peer: bulk.aliquots_move of the 96  {ms(bulks)}  ({bulk_queries} queries)")


if __name__ == "__main__":
    main()
