"""The cold cohort build from the wells: load (wells, RT products, patients, follow-up,
draws), replicate QC, normalisation and QC flags, the cohort table and the QC evidence.

Each code tree runs in a child process of its own, interleaved, on the same database:
this checkout and, with --peer, another tree (e.g. main before a change:
`git archive fd114f7 | tar -x -C /tmp/before`). Printed per run: the seconds of each
step (wall and the child's CPU), the child's peak RSS (wait4) and the cohort table's
fingerprint, which must be the same for both trees. --scale k copies the loaded frames
k times with new ids in memory (a 50,000-patient build from a 10,000-patient database):
the load is then timed at the database's size, the rest at k times it.

    DATABASE_URL=sqlite:////tmp/mine-10k.sqlite3 .venv/bin/python bench/normalise.py \\
        --patients 10000 --peer /tmp/before [--scale 5] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def scaled(frames: dict, k: int) -> dict:
    """The frames k times over: ids shifted past the largest, text keys suffixed ~i."""
    import pandas as pd

    wells, products = frames["wells"], frames["products"]
    shift = {
        "well_id": int(wells["well_id"].max()) + 1,
        "plate_id": int(wells["plate_id"].max()) + 1,
        "sample_id": int(products["sample_id"].max()) + 1,
        "draw_id": int(products["draw_id"].max()) + 1,
    }
    text = {
        "wells": ("plate", "patient_id"),
        "products": ("rt_code", "patient_id", "batch", "aliquot"),
        "patients": ("study_id",),
        "follow_ups": ("study_id",),
        "draw_status": ("study_id",),
    }

    def copy(name: str, frame, i: int):
        frame = frame.copy()
        for column, step in shift.items():
            if column in frame.columns:
                frame[column] = frame[column] + i * step
        for column in text[name]:
            names = {v: f"{v}~{i}" for v in frame[column].dropna().unique()}
            frame[column] = frame[column].map(names).where(frame[column].notna(), frame[column])
        return frame

    return {
        name: pd.concat([frame] + [copy(name, frame, i) for i in range(1, k)], ignore_index=True)
        for name, frame in frames.items()
    }


def child(root: str, scale: int) -> None:
    """One cold build with the code of `root`; prints one line of figures."""
    sys.path.insert(0, root)
    os.chdir(root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    import django

    django.setup()
    from analysis.cohort import build_cohort_table, fingerprint
    from analysis.flags import qc_evidence
    from biobank.selectors import cohort
    from biobank.selectors.qc_inputs import draw_status_frame, rt_products_frame

    steps: dict[str, tuple[float, float]] = {}

    def step(label, function):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        steps[label] = (time.perf_counter() - wall, time.process_time() - cpu)
        return result

    wells = step("load wells", cohort.active_wells_frame)
    rest = step(
        "load the rest",
        lambda: {
            "products": rt_products_frame(),
            "patients": cohort.patients_frame(),
            "follow_ups": cohort.follow_ups_frame(),
            "draw_status": draw_status_frame(),
        },
    )
    frames = {"wells": wells, **rest}
    del wells, rest
    if scale > 1:
        frames = scaled(frames, scale)
    import gc
    import resource

    gc.collect()
    before_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    thresholds = cohort.qc_thresholds()
    result = step(
        "QC + normalisation",
        lambda: cohort.normalisation(frames["wells"], frames["products"], thresholds),
    )
    table = step(
        "cohort table",
        lambda: build_cohort_table(
            frames["patients"], frames["follow_ups"], result.per_patient, frames["draw_status"]
        ),
    )
    step(
        "QC evidence",
        lambda: qc_evidence(
            qc_wells=result.qc_wells, ntc=result.ntc, qc=result.qc,
            products=frames["products"], thresholds=thresholds,
        ),
    )  # fmt: skip
    build = sum(wall for label, (wall, _) in steps.items() if not label.startswith("load"))
    figures = "; ".join(
        f"{label} {wall:.2f} s (CPU {cpu:.2f})" for label, (wall, cpu) in steps.items()
    )
    print(
        f"{len(frames['wells']):,} wells, {len(table):,} patients | {figures} | "
        f"build after load {build:.2f} s, total {sum(w for w, _ in steps.values()):.2f} s | "
        f"table {fingerprint(table)[:16]} | peak RSS before the build {before_build:.0f} MiB",
        flush=True,
    )


def run_child(root: str, scale: int) -> str:
    process = subprocess.Popen(
        [sys.executable, str(HERE), "--child", root, "--scale", str(scale)],
        stdout=subprocess.PIPE,
        text=True,
    )
    output = process.stdout.read().strip()
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise SystemExit(f"the child for {root} failed ({status})")
    return f"{output} | peak RSS {usage.ru_maxrss / 1024:.0f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--peer", help="another code tree to run beside this one")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.scale)
    sys.path.insert(0, str(HERE.parent))
    from _django import prepare

    prepare(patients=args.patients)  # prints the configuration
    load = os.getloadavg()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; "
        f"scale x{args.scale}; one child process a run (peak RSS from wait4)"
    )
    trees = {"this tree": str(HERE.parent.parent)}
    if args.peer:
        trees["peer " + args.peer] = args.peer
    for _ in range(args.repeat):  # interleaved, so load on the machine hits both alike
        for name, root in trees.items():
            print(f"  {name}: {run_child(root, args.scale)}", flush=True)


if __name__ == "__main__":
    main()
