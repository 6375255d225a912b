"""What the QC gate adds to a run: the QC derivation (analysis.flags) over the demo
cohort's wells, and the gate (analysis.gate) over its cohort table.

Each figure is printed beside its peer, run interleaved in the same process: the
normalisation chain without the QC rules (replicate QC, NTC table, ΔCq, per-patient
table: what a run did before the gate) and with them (spike-in batch, haemolysis,
pre-analytical, NTC and replicate findings, the per-patient QC columns). Pure pandas,
no database in the timed part; re-analysis plays no part.

    .venv/bin/python bench/qc.py [--patients 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from _django import database_label, peak_rss_mib, prepare


def best(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    prepare(patients=args.patients)
    from analysis.cohort import build_cohort_table
    from analysis.gate import apply_gate, patient_flow
    from analysis.normalise import delta_cq, patient_expression
    from analysis.pipeline import normalise_wells
    from analysis.qc import apply_replicate_qc, ntc_contamination, summarise_replicates
    from biobank.selectors.cohort import (
        active_wells_frame,
        follow_ups_frame,
        patients_frame,
        qc_thresholds,
    )
    from biobank.selectors.qc_inputs import draw_status_frame, rt_products_frame

    print(f"database: {database_label()}; pure pandas timed, best of {args.repeat}")
    wells = active_wells_frame()
    started = time.perf_counter()
    products = rt_products_frame()
    products_s = time.perf_counter() - started
    thresholds = qc_thresholds()

    def without_qc():
        qc_wells = apply_replicate_qc(wells)
        replicates = summarise_replicates(qc_wells)
        ntc_contamination(qc_wells)
        return patient_expression(delta_cq(replicates))

    def with_qc():
        return normalise_wells(wells, products=products, thresholds=thresholds)

    peer_s = with_s = 0.0
    for _ in range(args.repeat):  # interleaved, so load on the machine hits both alike
        peer, _result = best(without_qc, 1)
        full, result = best(with_qc, 1)
        peer_s = peer if not peer_s else min(peer_s, peer)
        with_s = full if not with_s else min(with_s, full)
    qc = result.qc
    print(
        f"{len(wells):,} wells, {len(products):,} RT products, {len(result.per_patient):,} patients"
    )
    print(f"normalisation without the QC rules (peer): {peer_s:.3f} s")
    print(f"normalisation with the QC rules:            {with_s:.3f} s")
    print(
        f"QC derivation adds:                         {with_s - peer_s:.3f} s "
        f"({len(qc.findings):,} findings on {len(qc.measurements):,} measurements)"
    )
    print(f"reading the RT products' pre-analytical record (one query): {products_s:.3f} s")

    table = build_cohort_table(
        patients_frame(), follow_ups_frame(), result.per_patient, draw_status_frame()
    )
    inclusion = ["baseline_present", "pre_drawn", "post_drawn"]

    def gate():
        gated = apply_gate(table, policy="exclude_fail", inclusion=inclusion)
        patient_flow(table, gated, inclusion=inclusion, withdrawn=0)
        return gated

    def copy_only():  # the peer: the copy of the table any gate makes
        return table.copy()

    gate_s, gated = best(gate, args.repeat)
    copy_s, _ = best(copy_only, args.repeat)
    print(
        f"gate (exclude_fail, 3 inclusion criteria, flow): {gate_s:.3f} s "
        f"beside a bare copy of the table {copy_s:.3f} s; "
        f"{len(gated.excluded_measurements):,} measurements left out"
    )
    added = with_s - peer_s + products_s + gate_s
    print(
        f"QC added to a run (derivation + its read + gate): {added:.3f} s (goal: under 1 s at 10,000)"
    )
    print(f"process peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
