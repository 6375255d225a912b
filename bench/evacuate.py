"""Time the evacuation of a freezer of 1,000 tubes, beside two peers, in one process.

Layout: freezer BENCH-EVAC-A with 2 racks (R1, R2) of 7 boxes (B1..B7) of 9 x 9; the
1,000 tubes fill the first 12 boxes and 28 positions of the 13th; freezer BENCH-EVAC-B
has the same racks and boxes, empty. Then:

  1. freezer_evacuate A -> B (biobank.services.storage_moves): one transaction, the
     tubes and boxes locked, the checks (fit, occupancy, kept places), the update with
     its 1,000 history rows, 1,000 chained MOVE custody events;
  2. peer, the floor: the same 1,000 rows moved back B -> A by one raw
     `UPDATE ... FROM` (PostgreSQL) / `UPDATE ... SET box_id = (subquery)` (SQLite) and
     one `INSERT ... SELECT` of 1,000 events with no hash, no history and no checks, in
     a transaction rolled back (unchained events must not stay in the log);
  3. peer, by hand: 1,000 single-tube biobank.services.aliquots.aliquot_move calls
     B -> A, each its own transaction (what the bench pages did before).

Each figure is the wall time and the number of SQL statements (executemany counts once).
Its own database: a scratch SQLite file by default, or the PostgreSQL database you name
(the bench's rows are deleted at the end; the 12-patient demo cohort that gives the
tubes their draw stays):

    .venv/bin/python bench/evacuate.py [--tubes 1000]
    createdb -h 127.0.0.1 -U postgres exotrack_bench_storage
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/exotrack_bench_storage \\
        .venv/bin/python bench/evacuate.py
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

from _django import prepare  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

PREFIX = "BENCH-EVAC"
RACKS, BOXES, SIDE = ("R1", "R2"), 7, 9


@contextmanager
def counted():
    """Count the SQL statements sent (a wrapper: no query log kept, so cheap)."""
    calls = [0]

    def wrapper(execute, sql, params, many, context):
        calls[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield calls


def build(tubes: int):
    from biobank.models import Aliquot, Box, Freezer, Rack, SerumDraw
    from biobank.services.aliquots import Position, log_event
    from biobank.services.custody import custody_events_record

    freezers = {}
    for side in ("A", "B"):
        freezer = Freezer.objects.create(name=f"{PREFIX}-{side}", location="bench/evacuate.py")
        freezers[side] = freezer
        for rack_name in RACKS:
            rack = Rack.objects.create(freezer=freezer, name=rack_name)
            Box.objects.bulk_create(
                Box(rack=rack, name=f"B{n}", barcode=f"{PREFIX}-{side}-{rack_name}-B{n}")
                for n in range(1, BOXES + 1)
            )
    boxes = list(Box.objects.filter(rack__freezer=freezers["A"]).order_by("rack__name", "name"))
    places = [(box, r, c) for box in boxes for r in range(1, SIDE + 1) for c in range(1, SIDE + 1)]
    if tubes > len(places):
        raise SystemExit(f"at most {len(places)} tubes fit in the bench freezer")
    draw = SerumDraw.objects.order_by("pk").first()
    with transaction.atomic():
        Aliquot.objects.bulk_create(
            Aliquot(
                barcode=f"{PREFIX}-{n:05d}",
                draw=draw,
                initial_volume_ul=10,
                volume_ul=10,
                box=box,
                row=row,
                column=column,
            )
            for n, (box, row, column) in enumerate(places[:tubes])
        )
        made = list(Aliquot.objects.filter(barcode__startswith=PREFIX).select_related("box"))
        custody_events_record(
            [
                log_event(
                    tube, "check_in", user=None, target=Position(tube.box, tube.row, tube.column)
                )
                for tube in made
            ],
            new_tubes=True,
            want_ids=False,
        )
    return freezers


def clean_up() -> None:
    from biobank.models import Aliquot, Box, Freezer, Rack, StorageEvent

    with transaction.atomic():
        mine = Aliquot.objects.filter(barcode__startswith=PREFIX)
        StorageEvent.objects.filter(aliquot__in=mine).delete()
        Aliquot.history.filter(barcode__startswith=PREFIX).delete()
        mine.delete()
        boxes = Box.objects.filter(barcode__startswith=PREFIX)
        Box.history.filter(barcode__startswith=PREFIX).delete()
        boxes.delete()
        Rack.history.filter(freezer__name__startswith=PREFIX).delete()
        Freezer.history.filter(name__startswith=PREFIX).delete()
        Rack.objects.filter(freezer__name__startswith=PREFIX).delete()
        Freezer.objects.filter(name__startswith=PREFIX).delete()


def raw_move_back(source, target) -> int:
    """The floor: one UPDATE and one INSERT, no lock, check, history or chain."""
    now = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """
                UPDATE biobank_aliquot AS t SET box_id = b2.id
                FROM biobank_box b1 JOIN biobank_rack r1 ON r1.id = b1.rack_id,
                     biobank_box b2 JOIN biobank_rack r2 ON r2.id = b2.rack_id
                WHERE t.box_id = b1.id AND r1.freezer_id = %s AND r2.freezer_id = %s
                  AND r2.name = r1.name AND b2.name = b1.name
                """,
                [source.pk, target.pk],
            )
        else:
            cursor.execute(
                """
                UPDATE biobank_aliquot SET box_id = (
                    SELECT b2.id FROM biobank_box b1 JOIN biobank_rack r1 ON r1.id = b1.rack_id,
                        biobank_box b2 JOIN biobank_rack r2 ON r2.id = b2.rack_id
                    WHERE b1.id = biobank_aliquot.box_id AND r2.freezer_id = %s
                      AND r2.name = r1.name AND b2.name = b1.name)
                WHERE box_id IN (SELECT b.id FROM biobank_box b JOIN biobank_rack r
                                 ON r.id = b.rack_id WHERE r.freezer_id = %s)
                """,
                [target.pk, source.pk],
            )
        moved = cursor.rowcount
        cursor.execute(
            """
            INSERT INTO biobank_storageevent (aliquot_id, kind, at, to_box_id, to_row,
                to_column, volume_change_ul, reason, previous_hash, hash)
            SELECT a.id, 'move', %s, a.box_id, a.row, a.column, 0, 'bench raw', '', ''
            FROM biobank_aliquot a JOIN biobank_box b ON b.id = a.box_id
            JOIN biobank_rack r ON r.id = b.rack_id WHERE r.freezer_id = %s
            """,
            [now, target.pk],
        )
    return moved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tubes", type=int, default=1000)
    options = parser.parse_args()
    prepare(12)
    from biobank.models import Aliquot, Box
    from biobank.services.aliquots import Position, aliquot_move
    from biobank.services.storage_moves import freezer_evacuate

    clean_up()  # a run stopped half way
    freezers = build(options.tubes)
    source, target = freezers["A"], freezers["B"]
    print(
        f"layout: {options.tubes} tubes in freezer {source.name}, {len(RACKS)} racks x "
        f"{BOXES} boxes of {SIDE} x {SIDE}; {target.name} the same, empty"
    )
    try:
        with counted() as calls:
            started = time.perf_counter()
            plan = freezer_evacuate(source=source, target=target, user=None, reason="bench")
            took = time.perf_counter() - started
        assert plan.tube_count == options.tubes
        print(
            f"freezer_evacuate, {plan.tube_count} tubes: {took * 1000:.0f} ms, {calls[0]} "
            f"statements ({took / plan.tube_count * 1e6:.0f} µs a tube)"
        )
        with counted() as calls:
            started = time.perf_counter()
            with transaction.atomic():
                moved = raw_move_back(target, source)
                raw = time.perf_counter() - started
                transaction.set_rollback(True)
        print(
            f"peer, raw UPDATE + INSERT of the same {moved} rows (rolled back): "
            f"{raw * 1000:.0f} ms, {calls[0]} statements; the service is x{took / raw:.1f}"
        )
        tubes = list(
            Aliquot.objects.filter(box__rack__freezer=target)
            .select_related("box__rack")
            .order_by("pk")
        )
        back = {
            (box.rack.name, box.name): box
            for box in Box.objects.filter(rack__freezer=source).select_related("rack")
        }
        with counted() as calls:
            started = time.perf_counter()
            for tube in tubes:
                aliquot_move(
                    aliquot=tube,
                    position=Position(
                        back[tube.box.rack.name, tube.box.name], tube.row, tube.column
                    ),
                    user=None,
                    reason="bench",
                )
            singles = time.perf_counter() - started
        print(
            f"peer, {len(tubes)} single-tube aliquot_move calls: {singles * 1000:.0f} ms, "
            f"{calls[0]} statements; the service is x{singles / took:.1f} faster"
        )
    finally:
        clean_up()
        print("removed the bench's tubes, events, boxes, racks and freezers")


if __name__ == "__main__":
    main()
