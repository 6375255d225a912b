"""The durable "this plan's data changed" record (analysis.pending): what a commit adds,
and what a run that read the data removes, with a commit during the run kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analysis.models import AnalysisPlan, AnalysisRun, PendingReanalysis
from analysis.pending import (
    pending_plan_ids,
    pending_reanalysis_consume,
    pending_reanalysis_discard,
    pending_reanalysis_record,
    pending_reanalysis_snapshot,
)

from .factories import PatientFactory

pytestmark = pytest.mark.django_db

SPEC = {"analyses": [{"kind": "kaplan_meier", "name": "KM", "times": [0, 12]}]}


@pytest.fixture
def plans():
    AnalysisPlan.objects.update(is_active=False)
    return [AnalysisPlan.objects.create(name=f"p{i}", title=f"p{i}", spec=SPEC) for i in range(2)]


def test_each_commit_counts_each_reason_once_per_plan(plans):
    ids = [plan.pk for plan in plans]
    pending_reanalysis_record(plan_ids=ids, reasons=["follow up changed"])
    pending_reanalysis_record(plan_ids=ids, reasons=["follow up changed", "well changed"])
    pending_reanalysis_record(plan_ids=ids[:1], reasons=["well changed"])
    first, second = (PendingReanalysis.objects.get(plan=plan) for plan in plans)
    assert (first.changes, first.reasons) == (3, {"follow up changed": 2, "well changed": 2})
    assert (second.changes, second.reasons) == (2, {"follow up changed": 2, "well changed": 1})
    assert first.first_changed_at <= first.last_changed_at


def test_a_run_removes_what_it_read_and_keeps_a_later_commit(plans):
    plan = plans[0]
    pending_reanalysis_record(plan_ids=[plan.pk], reasons=["follow up changed"])
    pending_reanalysis_record(plan_ids=[plan.pk], reasons=["follow up changed"])
    snapshot = pending_reanalysis_snapshot(plan_id=plan.pk)  # the run reads the data now
    pending_reanalysis_record(plan_ids=[plan.pk], reasons=["well changed"])  # during the run

    assert pending_reanalysis_consume(snapshot=snapshot) is False
    left = PendingReanalysis.objects.get(plan=plan)
    assert left.reasons == {"well changed": 1}  # 2 follow-ups consumed, the well is not

    again = pending_reanalysis_snapshot(plan_id=plan.pk)
    assert pending_reanalysis_consume(snapshot=again) is True
    assert not PendingReanalysis.objects.exists()
    assert pending_reanalysis_consume(snapshot=again) is True  # twice (a duplicate): no harm


def test_due_plans_are_active_and_quiet_long_enough(plans):
    pending_reanalysis_record(plan_ids=[p.pk for p in plans], reasons=["x"])
    assert sorted(pending_plan_ids()) == sorted(p.pk for p in plans)
    assert pending_plan_ids(older_than=timedelta(minutes=1)) == []
    PendingReanalysis.objects.filter(plan=plans[0]).update(
        last_changed_at=PendingReanalysis.objects.get(plan=plans[0]).last_changed_at
        - timedelta(minutes=2)
    )
    assert pending_plan_ids(older_than=timedelta(minutes=1)) == [plans[0].pk]
    AnalysisPlan.objects.filter(pk=plans[0].pk).update(is_active=False)
    assert pending_plan_ids() == [plans[1].pk]
    pending_reanalysis_discard(plan_id=plans[1].pk)
    assert pending_plan_ids() == []


def test_no_record_without_a_broker(plans, reanalysis, django_capture_on_commit_callbacks):
    """The embedded mode keeps its in-process runs: a data change records nothing (and
    still runs the plan, in this thread with REANALYSIS_IN_BACKGROUND off)."""
    with django_capture_on_commit_callbacks(execute=True):
        PatientFactory()
    assert AnalysisRun.objects.filter(plan=plans[0], trigger="data_change").exists()
    assert not PendingReanalysis.objects.exists()
