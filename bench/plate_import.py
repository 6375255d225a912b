"""Import 384-well LightCycler 480 exports into a laid-out plate.

Prints wells per second and the SQL queries of preview and confirm, for a 96-well
and a 384-well plate (the query count must not grow with the plate).

    .venv/bin/python bench/plate_import.py [--repeat 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/exotrack_bench .venv/bin/python bench/plate_import.py
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from _django import database_label, prepare
from django.db import connection
from django.test.utils import CaptureQueriesContext

HEADER = "Include\tColor\tPos\tName\tCp\tConcentration\tStandard\tStatus"


def lc480_export(plate) -> bytes:
    wells = plate.wells.select_related("sample").order_by("row", "column")
    lines = [f"Experiment: {plate.barcode}  Selected Filter: FAM (465-510)", HEADER]
    for index, well in enumerate(wells):
        name = well.sample.code if well.sample_id else "NTC"
        cp = "" if well.kind == "ntc" else f"{20 + (index % 97) / 10:.2f}"
        lines.append(f"True\t255\t{well.position}\t{name}\t{cp}\t\t0\t")
    return ("\r\n".join(lines) + "\r\n").encode()


def laid_out_plate(size: int, samples, assays):
    from biobank.services.plates import plate_create, plate_layout

    plate = plate_create(barcode=f"BENCH-{uuid.uuid4().hex[:10]}", plate_format=size)
    per_plate = 10 if size == 96 else 42
    plate_layout(plate=plate, samples=samples[:per_plate], assays=assays)
    return plate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    prepare(patients=75)
    from biobank.models import Assay, ReverseTranscription
    from biobank.services.plate_import import plate_import_confirm, plate_import_preview

    samples = list(ReverseTranscription.objects.order_by("pk")[:42])
    assays = list(Assay.objects.order_by("role", "target"))
    print(f"database: {database_label()}")
    for size in (96, 384):
        preview_times, confirm_times, queries = [], [], {}
        n_wells = 0
        for _ in range(args.repeat):
            plate = laid_out_plate(size, samples, assays)
            data = lc480_export(plate)
            with CaptureQueriesContext(connection) as preview_queries:
                started = time.perf_counter()
                preview = plate_import_preview(plate=plate, data=data, filename="bench.txt")
                preview_times.append(time.perf_counter() - started)
            with CaptureQueriesContext(connection) as confirm_queries:
                started = time.perf_counter()
                plate_import_confirm(plate=plate, data=data, filename="bench.txt", user=None)
                confirm_times.append(time.perf_counter() - started)
            n_wells = len(preview.changes)
            queries = {"preview": len(preview_queries), "confirm": len(confirm_queries)}
        preview_s, confirm_s = statistics.median(preview_times), statistics.median(confirm_times)
        print(
            f"{size}-well plate, {n_wells} wells: preview {preview_s * 1000:.0f} ms, "
            f"confirm {confirm_s * 1000:.0f} ms (median of {args.repeat}); "
            f"{n_wells / confirm_s:,.0f} wells/s confirmed; "
            f"queries: preview {queries['preview']}, confirm {queries['confirm']}"
        )


if __name__ == "__main__":
    main()
