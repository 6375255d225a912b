"""Re-analysis with a real worker on PostgreSQL and Redis: 500 follow-up edits in a
burst, each committed on its own (as a curator's import of 500 rows through the
service would), on the 75-patient demo with two active plans (the paper's and a small
survival plan). Prints the runs the burst made per plan (must be 1), the time from the
last edit to each finished run, and the time a re-run with unchanged data takes
(fingerprint hit), on the worker and end to end.

    .venv/bin/python bench/reanalysis.py [--edits 500] [--quiet 5]
        [--database-url postgres://postgres@127.0.0.1:5432/exotrack_bench_reanalysis]
        [--redis-url redis://127.0.0.1:6379/14] [--keep]

The database is created if missing and dropped afterwards unless --keep; the worker
is `celery -A biobank worker` on a queue of its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--edits", type=int, default=500)
parser.add_argument("--quiet", type=float, default=5.0, help="REANALYSIS_QUIET_SECONDS")
parser.add_argument(
    "--database-url", default="postgres://postgres@127.0.0.1:5432/exotrack_bench_reanalysis"
)
parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
parser.add_argument("--keep", action="store_true", help="Keep the database afterwards")
ARGS = parser.parse_args()

QUEUE = f"exotrack-bench-{uuid.uuid4().hex[:8]}"
ENVIRONMENT = {
    "DATABASE_URL": ARGS.database_url,
    "CELERY_BROKER_URL": ARGS.redis_url,
    "CELERY_RESULT_BACKEND": "",
    "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
    "EXOTRACK_REANALYSIS_QUIET_SECONDS": str(ARGS.quiet),
    "LOG_LEVEL": "INFO",
}
os.environ.update(ENVIRONMENT)


def create_database(url: str) -> str:
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    with psycopg.connect(
        host=config["HOST"],
        port=config["PORT"] or 5432,
        user=config["USER"],
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{config["NAME"]}"')
    return config["NAME"]


def drop_database(url: str) -> None:
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    with psycopg.connect(
        host=config["HOST"],
        port=config["PORT"] or 5432,
        user=config["USER"],
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{config["NAME"]}" WITH (FORCE)')


create_database(ARGS.database_url)

from _django import database_label, prepare  # noqa: E402  (sets Django up)


def start_worker(log: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "biobank",
        "worker",
        "--loglevel=INFO",
        "--concurrency=1",
        f"--queues={QUEUE}",
        f"--hostname=bench-{QUEUE}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log.open("wb") as out:
        worker = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ}, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while b" ready." not in log.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return worker


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def main() -> None:
    from django.conf import settings

    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": False}
    prepare(patients=75)  # seeded with the triggers off: nothing pending before we start
    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": True}

    import redis

    from analysis.models import AnalysisPlan, AnalysisRun
    from analysis.tasks import request_run
    from biobank.models import FollowUp
    from biobank.services.patients import follow_up_update

    AnalysisRun.objects.all().delete()
    AnalysisPlan.objects.update(is_active=False)
    AnalysisPlan.objects.filter(name="paper-default").update(is_active=True)
    AnalysisPlan.objects.update_or_create(
        name="bench-survival",
        defaults={
            "title": "Survival only",
            "spec": {"analyses": [{"kind": "kaplan_meier", "name": "KM"}]},
            "is_active": True,
        },
    )
    plans = list(AnalysisPlan.objects.filter(is_active=True))

    def burst(edits: int) -> float:
        """`edits` follow-up edits, each its own transaction, as fast as they go."""
        last = {}
        for follow_up in FollowUp.objects.order_by("contact_date"):
            last[follow_up.patient_id] = follow_up
        alive = [f for f in last.values() if f.status == FollowUp.Status.ALIVE]
        started = time.perf_counter()
        for index in range(edits):
            follow_up = alive[index % len(alive)]
            alive[index % len(alive)] = follow_up_update(
                follow_up=follow_up, contact_date=follow_up.contact_date + dt.timedelta(days=1)
            )
        return time.perf_counter() - started

    # What the triggers cost an edit: the same burst with them off (before any run).
    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": False}
    burst(50)  # warm up
    untriggered = burst(ARGS.edits)
    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": True}

    log = Path("/tmp") / f"{QUEUE}.log"
    worker = start_worker(log)
    try:
        # A first run of each plan, so the burst's runs are real re-runs with a diff.
        first = [request_run(plan=plan, trigger="manual").pk for plan in plans]
        done = ("succeeded", "unchanged", "failed")
        wait_until(
            lambda: AnalysisRun.objects.filter(pk__in=first, status__in=done).count() == len(first),
            120,
            "the first runs",
        )

        took = burst(ARGS.edits)
        last_edit = time.time()

        burst_runs = AnalysisRun.objects.filter(trigger="data_change")
        wait_until(
            lambda: (
                {r.plan_id for r in burst_runs.filter(status__in=done)} == {p.pk for p in plans}
            ),
            120,
            "a run of every plan",
        )
        time.sleep(ARGS.quiet + 2)  # anything more would show up now

        print(f"Re-analysis benchmark on {database_label()}, Redis {ARGS.redis_url}")
        print(
            f"{ARGS.edits} follow-up edits, one commit each, in {took:.2f} s "
            f"({ARGS.edits / took:.0f} edits/s; {untriggered:.2f} s with the triggers off, "
            f"so {(took - untriggered) / ARGS.edits * 1000:.1f} ms an edit for scheduling); "
            f"quiet time {ARGS.quiet:g} s"
        )
        for plan in plans:
            runs = list(burst_runs.filter(plan=plan).order_by("pk"))
            run = runs[-1]
            finished = run.finished_at.timestamp() - last_edit
            print(
                f"  {plan.name:<16} runs from the burst: {len(runs)}  "
                f"status {run.status}  last edit -> finished {finished:.2f} s "
                f"(of which quiet {ARGS.quiet:g} s, computing "
                f"{run.duration_seconds:.2f} s)"
            )

        # A re-run with nothing changed: a fingerprint hit.
        for plan in plans:
            asked = time.time()
            pk = request_run(plan=plan, trigger="manual").pk
            run = wait_until(
                lambda pk=pk: AnalysisRun.objects.filter(pk=pk, status__in=done).first(),
                60,
                "the fingerprint-hit run",
            )
            print(
                f"  {plan.name:<16} fingerprint-hit re-run: {run.status}, "
                f"{run.duration_seconds:.2f} s on the worker, "
                f"{run.finished_at.timestamp() - asked:.2f} s from the request"
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        client = redis.Redis.from_url(ARGS.redis_url)
        keys = list(client.scan_iter(f"exotrack:{QUEUE}:*")) + [QUEUE]
        keys += [f"_kombu.binding.{QUEUE}", f"_kombu.binding_permanent.{QUEUE}"]
        client.delete(*keys)
        from django.db import connections

        connections.close_all()
        if not ARGS.keep:
            drop_database(ARGS.database_url)


if __name__ == "__main__":
    main()
