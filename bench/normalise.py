"""Replicate QC and normalisation of the 10,000-patient demo cohort's wells.

Prints the wells, the seconds to load them from the database and to normalise
them (vectorised pandas), and the peak memory.

    .venv/bin/python bench/normalise.py [--patients 10000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from _django import database_label, peak_rss_mib, prepare


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    prepare(patients=args.patients)
    from analysis.pipeline import normalise_wells
    from biobank.selectors.wells import wells_frame

    print(f"database: {database_label()}")
    started = time.perf_counter()
    wells = wells_frame()
    load_s = time.perf_counter() - started
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        result = normalise_wells(wells)
        timings.append(time.perf_counter() - started)
    # Memory is traced in a separate run: tracing slows allocation-heavy code several-fold.
    tracemalloc.start()
    normalise_wells(wells)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{len(wells):,} wells of {result.per_patient.shape[0]:,} patients")
    print(f"load from the database: {load_s:.2f} s")
    print(f"QC + normalisation: best {min(timings):.2f} s, worst {max(timings):.2f} s (3 runs)")
    print(
        f"peak memory: {traced_peak / 2**20:.0f} MiB allocated by the normalisation; "
        f"process peak RSS {peak_rss_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
