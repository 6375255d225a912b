"""The paper's plan (`paper-default`) on a synthetic cohort of N patients: seconds per
step (loading the wells, normalisation and QC, the cohort table, the gate, each
analysis, the sensitivity analyses, the figures, storing the run), the whole run in
this process beside its peers (the same plan without figures, the cohort build alone),
and the whole run as `manage.py analyse` in a child process with its peak RSS.

    .venv/bin/python bench/analysis.py --patients 10000 50000

The run's part after the cohort table is loaded (``run_plan``: analyses, sensitivity
analyses, figures, JSON) is timed on a prebuilt table, with no database, by
``--plan-only``: the table is built once from the database and kept in a pickle, then
each configuration runs in a child process of its own, with its peak RSS; ``--scale 5``
also runs it on the table copied five times with new study ids (50,000 patients from
10,000); ``--before DIR`` runs the same pickled table through another checkout's code
(e.g. ``git archive fd114f7 | tar -x -C /tmp/before``) beside this one:

    .venv/bin/python bench/analysis.py --patients 10000 --plan-only --scale 1 5 \
        --before /tmp/before

Each size runs in a process of its own, on a database of its own: the SQLite file
/tmp/exotrack-bench-analysis-N.sqlite3 unless DATABASE_URL says otherwise (seeded on
the first run, which takes minutes at 50,000). Re-analysis is off (the bench calls the
services itself) and tasks are eager: no broker plays a part.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _database_for(patients: int) -> str:
    return os.environ.get("DATABASE_URL") or (
        f"sqlite:////tmp/exotrack-bench-analysis-{patients}.sqlite3"
    )


def show(label: str, value: float, unit: str, note: str = "", *, digits: int = 3) -> None:
    print(f"  {label:<60} {value:8.{digits}f} {unit}{note}", flush=True)


def measure(patients: int, repeats: int) -> None:
    """Run in the child process of one size (DATABASE_URL already set)."""
    os.environ["EXOTRACK_REANALYSIS_ENABLED"] = "0"
    os.environ.pop("CELERY_BROKER_URL", None)
    from _django import database_label, move_cohort_version, peak_rss_mib, prepare

    prepare(patients=patients)
    from django.conf import settings

    from analysis.engine import RunContext, _run_analyses, _sensitivity, run_plan
    from analysis.figures import draw_figures
    from analysis.gate import DEFAULT_POLICY, apply_gate
    from analysis.models import AnalysisPlan, AnalysisRun
    from analysis.options import resolve_options
    from analysis.plans import validate_plan, with_survival_columns
    from analysis.services import analysis_run, cohort_dictionary, load_cohort_with_evidence
    from biobank.selectors.cohort import (
        active_wells_frame,
        build_cohort_table,
        follow_ups_frame,
        normalisation,
        patients_frame,
        qc_thresholds,
    )
    from biobank.selectors.qc_inputs import draw_status_frame, rt_products_frame

    plan = AnalysisPlan.objects.get(name="paper-default")
    print(
        f"\n{patients:,} patients on {database_label()}; "
        f"tasks {'eager' if settings.CELERY_TASK_ALWAYS_EAGER else 'on a broker'}, "
        f"re-analysis {'on' if settings.EXOTRACK['REANALYSIS_ENABLED'] else 'off'}; "
        f"best of {repeats}",
        flush=True,
    )
    steps: dict[str, float] = {}

    def step(label, function):
        best = None
        for _ in range(repeats):
            started = time.perf_counter()
            value = function()
            seconds = time.perf_counter() - started
            best = seconds if best is None else min(best, seconds)
        steps[label] = best
        show(label, best, "s")
        return value

    wells = step("load wells (one query)", active_wells_frame)
    frames = step(
        "load RT products, patients, follow-up, draws",
        lambda: (rt_products_frame(), patients_frame(), follow_ups_frame(), draw_status_frame()),
    )
    products, baseline, follow_ups, drawn = frames
    thresholds = qc_thresholds()
    result = step("normalisation and QC", lambda: normalisation(wells, products, thresholds))
    table = step(
        "cohort table from the per-patient values",
        lambda: build_cohort_table(baseline, follow_ups, result.per_patient, drawn),
    )
    table, evidence = load_cohort_with_evidence()  # the path a run takes, for what follows
    dictionary = cohort_dictionary(dataset=None, table=table)
    spec = with_survival_columns(plan.spec, dictionary)
    validate_plan(spec, table)
    context = RunContext(spec, resolve_options(spec), dictionary)
    policy, inclusion = spec.get("qc_policy", DEFAULT_POLICY), list(spec.get("inclusion") or [])
    gated = step("gate", lambda: apply_gate(table, policy=policy, inclusion=inclusion))
    for analysis in spec["analyses"]:
        step(
            f"{analysis['kind']}: {analysis['name']}",
            lambda analysis=analysis: _run_analyses(gated.table, [analysis], context),
        )
    for other in spec.get("sensitivity") or []:
        step(
            f"sensitivity: {other['name']}",
            lambda other=other: _sensitivity(
                table, context, other, policy=policy, inclusion=inclusion
            ),
        )
    outcome = run_plan(table, spec, figures=False, evidence=evidence, dictionary=dictionary)
    step(
        "figures",
        lambda: draw_figures(
            gated.table, spec, outcome.results, dictionary=dictionary, qc=outcome.qc
        ),
    )

    # The cohort is cached (biobank.selectors.cohort_cache, issue 16): a run reads the
    # snapshot while the data are unchanged, and rebuilds it after any write. Both runs
    # are measured, interleaved pair by pair, beside their peers: the cold build alone,
    # the cached read alone, and the plan without figures on the cached table.
    from biobank.selectors.cohort import cohort_with_evidence

    def timed(function) -> float:
        started = time.perf_counter()
        function()
        return time.perf_counter() - started

    def computed_run():
        AnalysisRun.objects.filter(plan=plan).delete()  # no earlier run: it must compute
        run = analysis_run(plan=plan, trigger="command")
        assert run.status == "succeeded", run.error
        return run

    from biobank.models import Well
    from biobank.selectors import cohort_cache

    # A realistic data change: one well's Cq corrected (an UPDATE the triggers log), so
    # the next read rebuilds only that patient (biobank.selectors.cohort_incremental);
    # its peer, move_cohort_version (a bump the log does not cover), rebuilds everything.
    edited = (
        Well.objects.filter(kind=Well.Kind.SAMPLE, assay__role="target", cq__isnull=False)
        .order_by("pk")
        .values_list("pk", "cq")[patients // 2]
    )

    def change_one_well(step: int) -> None:
        pk, cq = edited
        Well.objects.filter(pk=pk).update(cq=cq + 0.01 * (step + 1))

    def incremental_run():
        computed_run()
        assert cohort_cache.last_build["how"] == "incremental", cohort_cache.last_build

    cold_build, cached_read, without_figures, cached, rebuilt = [], [], [], [], []
    incremental, update_alone = [], []
    for repeat in range(repeats):
        cold_build.append(timed(cohort_with_evidence))
        cached_read.append(timed(load_cohort_with_evidence))
        cohort = load_cohort_with_evidence()
        without_figures.append(
            timed(
                lambda cohort=cohort: run_plan(
                    cohort[0], spec, figures=False, evidence=cohort[1], dictionary=dictionary
                )
            )  # fmt: skip
        )
        cached.append(timed(computed_run))
        move_cohort_version()
        rebuilt.append(timed(computed_run))
        change_one_well(2 * repeat)
        incremental.append(timed(incremental_run))
        change_one_well(2 * repeat + 1)
        update_alone.append(timed(cohort_cache.cached_cohort))
        assert cohort_cache.last_build["how"] == "incremental", cohort_cache.last_build
    Well.objects.filter(pk=edited[0]).update(cq=edited[1])  # as it was
    run = computed_run()
    stored = sum(
        len(str(getattr(run, field)))
        for field in ("results", "rows", "qc", "figures", "figure_notes")
    )
    hit = timed(lambda: analysis_run(plan=plan, trigger="command"))
    assert AnalysisRun.objects.filter(plan=plan, status="unchanged").exists()
    AnalysisRun.objects.filter(plan=plan).delete()

    show("stored payload (results, rows, qc, figures)", stored / 2**20, "MiB", digits=1)
    show("peer: the cold cohort build alone (cohort_with_evidence)", min(cold_build), "s")
    show("peer: the cached cohort read alone", min(cached_read), "s")
    show("peer: the plan without figures on the cached table", min(without_figures), "s")
    show("WHOLE RUN, cohort cached (analysis_run: compute, figures, store)", min(cached), "s")
    show(
        "peer: the cohort after one well's Cq changed, alone (incremental)", min(update_alone), "s"
    )
    show("WHOLE RUN after a data change, whole cohort rebuilt (peer)", min(rebuilt), "s")
    show("WHOLE RUN after one well's Cq changed (touched patients rebuilt)", min(incremental), "s")
    show("re-run with unchanged data (fingerprint hit)", hit, "s")
    show("this process peak RSS", peak_rss_mib(), "MiB", digits=0)


def dump_table(patients: int, path: Path) -> None:
    """Build the cohort table and its QC evidence once, the way a run loads them, and
    keep them (with the plan and its dictionary) in ``path`` for --plan-only."""
    import pickle

    from _django import prepare

    prepare(patients=patients)
    from analysis.models import AnalysisPlan
    from analysis.plans import with_survival_columns
    from analysis.services import cohort_dictionary, load_cohort_with_evidence

    table, evidence = load_cohort_with_evidence()
    dictionary = cohort_dictionary(dataset=None, table=table)
    spec = with_survival_columns(AnalysisPlan.objects.get(name="paper-default").spec, dictionary)
    with path.open("wb") as file:
        kept = {"table": table, "evidence": evidence, "spec": spec, "dictionary": dictionary}
        pickle.dump(kept, file)


def scaled(table, copies: int):
    """The table ``copies`` times over, each copy's study ids made new ("-2", "-3", ...)."""
    import pandas as pd

    if copies == 1:
        return table
    parts = []
    for copy in range(1, copies + 1):
        part = table.copy()
        if copy > 1:
            part["study_id"] = part["study_id"].astype(str) + f"-{copy}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def plan_run(path: Path, code: Path, copies: int, repeats: int) -> None:
    """In a child process: run_plan on the pickled table (scaled), with figures and
    without (its peer), interleaved; best of ``repeats`` each, and the payload's size."""
    sys.path.insert(0, str(code))  # the checkout whose analysis code is measured
    import json
    import pickle

    from analysis.engine import run_plan  # first: the package may set numpy's BLAS threads

    with path.open("rb") as file:
        kept = pickle.load(file)
    table = scaled(kept["table"], copies)

    def once(figures: bool):
        started = time.perf_counter()
        outcome = run_plan(table, kept["spec"], figures=figures, evidence=kept["evidence"],
                           dictionary=kept["dictionary"])  # fmt: skip
        return time.perf_counter() - started, outcome

    with_figures, without = [], []
    for _ in range(repeats):
        seconds, _ = once(False)
        without.append(seconds)
        seconds, outcome = once(True)
        with_figures.append(seconds)
    fields = ("results", "rows", "qc", "figures", "figure_notes")
    stored = sum(len(json.dumps(getattr(outcome, name))) for name in fields)
    print(json.dumps({"patients": len(table), "with": min(with_figures), "without": min(without),
                      "payload": stored, "blas": os.environ.get("OPENBLAS_NUM_THREADS", "default")}))  # fmt: skip


