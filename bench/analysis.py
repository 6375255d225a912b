"""The default plan (the paper's analyses) on the 75-patient demo and the
10,000-patient cohort: seconds and peak memory for loading, normalising and each
analysis, and the time a re-run with unchanged data takes (fingerprint hit).

    .venv/bin/python bench/analysis.py [--sizes 75 10000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from _django import database_label, peak_rss_mib, prepare


def measure(patients: int) -> None:
    prepare(patients=patients)
    from analysis.engine import RUNNERS, RunContext
    from analysis.models import AnalysisPlan, AnalysisRun
    from analysis.plans import subgroup_mask
    from analysis.services import analysis_run
    from biobank.selectors.cohort import (
        active_wells_frame,
        build_cohort_table,
        cohort_table,
        follow_ups_frame,
        normalisation,
        patients_frame,
        qc_thresholds,
    )
    from biobank.selectors.qc_inputs import draw_status_frame, rt_products_frame

    plan = AnalysisPlan.objects.get(name="paper-default")
    steps = {}
    started = time.perf_counter()
    wells, products = active_wells_frame(), rt_products_frame()
    baseline, follow_ups, drawn = patients_frame(), follow_ups_frame(), draw_status_frame()
    steps["load"] = time.perf_counter() - started
    started = time.perf_counter()
    expression = normalisation(wells, products, qc_thresholds()).per_patient
    steps["normalise and QC"] = time.perf_counter() - started
    started = time.perf_counter()
    table = build_cohort_table(baseline, follow_ups, expression, drawn)
    steps["cohort table"] = time.perf_counter() - started
    for spec in plan.spec["analyses"]:
        frame = table.loc[subgroup_mask(table, spec.get("subgroup"))]
        started = time.perf_counter()
        RUNNERS[spec["kind"]](spec, frame, RunContext(plan.spec))
        steps[f"{spec['kind']}: {spec['name']}"] = time.perf_counter() - started
    # Memory is traced in a separate pass: tracing slows allocation-heavy code several-fold.
    tracemalloc.start()
    table = cohort_table()
    for spec in plan.spec["analyses"]:
        RUNNERS[spec["kind"]](
            spec, table.loc[subgroup_mask(table, spec.get("subgroup"))], RunContext(plan.spec)
        )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    AnalysisRun.objects.filter(plan=plan).delete()
    started = time.perf_counter()
    first = analysis_run(plan=plan, trigger="command")
    full = time.perf_counter() - started
    started = time.perf_counter()
    again = analysis_run(plan=plan, trigger="command")
    hit = time.perf_counter() - started
    assert first.status == "succeeded", first.error
    assert again.status == "unchanged"

    print(f"\n{patients:,} patients on {database_label()}")
    for name, seconds in steps.items():
        print(f"  {name:<55} {seconds:7.3f} s")
    print(f"  {'peak memory allocated (tracemalloc)':<55} {peak / 2**20:7.0f} MiB")
    print(f"  {'whole run (load, compute, figures, store)':<55} {full:7.3f} s")
    print(f"  {'re-run with unchanged data (fingerprint hit)':<55} {hit:7.3f} s")
    print(f"  {'process peak RSS so far':<55} {peak_rss_mib():7.0f} MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[75, 10_000])
    for size in parser.parse_args().sizes:
        measure(size)


if __name__ == "__main__":
    main()
