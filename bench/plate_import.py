"""Confirm a 384-well plate import, beside the two peers of its well write.

For a 96- and a 384-well LightCycler 480 export: preview, then confirm through the
service (the raw file stored, the wells and their history written, the WellImportChange
rows), re-analysis off, then on (the embedded default: no broker, the plans queued to
this process's background runner, which is drained between repeats, untimed). Beside
the 384-well confirm, run in the same process on the same 381 wells and rolled back:

  - raw SQL: the two statements alone (PostgreSQL `UPDATE ... FROM unnest(...)` and
    `INSERT INTO biobank_historicalwell ... SELECT`; SQLite the same through executemany)
  - bulk_update_with_history: Django's bulk_update (CASE/WHEN) and simple-history's
    bulk_history_create, the confirm's write before issue 16

Its own database (default: a scratch SQLite file only this bench uses), seeded with 75
demo patients for the RT products; the plates, wells, imports, history rows, stored
files and runs it makes are deleted at the end.

    .venv/bin/python bench/plate_import.py [--repeat 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/exotrack_bench_plate .venv/bin/python bench/plate_import.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/exotrack-bench-plate.sqlite3")

from _django import database_label, prepare  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

HEADER = "Include\tColor\tPos\tName\tCp\tConcentration\tStandard\tStatus"
FIELDS = ["cq", "imported_from", "excluded", "exclusion_reason", "excluded_by", "excluded_at"]


def lc480_export(plate) -> bytes:
    wells = plate.wells.select_related("sample").order_by("row", "column")
    lines = [f"Experiment: {plate.barcode}  Selected Filter: FAM (465-510)", HEADER]
    for index, well in enumerate(wells):
        name = well.sample.code if well.sample_id else "NTC"
        cp = "" if well.kind == "ntc" else f"{20 + (index % 97) / 10:.2f}"
        lines.append(f"True\t255\t{well.position}\t{name}\t{cp}\t\t0\t")
    return ("\r\n".join(lines) + "\r\n").encode()


def laid_out_plate(size: int, samples, assays, made: list[int]):
    from biobank.services.plates import plate_create, plate_layout

    plate = plate_create(barcode=f"BENCH-{uuid.uuid4().hex[:10]}", plate_format=size)
    made.append(plate.pk)
    plate_layout(plate=plate, samples=samples[: 10 if size == 96 else 42], assays=assays)
    return plate


def raw_two_statements(wells, user_id, reason, when) -> None:
    """The peer: the update and the history insert, written out by hand."""
    ids = [w.pk for w in wells]
    cqs = [20.0 + i / 100 for i in range(len(wells))]
    columns = 'id, plate_id, row, "column", kind, sample_id, assay_id, replicate, cq, '
    columns += "excluded, exclusion_reason, excluded_by_id, excluded_at, imported_from_id, "
    columns += "quantity, quantity_unit"
    copied = ", ".join(f"t.{c.strip()}" for c in columns.split(","))
    insert = (
        f"INSERT INTO biobank_historicalwell ({columns}, history_date, history_change_reason, "
        f"history_type, history_user_id) SELECT {copied}, %s, %s, '~', %s FROM biobank_well t "
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE biobank_well AS t SET cq = v.cq, imported_from_id = NULL, excluded = NULL,"
                " exclusion_reason = '', excluded_by_id = NULL, excluded_at = NULL"
                " FROM unnest(%s::bigint[], %s::double precision[]) AS v(id, cq)"
                " WHERE t.id = v.id",
                [ids, cqs],
            )
            cursor.execute(insert + "WHERE t.id = ANY(%s)", [when, reason, user_id, ids])
        else:
            cursor.executemany(
                "UPDATE biobank_well SET cq = %s, imported_from_id = NULL, excluded = NULL,"
                " exclusion_reason = '', excluded_by_id = NULL, excluded_at = NULL WHERE id = %s",
                list(zip(cqs, ids, strict=True)),
            )
            when = connection.ops.adapt_datetimefield_value(when)
            cursor.executemany(
                insert + "WHERE t.id = %s", [(when, reason, user_id, i) for i in ids]
            )


def django_bulk_update(wells, user_id, reason, when) -> None:
    """The peer: the confirm's write before issue 16."""
    from simple_history.utils import bulk_update_with_history

    from biobank.models import Well

    for index, well in enumerate(wells):
        well.cq, well.imported_from_id, well.excluded = 20.0 + index / 100, None, None
        well.exclusion_reason, well.excluded_by_id, well.excluded_at = "", None, None
    bulk_update_with_history(
        wells, Well, FIELDS, batch_size=500, default_change_reason=reason, default_date=when
    )


