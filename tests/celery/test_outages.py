"""Outages (issue 17), with real workers on PostgreSQL: Redis killed and restarted in
the middle of a burst of edits, a whole worker SIGKILLed, Redis hung (SIGSTOP).

The Redis tests kill and stop a redis-server of their own (tests/celery/conftest.py,
`private_redis`), never the machine's. The settings under test are the production
defaults (visibility timeout, plan lock lifetime, Redis timeouts), not the short ones
the other worker tests use."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from analysis.models import AnalysisRun, PendingReanalysis
from analysis.tasks import WORKER_LOST, sweep_stale_runs

from .conftest import QUIET, seed_cohort, wait_for
from .test_reanalysis import alive_follow_ups, edit, fingerprint_now, finished

pytestmark = [
    pytest.mark.celery,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

# Unset in the worker's environment: the worker takes the settings' defaults.
DEFAULTS = {"CELERY_VISIBILITY_TIMEOUT": None, "EXOTRACK_REANALYSIS_LOCK_SECONDS": None}


@pytest.fixture
def cohort(broker, settings):
    return seed_cohort(settings)


@pytest.fixture
def private_cohort(private_broker, settings):
    return seed_cohort(settings)


def survived(worker, *, reconnected: bool = True) -> None:
    """The worker is still up, never crashed, and (when it lost Redis) reconnected."""
    output = worker.output()
    assert worker.process.poll() is None, output[-3000:]
    assert "Unrecoverable error" not in output, output[-3000:]
    if reconnected:
        lost = output.rfind("Connection to broker lost")
        assert lost >= 0 and "Connected to" in output[lost:], output[-3000:]


def timed_edits(follow_ups, indexes) -> list[float]:
    """Edit these follow-ups one commit each; the seconds each edit took."""
    waits = []
    for index in indexes:
        started = time.monotonic()
        follow_ups[index] = edit(follow_ups[index])
        waits.append(time.monotonic() - started)
        time.sleep(0.1)
    return waits


def test_redis_killed_and_restarted_mid_burst(private_cohort, private_redis, private_workers):
    worker = private_workers.start("outage", **DEFAULTS)
    follow_ups = alive_follow_ups()[:8]

    timed_edits(follow_ups, range(0, 3))  # their task is queued (due a second later)...
    private_redis.kill()  # ... and lost with everything Redis held
    during = timed_edits(follow_ups, range(3, 6))
    assert max(during) < 5, during  # a refused connection: no socket timeout to wait for
    time.sleep(2)  # the worker finds the broker gone and keeps retrying
    private_redis.start()  # empty: no queue, no debounce state
    timed_edits(follow_ups, range(6, 8))
    last_edit = timezone.now()

    runs = AnalysisRun.objects.filter(trigger="data_change")
    wait_for(lambda: runs.count() == 2 and finished(runs), timeout=90, what="one run per plan")
    time.sleep(QUIET + 6)  # the worker's reconnection enqueue (5 s) made nothing more
    assert runs.count() == 2
    for run in runs:
        assert run.status == "succeeded", run.error
        assert run.started_at >= last_edit
        assert run.parameters["reasons"] == {"follow up changed": 8}  # the outage's 3 too
        assert run.fingerprint == fingerprint_now(run.plan)  # the newest data
    assert {run.plan.name for run in runs} == {"paper-default", "survival"}
    assert not PendingReanalysis.objects.exists()  # consumed
    survived(worker)


def test_a_sigkilled_worker_is_replaced_within_a_minute(cohort, workers):
    cohort["paper"].is_active = False
    cohort["paper"].save()
    plan = cohort["survival"]
    doomed = workers.start("doomed", EXOTRACK_TEST_RUN_DELAY=120, **DEFAULTS)

    edit(alive_follow_ups()[0], days=30)
    runs = AnalysisRun.objects.filter(plan=plan)
    stuck = wait_for(lambda: runs.filter(status="running").first(), timeout=30, what="a run")
    doomed.kill()
    killed_at = timezone.now()
    workers.start("rescuer", **DEFAULTS)  # as a supervisor restarts it

    replacement = wait_for(
        lambda: runs.exclude(pk=stuck.pk).filter(started_at__isnull=False).first(),
        timeout=75,
        what="the replacement run to start",
    )
    assert replacement.started_at - killed_at < dt.timedelta(seconds=60)
    wait_for(lambda: finished(runs), timeout=60, what="the replacement run to finish")
    stuck.refresh_from_db()
    replacement.refresh_from_db()
    assert stuck.status == "failed" and stuck.error.startswith(WORKER_LOST)
    assert replacement.status == "succeeded", replacement.error
    assert replacement.fingerprint == fingerprint_now(plan)
    assert runs.count() == 2
    assert not PendingReanalysis.objects.exists()


def test_a_hung_redis_costs_an_edit_one_bounded_wait(
    private_cohort, private_redis, private_workers
):
    private_cohort["paper"].is_active = False
    private_cohort["paper"].save()
    plan = private_cohort["survival"]
    worker = private_workers.start("hang", **DEFAULTS)
    follow_ups = alive_follow_ups()[:4]
    timeout = django_settings.REDIS_TIMEOUT_SECONDS

    private_redis.pause()
    try:
        waits = timed_edits(follow_ups, range(4))
        time.sleep(15)  # long enough for the worker's health check to notice
    finally:
        private_redis.resume()
    # One wait of about the socket timeout, for the first edit; the others do not ask
    # a Redis that just timed out (it costs them nothing).
    assert max(waits) < timeout + 1.5, waits
    assert sum(waits) < timeout + 3, waits
    assert PendingReanalysis.objects.get(plan=plan).changes == 4

    # What beat's sweep does every five minutes (the worker's reconnection may be first).
    time.sleep(QUIET)
    sweep_stale_runs()
    runs = AnalysisRun.objects.filter(plan=plan, trigger="data_change")
    wait_for(lambda: runs.count() == 1 and finished(runs), timeout=60, what="the run")
    time.sleep(6)
    assert runs.count() == 1
    run = runs.get()
    assert run.status == "succeeded", run.error
    assert run.parameters["reasons"] == {"follow up changed": 4}
    assert run.fingerprint == fingerprint_now(plan)
    assert not PendingReanalysis.objects.exists()
    survived(worker, reconnected=False)  # a short hang may pass unnoticed; it ran the plan
