"""The report's banner for a run whose data changed says truthfully what became of the
next run: a run the broker refused is not "available" (issue 17)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analysis import tasks, triggers
from analysis.models import AnalysisPlan, AnalysisRun
from analysis.services import analysis_run_create

pytestmark = pytest.mark.django_db

Status = AnalysisRun.Status


@pytest.fixture
def plan():
    plan = AnalysisPlan.objects.filter(is_active=True).first()
    assert plan is not None, "the migrations install the paper's plan"
    return plan


def older_and_newer(plan, *, status: str, error: str = "") -> tuple[AnalysisRun, AnalysisRun]:
    old = analysis_run_create(plan=plan, trigger=AnalysisRun.Trigger.MANUAL)
    AnalysisRun.objects.filter(pk=old.pk).update(
        status=Status.SUCCEEDED, created_at=timezone.now() - timedelta(hours=1)
    )
    old.refresh_from_db()
    new = analysis_run_create(plan=plan, trigger=AnalysisRun.Trigger.DATA_CHANGE)
    AnalysisRun.objects.filter(pk=new.pk).update(status=status, error=error)
    return old, new


def test_a_run_that_could_not_be_queued_is_not_shown_as_available(plan):
    old, new = older_and_newer(
        plan, status=Status.FAILED, error=f"{tasks.QUEUE_FAILURE}: Connection refused"
    )
    banner = triggers.next_run_status(old)
    assert "available:" not in banner.replace("not available:", "")
    assert banner.startswith(f"not available: run #{new.pk} could not be queued")
    assert "re-run the plan by hand" in banner


def test_a_failed_run_is_not_shown_as_available(plan):
    old, new = older_and_newer(plan, status=Status.FAILED, error="ValueError: no data")
    assert triggers.next_run_status(old).startswith(f"not available: run #{new.pk} failed")


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.UNCHANGED])
def test_a_finished_run_is_available(plan, status):
    old, new = older_and_newer(plan, status=status)
    assert triggers.next_run_status(old).startswith(f"available: run #{new.pk}")


def test_a_waiting_run_is_shown_as_waiting(plan):
    old, new = older_and_newer(plan, status=Status.QUEUED)
    assert triggers.next_run_status(old) == f"queued (run #{new.pk})"