def peer_time(write, plate) -> tuple[float, int]:
    """One write of the plate's sample wells, timed, then rolled back."""
    from django.utils import timezone

    with transaction.atomic():
        wells = list(plate.wells.exclude(kind="ntc").order_by("pk"))
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            write(wells, None, "bench peer", timezone.now())
            elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed, len(queries)


def clean_up(plate_ids: list[int], first_run_id: int) -> None:
    """Delete what the bench made: nothing it wrote stays in the database."""
    from analysis.models import AnalysisRun
    from biobank.models import PlateImport, QpcrPlate, Well, WellImportChange

    storage = PlateImport._meta.get_field("raw_file").storage
    imports = PlateImport.objects.filter(plate_id__in=plate_ids)
    names = set(imports.values_list("raw_file", flat=True))
    import_ids = list(imports.values_list("pk", flat=True))
    WellImportChange.objects.filter(plate_import_id__in=import_ids).delete()
    Well.objects.filter(plate_id__in=plate_ids).delete()
    imports.delete()
    QpcrPlate.objects.filter(pk__in=plate_ids).delete()
    Well.history.filter(plate_id__in=plate_ids).delete()
    QpcrPlate.history.filter(id__in=plate_ids).delete()
    AnalysisRun.objects.filter(pk__gte=first_run_id).delete()
    for name in names:
        if name and not PlateImport.objects.filter(raw_file=name).exists():
            storage.delete(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    prepare(patients=75)
    from django.conf import settings
    from django.db.models import Max

    from analysis import tasks
    from analysis.models import AnalysisPlan, AnalysisRun
    from biobank.models import Assay, ReverseTranscription
    from biobank.services.plate_import import plate_import_confirm, plate_import_preview

    saved = settings.EXOTRACK
    samples = list(ReverseTranscription.objects.order_by("pk")[:42])
    # The study's three assays (3 x 3 replicates x 42 samples + 3 NTCs = 381 wells).
    study = ["cel-miR-39-3p", "hsa-miR-122-5p", "hsa-miR-21-5p"]
    assays = list(Assay.objects.filter(target__in=study).order_by("role", "target"))
    plans = AnalysisPlan.objects.filter(is_active=True).count()
    first_run_id = (AnalysisRun.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
    made: list[int] = []
    print(f"database: {database_label()}; no broker; {plans} active plans")
    try:
        for reanalysis in (False, True):
            settings.EXOTRACK = {
                **saved,
                "REANALYSIS_ENABLED": reanalysis,
                "REANALYSIS_IN_BACKGROUND": True,
            }
            label = (
                "re-analysis on (queued to the background runner)"
                if reanalysis
                else ("re-analysis off")
            )
            for size in (96, 384):
                preview_times, confirm_times, queries = [], [], {}
                raw, bulk = [], []
                for _ in range(args.repeat):
                    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": False}
                    plate = laid_out_plate(size, samples, assays, made)
                    if size == 384 and not reanalysis:
                        raw.append(peer_time(raw_two_statements, plate))
                        bulk.append(peer_time(django_bulk_update, plate))
                    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": reanalysis}
                    data = lc480_export(plate)
                    with CaptureQueriesContext(connection) as preview_queries:
                        started = time.perf_counter()
                        preview = plate_import_preview(plate=plate, data=data, filename="b.txt")
                        preview_times.append(time.perf_counter() - started)
                    with CaptureQueriesContext(connection) as confirm_queries:
                        started = time.perf_counter()
                        plate_import_confirm(plate=plate, data=data, filename="b.txt", user=None)
                        confirm_times.append(time.perf_counter() - started)
                    queries = {"preview": len(preview_queries), "confirm": len(confirm_queries)}
                    assert tasks.wait_for_background_runs(timeout=600), "runner did not drain"
                n_wells = len(preview.changes)
                confirm_s = statistics.median(confirm_times)
                print(
                    f"{label}, {size}-well plate ({n_wells} wells): "
                    f"preview {statistics.median(preview_times) * 1000:.0f} ms, "
                    f"confirm {confirm_s * 1000:.0f} ms (median of {args.repeat}, "
                    f"max {max(confirm_times) * 1000:.0f}); "
                    f"queries preview {queries['preview']}, confirm {queries['confirm']}"
                )
                for name, times in (
                    ("raw two statements", raw),
                    ("bulk_update_with_history", bulk),
                ):
                    if times:
                        print(
                            f"    peer, {name} on the same wells: "
                            f"{statistics.median(t for t, _ in times) * 1000:.1f} ms, "
                            f"{times[0][1]} queries"
                        )
    finally:
        settings.EXOTRACK = {**saved, "REANALYSIS_ENABLED": False}
        tasks.wait_for_background_runs(timeout=600)
        clean_up(made, first_run_id)
        settings.EXOTRACK = saved
    print(f"cleaned up: {len(made)} plates and all they made")


if __name__ == "__main__":
    main()