def plan_only(patients: int, copies_list: list[int], before: Path | None, repeats: int) -> None:
    """run_plan on a prebuilt table, each configuration in a child process of its own
    (started from this small process: a child's peak RSS counts from its parent's)."""
    import json

    path = Path(f"/tmp/exotrack-bench-analysis-plan-{patients}.pickle")
    environment = {
        **os.environ,
        "DATABASE_URL": _database_for(patients),
        "EXOTRACK_REANALYSIS_ENABLED": "0",
    }
    if not path.exists():
        subprocess.run([sys.executable, __file__, "--child", "--dump", str(path), "--patients",
                        str(patients)], check=True, env=environment)  # fmt: skip
    codes = [("this checkout", ROOT)] + ([("before", before.resolve())] if before else [])
    print(f"run_plan on a prebuilt table ({path}, built from {_database_for(patients)}), no "
          f"database; plan paper-default; best of {repeats}; each line a child process; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    for copies in copies_list:
        for label, code in codes:
            command = [sys.executable, __file__, "--child", "--plan-run", str(path), "--code",
                       str(code), "--copies", str(copies), "--repeats", str(repeats)]  # fmt: skip
            child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            output = child.stdout.read()
            _, status, usage = os.wait4(child.pid, 0)
            if os.waitstatus_to_exitcode(status):
                raise SystemExit(f"run_plan failed ({label}, x{copies})")
            found = json.loads(output.strip().splitlines()[-1])
            print(f"  {found['patients']:>6,} patients, {label:<14} run_plan "
                  f"{found['with']:6.2f} s (peer without figures {found['without']:6.2f} s), "
                  f"payload {found['payload'] / 2**20:4.1f} MiB, child peak RSS "
                  f"{usage.ru_maxrss / 1024:5.0f} MiB; BLAS threads {found['blas']}", flush=True)  # fmt: skip


def prepare_without_runs(patients: int, *, after_change: bool = False) -> None:
    """Seed if needed, and delete the plan's earlier runs: a run must compute, not be a
    fingerprint hit. `after_change`: store the cohort, then change one well's Cq (the
    next read rebuilds the touched patients only)."""
    from _django import prepare

    prepare(patients=patients)
    from analysis.models import AnalysisRun
    from biobank.models import Well
    from biobank.selectors.cohort_cache import cached_cohort

    AnalysisRun.objects.filter(plan__name="paper-default").delete()
    if after_change:
        cached_cohort()
        well = (
            Well.objects.filter(kind=Well.Kind.SAMPLE, assay__role="target", cq__isnull=False)
            .order_by("pk")
            .values_list("pk", "cq")[patients // 2]
        )
        Well.objects.filter(pk=well[0]).update(cq=well[1] + 0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repeats", type=int, default=2, help="best of this many (default 2)")
    parser.add_argument(
        "--command-only",
        action="store_true",
        help="only the whole run as manage.py analyse, its time and peak RSS (the database "
        "is seeded first if needed)",
    )
    parser.add_argument(
        "--plan-only",
        action="store_true",
        help="only run_plan on a prebuilt table (built once from the database and pickled), "
        "each configuration in a child process with its peak RSS",
    )
    parser.add_argument(
        "--scale",
        type=int,
        nargs="+",
        default=[1],
        help="with --plan-only: also on the table copied this many times (new study ids)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="with --plan-only: a checkout of the code to compare with (its analysis package)",
    )
    parser.add_argument(
        "--after-change",
        action="store_true",
        help="with --command-only: the cohort is stored first, then one well's Cq changes, "
        "so the run measured is the one after a data change (incremental cohort)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plan-run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--copies", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.dump:
        dump_table(args.patients[0], args.dump)
        return
    if args.child and args.plan_run:
        plan_run(args.plan_run, args.code, args.copies, args.repeats)
        return
    if args.plan_only:
        for size in args.patients:
            plan_only(size, args.scale, args.before, args.repeats)
        return
    if args.child and args.prepare_only:
        prepare_without_runs(args.patients[0], after_change=args.after_change)
        return
    if args.child:
        measure(args.patients[0], args.repeats)
        return
    for size in args.patients:  # one process and one database a size
        environment = {
            **os.environ,
            "DATABASE_URL": _database_for(size),
            "EXOTRACK_REANALYSIS_ENABLED": "0",
        }
        environment.pop("CELERY_BROKER_URL", None)
        command = [sys.executable, __file__, "--child", "--patients", str(size)]
        if args.command_only:
            # Seeded, and no earlier run to make this one a fingerprint hit.
            extra = ["--after-change"] if args.after_change else []
            subprocess.run(command + ["--prepare-only", *extra], check=True, env=environment)
        else:
            subprocess.run(command + ["--repeats", str(args.repeats)], check=True, env=environment)
        # Started from this small process: a child's peak RSS starts from its parent's.
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "manage.py", "analyse", "--plan", "paper-default"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"manage.py analyse failed ({child.returncode})")
        label = "WHOLE RUN as manage.py analyse (process start included)"
        if args.command_only and args.after_change:
            label = "WHOLE RUN as manage.py analyse after one well's Cq changed"
        show(label, seconds, "s")
        show("manage.py analyse peak RSS", usage.ru_maxrss / 1024, "MiB", digits=0)


if __name__ == "__main__":
    main()
