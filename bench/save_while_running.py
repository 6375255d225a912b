"""A save while a re-analysis computes, on the embedded default (SQLite, no broker).

Times (a) a curator's well exclusion and (b) the confirm of a 96-well LightCycler 480
import that only fills empty wells, each started while a run of the paper's plan
("paper-default", 75-patient demo cohort) computes, in the same process:

- background: the embedded default since issue 11 (re-analysis in the process's
  background thread; the save queues its run and returns);
- eager: the old synchronous behaviour (REANALYSIS_IN_BACKGROUND off: the save's commit
  runs the plan before returning, after the run already computing lets go of the plan);
- re-analysis off: the save alone, with the same run computing beside it, and idle.

    .venv/bin/python bench/save_while_running.py [--repeat 3]

The database is an SQLite file in a new temporary directory, deleted afterwards (never
a shared database); the demo cohort is seeded into it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid

FOLDER = tempfile.mkdtemp(prefix="exotrack-bench-save-")
os.environ["DATABASE_URL"] = f"sqlite:///{FOLDER}/bench.sqlite3"
os.environ.pop("CELERY_BROKER_URL", None)  # the embedded default: tasks in-process

from _django import database_label, prepare  # noqa: E402  (sets Django up)
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

PLAN = "paper-default"


def configure(*, background: bool, reanalysis: bool) -> None:
    settings.EXOTRACK = {
        **settings.EXOTRACK,
        "REANALYSIS_ENABLED": reanalysis,
        "REANALYSIS_IN_BACKGROUND": background,
    }


def confirm_fill(*, plate, data: bytes, user):
    """plate_import_confirm for an import that only fills empty wells (no replace or
    reason needed, whatever options overwrites take)."""
    from biobank.services.plate_import import plate_import_confirm

    return plate_import_confirm(plate=plate, data=data, filename="bench.txt", user=user)


class Bench:
    def __init__(self):
        from analysis.models import AnalysisPlan
        from biobank.models import Assay, ReverseTranscription

        self.plan = AnalysisPlan.objects.get(name=PLAN)
        self.samples = list(ReverseTranscription.objects.order_by("pk")[:10])
        self.assays = list(Assay.objects.order_by("role", "target"))
        self.user = self._curator()
        self.free_wells = self._wells()

    @staticmethod
    def _curator():
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from biobank.roles import CURATOR

        user, _ = get_user_model().objects.get_or_create(username="bench-curator")
        user.groups.add(Group.objects.get(name=CURATOR))
        return user

    @staticmethod
    def _wells():
        from biobank.models import Well

        return list(
            Well.objects.filter(kind="sample", excluded=None).exclude(cq=None).order_by("pk")
        )

    def change_data_quietly(self) -> None:
        """A last contact of a patient alive at it moved a day later (every plan reads
        the survival time), with re-analysis off, so that the next run has new data to
        compute, not a fingerprint hit."""
        import datetime as dt

        from biobank.models import FollowUp
        from biobank.services.patients import follow_up_update

        last = {}
        for follow_up in FollowUp.objects.order_by("contact_date", "pk"):
            last[follow_up.patient_id] = follow_up
        alive = next(f for f in last.values() if f.status == FollowUp.Status.ALIVE)
        saved = dict(settings.EXOTRACK)
        settings.EXOTRACK = {**saved, "REANALYSIS_ENABLED": False}
        try:
            follow_up_update(
                follow_up=alive, contact_date=alive.contact_date + dt.timedelta(days=1)
            )
        finally:
            settings.EXOTRACK = saved

    def start_run(self, *, background: bool):
        """A run of the paper's plan, computing by the time this returns: in the
        background runner, or (eager) in a thread of its own as another request's."""
        from analysis.models import AnalysisRun
        from analysis.tasks import request_run

        self.change_data_quietly()
        newest = AnalysisRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        thread = None
        if background:
            request_run(plan=self.plan, trigger="manual")
        else:

            def compute():
                try:
                    request_run(plan=self.plan, trigger="manual")
                finally:
                    connection.close()

            thread = threading.Thread(target=compute)
            thread.start()
        deadline = time.monotonic() + 60
        while True:
            run = AnalysisRun.objects.filter(pk__gt=newest, trigger="manual").first()
            if run is not None and run.status == "running":
                break
            if time.monotonic() > deadline:
                raise SystemExit("the run did not start")
            time.sleep(0.01)
        time.sleep(0.2)  # past loading: computing
        return run.pk, thread

    def well_exclusion(self) -> None:
        from biobank.services.plates import well_exclude

        well_exclude(well=self.free_wells.pop(), user=self.user, reason="bench: bubble")

    def plate(self):
        """A laid-out 96-well plate (10 RT products x 3 assays x 3 replicates, NTCs) and
        the export that fills it; made with re-analysis off (not timed)."""
        from plate_import import lc480_export

        from biobank.services.plates import plate_create, plate_layout

        saved = dict(settings.EXOTRACK)
        settings.EXOTRACK = {**saved, "REANALYSIS_ENABLED": False}
        try:
            plate = plate_create(barcode=f"BENCH-{uuid.uuid4().hex[:10]}", plate_format=96)
            plate_layout(plate=plate, samples=self.samples, assays=self.assays)
            return plate, lc480_export(plate)
        finally:
            settings.EXOTRACK = saved

    def measure(self, save: str, *, background: bool, reanalysis: bool, during_run: bool):
        """One save; returns (seconds, whether the run was still computing after it)."""
        from analysis import tasks
        from analysis.models import AnalysisRun

        configure(background=background, reanalysis=reanalysis)
        prepared = self.plate() if save == "import" else None
        run_id, thread = (
            self.start_run(background=background or not reanalysis) if during_run else (None, None)
        )
        started = time.perf_counter()
        if save == "import":
            plate, data = prepared
            confirm_fill(plate=plate, data=data, user=self.user)
        else:
            self.well_exclusion()
        elapsed = time.perf_counter() - started
        overlapped = None
        if run_id is not None:
            overlapped = AnalysisRun.objects.get(pk=run_id).status == "running"
            if thread is not None:
                overlapped = True  # the save ran after the run (waited for its lock)
        if thread is not None:
            thread.join()
        if not tasks.wait_for_background_runs(timeout=300):
            raise SystemExit("the background runner did not drain")
        if run_id is not None:
            status = AnalysisRun.objects.get(pk=run_id).status
            if status != "succeeded":
                raise SystemExit(f"the concurrent run #{run_id} ended {status}, not computed")
        return elapsed, overlapped


