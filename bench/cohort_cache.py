"""The cohort cache (issue 16) on a synthetic cohort of N patients, each figure beside
its peer in this process:

- a re-run of the paper's plan with unchanged data (`analysis_run`, a fingerprint hit:
  status "unchanged") beside the cold build of the cohort it no longer does
  (`cohort_with_evidence`), and the cache hit read alone;
- the first read after a change: build plus the one pass that stores the snapshot;
- the CSV export streamed from the snapshot, in rows/s, beside its limit (reading the
  stored chunks alone) and the old path (the table computed chunk by chunk), and the
  peak RSS of `manage.py export_cohort` on each path in a child process beside a child
  that only starts Django.

    DATABASE_URL=sqlite:////tmp/NAME-10k.sqlite3 .venv/bin/python bench/cohort_cache.py

Re-analysis is off (the bench calls the services) and tasks are eager. The counter is
moved with the same upsert the database triggers run; runs and snapshots the bench
makes are deleted at the end (the seeded cohort stays: it is the bench's database).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def show(label: str, value: float, unit: str, note: str = "") -> None:
    print(f"  {label:<62} {value:10.3f} {unit}{note}", flush=True)


def best(function, repeats: int) -> tuple[float, object]:
    seconds, value = None, None
    for _ in range(repeats):
        started = time.perf_counter()
        value = function()
        elapsed = time.perf_counter() - started
        seconds = elapsed if seconds is None else min(seconds, elapsed)
    return seconds, value


def child_peak(mode: str) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of this script in a child process doing `mode`.
    The child reports its own VmHWM: the rusage of a forked child counts the parent's
    resident memory at the fork."""
    started = time.perf_counter()
    output = subprocess.run(
        [PYTHON, __file__, "--child", mode],
        cwd=ROOT,
        env=os.environ.copy(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output.split()[-1]), time.perf_counter() - started


def child(mode: str) -> None:
    """In a child process: start Django, then export (or not) to /dev/null."""
    os.environ["EXOTRACK_REANALYSIS_ENABLED"] = "0"
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    django.setup()
    from biobank.selectors.cohort_version import cohort_version

    cohort_version()
    if mode == "imports":
        import biobank.api.exports  # noqa: F401 - pandas and the analysis chain
        import biobank.selectors.cohort_cache  # noqa: F401
    elif mode != "startup":
        export(mode)
    status = Path("/proc/self/status").read_text()
    print(int(status.split("VmHWM:")[1].split()[0]) / 1024)


def export(mode: str) -> None:
    from biobank.api.exports import prepare_cohort_export

    chunks = None
    if mode == "old":
        from biobank.api.exports import _default_chunks

        chunks = _default_chunks(1000)
    with open(os.devnull, "w") as sink:
        for text in prepare_cohort_export("csv", chunks=chunks).stream():
            sink.write(text)


def measure(patients: int, repeats: int) -> None:
    os.environ["EXOTRACK_REANALYSIS_ENABLED"] = "0"
    os.environ.pop("CELERY_BROKER_URL", None)
    sys.path.insert(0, str(ROOT / "bench"))
    from _django import database_label, move_cohort_version, prepare

    prepare(patients=patients)
    from analysis.models import AnalysisPlan, AnalysisRun
    from analysis.services import analysis_run, load_cohort_with_evidence
    from biobank.api.exports import _default_chunks, prepare_cohort_export
    from biobank.models import CohortSnapshot, CohortSnapshotChunk
    from biobank.selectors.cohort import cohort_with_evidence
    from biobank.selectors.cohort_cache import (
        cached_cohort,
        cohort_snapshot,
        export_chunks,
    )

    print(
        f"\n{patients:,} patients on {database_label()}; tasks eager, re-analysis off; "
        f"best of {repeats}; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    plan = AnalysisPlan.objects.get(name="paper-default")
    kept_runs = set(AnalysisRun.objects.values_list("id", flat=True))

    cold, (table, _evidence) = best(cohort_with_evidence, repeats)
    show("cold build: cohort_with_evidence (peer)", cold, "s")

    move_cohort_version()
    started = time.perf_counter()
    built = cached_cohort()
    first_read = time.perf_counter() - started
    assert built.snapshot_id is not None
    show("first read after a change: build + store in one pass", first_read, "s")
    one_pass, _ = best(lambda: export_chunks(built.table), repeats)
    show("  of which the one pass (CSV chunks + fingerprint)", one_pass, "s")
    snapshot = CohortSnapshot.objects.get(pk=built.snapshot_id)
    stored_bytes = len(snapshot.table) + sum(
        len(text)
        for text in CohortSnapshotChunk.objects.filter(snapshot=snapshot)
        .values_list("csv", flat=True)
        .iterator(chunk_size=4)
    )
    print(
        f"  snapshot: {len(snapshot.table) / 1e6:.1f} MB pickled table, "
        f"{stored_bytes / 1e6:.1f} MB with the CSV chunks",
        flush=True,
    )

    hit, _ = best(load_cohort_with_evidence, repeats)
    show("cache hit read alone: load_cohort_with_evidence", hit, "s")

    first = analysis_run(plan=plan, trigger="command")  # a run to be unchanged against
    assert first.status in ("succeeded", "unchanged"), first.error
    rerun, run = best(lambda: analysis_run(plan=plan, trigger="command"), repeats)
    assert run.status == "unchanged", run.status
    show(
        "re-run of the paper's plan, data unchanged (fingerprint hit)",
        rerun,
        "s",
        f"  ({cold / rerun:.0f}x faster than the cold build alone)",
    )

    rows = len(table)

    def snapshot_export():
        return sum(len(t) for t in prepare_cohort_export("csv").stream())

    def stored_chunks_alone():
        current = cohort_snapshot()
        return sum(
            len(text)
            for text in CohortSnapshotChunk.objects.filter(snapshot=current)
            .order_by("index")
            .values_list("csv", flat=True)
            .iterator(chunk_size=4)
        )

    def old_path():
        stream = prepare_cohort_export("csv", chunks=_default_chunks(1000)).stream()
        return sum(len(t) for t in stream)

    for label, function, times in (
        ("export CSV from the snapshot", snapshot_export, repeats),
        ("  limit: reading the stored chunks alone", stored_chunks_alone, repeats),
        ("  old path: computed chunk by chunk (once)", old_path, 1),
    ):
        seconds, sent = best(function, times)
        show(label, rows / seconds, "rows/s", f"  ({seconds:.3f} s, {sent / 1e6:.1f} MB)")

    base, _ = child_peak("startup")
    show("peak RSS: a child that only starts Django (peer)", base, "MiB")
    base, _ = child_peak("imports")
    show("peak RSS: ... and imports the export's modules (pandas)", base, "MiB")
    for mode, label in (("snapshot", "from the snapshot"), ("old", "old path")):
        peak, seconds = child_peak(mode)
        show(f"peak RSS: export_cohort {label}", peak, "MiB", f"  ({seconds:.1f} s wall)")

    AnalysisRun.objects.filter(plan=plan).exclude(id__in=kept_runs).delete()
    CohortSnapshot.objects.all().delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child)
    else:
        measure(options.patients, options.repeats)


if __name__ == "__main__":
    main()
