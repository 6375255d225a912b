"""Re-analysis with real Celery workers on Redis and PostgreSQL: a debounced burst
makes one run per plan, the plan lock holds with two workers, and a worker killed
mid-run (SIGKILL) ends, once a new worker starts, with its run visibly failed and
exactly one successful run of the newest data."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.apps import apps
from django.utils import timezone

from analysis.models import AnalysisPlan, AnalysisRun
from analysis.services import input_fingerprint, load_cohort
from analysis.tasks import WORKER_LOST, request_run
from biobank.models import FollowUp
from biobank.roles import CURATOR, sync_role_groups
from biobank.services.patients import follow_up_update

from ..factories import UserFactory
from .conftest import QUIET, seed_cohort, wait_for

pytestmark = [
    pytest.mark.celery,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def cohort(broker, settings):
    return seed_cohort(settings)


def alive_follow_ups() -> list[FollowUp]:
    last = {}
    for follow_up in FollowUp.objects.order_by("contact_date"):
        last[follow_up.patient_id] = follow_up
    return [f for f in last.values() if f.status == FollowUp.Status.ALIVE]


def edit(follow_up: FollowUp, days: int = 1) -> FollowUp:
    """One follow-up edit, committed on its own (the service is its own transaction)."""
    return follow_up_update(
        follow_up=follow_up, contact_date=follow_up.contact_date + dt.timedelta(days=days)
    )


def finished(runs) -> bool:
    """Every run (a queryset is read afresh each time) is done."""
    runs = list(runs.all() if hasattr(runs, "all") else runs)
    return bool(runs) and all(r.status not in ("queued", "running") for r in runs)


def assert_no_overlap(runs) -> None:
    ordered = sorted(runs, key=lambda r: r.started_at)
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert before.finished_at <= after.started_at, (
            f"runs #{before.pk} and #{after.pk} overlapped"
        )


def fingerprint_now(plan: AnalysisPlan) -> str:
    return input_fingerprint(load_cohort(), plan.spec)


def test_a_burst_of_edits_makes_one_run_per_plan(cohort, workers):
    workers.start("burst")
    follow_ups = alive_follow_ups()[:10]
    for index in range(30):  # 30 commits over ~3 s: more than the quiet time, no gap as long
        follow_ups[index % 10] = edit(follow_ups[index % 10])
        time.sleep(0.1)
    last_edit = timezone.now()

    runs = AnalysisRun.objects.filter(trigger="data_change")
    wait_for(lambda: runs.count() == 2 and finished(runs), timeout=60, what="one run per plan")
    time.sleep(QUIET + 1)  # nothing else is coming
    assert runs.count() == 2
    for run in runs:
        assert run.status == "succeeded", run.error
        assert run.started_at >= last_edit + dt.timedelta(seconds=QUIET * 0.9)
        assert run.parameters["reasons"] == {"follow up changed": 30}
        assert run.fingerprint == fingerprint_now(run.plan)  # the newest data
    assert {run.plan.name for run in runs} == {"paper-default", "survival"}


def test_the_lock_holds_with_two_workers(cohort, workers):
    cohort["paper"].is_active = False
    cohort["paper"].save()
    plan = cohort["survival"]
    workers.start("one", EXOTRACK_TEST_RUN_DELAY=2)
    workers.start("two", EXOTRACK_TEST_RUN_DELAY=2)

    # Three re-runs by hand at once: one computes, the others wait for the lock and then
    # find the same data (fingerprint hit): never two successful runs of the same data.
    manual = [request_run(plan=plan, trigger="manual") for _ in range(3)]
    runs = AnalysisRun.objects.filter(pk__in=[r.pk for r in manual])
    wait_for(lambda: finished(runs), timeout=60, what="three manual runs")
    assert sorted(r.status for r in runs) == ["succeeded", "unchanged", "unchanged"]
    assert_no_overlap(runs)

    # A change during a run makes exactly one more run, after it, with the newest data.
    follow_ups = alive_follow_ups()
    edit(follow_ups[0], days=30)
    changes = AnalysisRun.objects.filter(trigger="data_change")
    first = wait_for(
        lambda: changes.filter(status="running").first(), timeout=30, what="a running run"
    )
    # "Running" is stamped just before the run reads the data; the edits must come after
    # that read (on a loaded machine it can take a moment), and within its 2 s delay.
    time.sleep(0.8)
    edit(follow_ups[1], days=30)
    edit(follow_ups[2], days=30)
    wait_for(lambda: changes.count() == 2 and finished(changes), timeout=60, what="the rerun")
    time.sleep(QUIET + 1)
    assert changes.count() == 2
    first.refresh_from_db()
    second = changes.exclude(pk=first.pk).get()
    assert first.status == second.status == "succeeded"
    assert first.fingerprint != second.fingerprint == fingerprint_now(plan)
    assert second.started_at >= first.finished_at
    assert second.parameters["reasons"] == {"follow up changed": 2}
    assert_no_overlap(AnalysisRun.objects.filter(plan=plan))


def test_a_worker_killed_mid_run_leaves_a_failed_run_and_one_good_run(cohort, workers):
    cohort["paper"].is_active = False
    cohort["paper"].save()
    plan = cohort["survival"]
    # Short visibility timeout and lock: the killed worker's task comes back quickly.
    settings = {"CELERY_VISIBILITY_TIMEOUT": 4, "EXOTRACK_REANALYSIS_LOCK_SECONDS": 3}
    doomed = workers.start("doomed", EXOTRACK_TEST_RUN_DELAY=30, **settings)

    edit(alive_follow_ups()[0], days=30)
    runs = AnalysisRun.objects.filter(plan=plan)
    stuck = wait_for(lambda: runs.filter(status="running").first(), timeout=30, what="a run")
    doomed.kill()
    time.sleep(0.5)
    stuck.refresh_from_db()
    assert stuck.status == "running"  # nobody is left to finish it

    workers.start("rescuer", **settings)
    wait_for(
        lambda: runs.filter(status="succeeded").exists() and finished(runs),
        timeout=60,
        what="the redelivered task to run again",
    )
    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.error.startswith(WORKER_LOST)
    good = runs.get(status="succeeded")
    assert good.trigger == "data_change" and good.fingerprint == fingerprint_now(plan)
    assert runs.count() == 2 and not runs.filter(status__in=["queued", "running"]).exists()


def test_an_admin_edit_shows_in_a_new_report_within_seconds(cohort, workers, client):
    workers.start("web")
    plan = cohort["paper"]
    cohort["survival"].is_active = False
    cohort["survival"].save()
    baseline = request_run(plan=plan, trigger="manual")
    wait_for(lambda: finished([AnalysisRun.objects.get(pk=baseline.pk)]), timeout=60, what="run")

    sync_role_groups(apps)
    curator = UserFactory(username="cura", groups=[CURATOR], is_staff=True)
    client.force_login(curator)
    follow_up = alive_follow_ups()[0]
    edited_at = time.monotonic()
    response = client.post(
        f"/admin/biobank/followup/{follow_up.pk}/change/",
        {
            "patient": follow_up.patient_id,
            "contact_date": follow_up.contact_date.isoformat(),
            "status": "dead",
            "cause_of_death": "hcc",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    new = wait_for(
        lambda: AnalysisRun.objects.filter(
            plan=plan, trigger="data_change", status="succeeded"
        ).first(),
        timeout=30,
        what="the data-change run",
    )
    assert time.monotonic() - edited_at < 15
    page = client.get(f"/analysis/runs/{new.pk}/").content.decode()
    assert f"What changed against run #{baseline.pk}" in page and new.diff["moved"]
    assert "The data changed after this run" not in page
    old_page = client.get(f"/analysis/runs/{baseline.pk}/").content.decode()
    assert f"a new run is available: run #{new.pk}" in old_page