CONFIGURATIONS = [
    # label, background, re-analysis on, a run computing during the save
    ("background", True, True, True),
    ("background", True, True, False),
    ("eager (old)", False, True, True),
    ("eager (old)", False, True, False),
    ("(no re-analysis)", True, False, True),
    ("(no re-analysis)", True, False, False),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        configure(background=True, reanalysis=False)
        prepare(patients=75)
        from analysis.models import AnalysisPlan
        from analysis.services import analysis_run

        AnalysisPlan.objects.update(is_active=False)
        AnalysisPlan.objects.filter(name=PLAN).update(is_active=True)
        bench = Bench()
        started = time.perf_counter()
        analysis_run(plan=bench.plan, trigger="command")
        run_seconds = time.perf_counter() - started
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"database: {database_label()}; broker: none (tasks in-process)")
        print(f"{os.cpu_count()} cores, load average {load} at the start")
        print(f"a run of {PLAN} alone: {run_seconds:.2f} s; median of {args.repeat} per row")
        print(
            f"{'mode':<17} {'re-analysis':<12} {'during':<14} {'save':<24} "
            f"{'median':>8} {'max':>8}  overlapped"
        )
        for label, background, reanalysis, during in CONFIGURATIONS:
            for save, name in (("exclude", "well exclusion"), ("import", "96-well import confirm")):
                times, overlaps = [], []
                for _ in range(args.repeat):
                    elapsed, overlapped = bench.measure(
                        save, background=background, reanalysis=reanalysis, during_run=during
                    )
                    times.append(elapsed)
                    overlaps.append(overlapped)
                overlap = f"{sum(bool(o) for o in overlaps)}/{len(overlaps)}" if during else "-"
                print(
                    f"{label:<17} {'on' if reanalysis else 'off':<12} "
                    f"{'a run computing' if during else 'idle':<14} {name:<24} "
                    f"{statistics.median(times):7.3f}s {max(times):7.3f}s  {overlap}",
                    flush=True,
                )
    finally:
        connection.close()
        shutil.rmtree(FOLDER, ignore_errors=True)


if __name__ == "__main__":
    main()
