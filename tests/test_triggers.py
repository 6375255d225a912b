"""Data changes re-run the plans that read them, after commit, once per transaction,
in-process when no broker is configured (the embedded default, as in `make demo`).

The debounce across transactions, the Redis lock and a killed worker are tested
against real Redis, PostgreSQL and Celery workers in tests/celery/."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import OperationalError, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from analysis import tasks, triggers
from analysis.models import AnalysisPlan, AnalysisRun
from analysis.services import analysis_run
from biobank.celery import app as celery_app
from biobank.models import (
    Aliquot,
    ClinicalAssessment,
    ExosomeIsolation,
    ExosomeIsolationBatch,
    FollowUp,
    Freezer,
    Patient,
    QpcrPlate,
    SerumDraw,
    TemperatureExcursion,
    Well,
)
from biobank.services.aliquots import aliquot_check_out, aliquot_thaw
from biobank.services.draws import serum_draw_update
from biobank.services.patients import (
    clinical_assessment_update,
    follow_up_update,
    patient_withdraw,
)
from biobank.services.plates import well_exclude
from biobank.services.storage import temperature_excursion_record

pytestmark = pytest.mark.django_db

SURVIVAL = {"analyses": [{"kind": "kaplan_meier", "name": "KM"}]}
CLINICAL = {
    "analyses": [{"kind": "baseline_table", "name": "T1", "variables": ["ast_iu_l", "alt_iu_l"]}]
}
EXPRESSION = {
    "analyses": [
        {
            "kind": "paired_t_test",
            "name": "F1",
            "before": "mir122_pre_log10",
            "after": "mir122_post_log10",
        }
    ]
}


@pytest.fixture
def plans(demo, reanalysis):
    """Three small plans; the paper's plan is made inactive to keep these tests quick."""
    AnalysisPlan.objects.filter(name="paper-default").update(is_active=False)
    return {
        name: AnalysisPlan.objects.create(name=name, title=name, spec=spec)
        for name, spec in [("survival", SURVIVAL), ("clinical", CLINICAL), ("cq", EXPRESSION)]
    }


@pytest.fixture
def dispatched(monkeypatch):
    """What each commit hands to the tasks: [(plan names, reasons)], nothing run."""
    calls = []
    monkeypatch.setattr(
        triggers,
        "dispatch",
        lambda plans, reasons: calls.append(({p.name for p in plans}, dict(reasons))),
    )
    return calls


def alive_follow_ups(count: int) -> list[FollowUp]:
    """The last contact of patients alive at it: moving it later is always allowed."""
    last = {}
    for follow_up in FollowUp.objects.select_related("patient").order_by("contact_date"):
        last[follow_up.patient_id] = follow_up
    alive = [f for f in last.values() if f.status == FollowUp.Status.ALIVE]
    assert len(alive) >= count
    return alive[:count]


def shift(follow_up: FollowUp, days: int = 1) -> FollowUp:
    return follow_up_update(
        follow_up=follow_up, contact_date=follow_up.contact_date + dt.timedelta(days=days)
    )


def burst(edits: int) -> None:
    """`edits` follow-up edits, each moving a last contact one day later."""
    follow_ups = alive_follow_ups(10)
    for index in range(edits):
        follow_ups[index % 10] = shift(follow_ups[index % 10])


def runs(**filters):
    return AnalysisRun.objects.filter(**filters)


class TestAfterCommitOnce:
    def test_a_burst_in_one_transaction_makes_one_run_per_plan_after_commit(
        self, plans, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
            burst(30)
            assert not runs().exists()  # nothing before the commit
        assert len(callbacks) == 1  # thirty saves, one hand-over
        made = runs(trigger="data_change")
        assert sorted(made.values_list("plan__name", flat=True)) == ["clinical", "cq", "survival"]
        for run in made:
            assert run.status == "succeeded", run.error
            assert run.parameters["reasons"] == {"follow up changed": 30}
            assert run.parameters["lock"] == "local"  # in-process, through the task

    def test_a_rolled_back_transaction_schedules_nothing(
        self, plans, dispatched, django_capture_on_commit_callbacks
    ):
        follow_up = alive_follow_ups(1)[0]
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            shift(follow_up)
            raise RuntimeError("rolled back")
        assert callbacks == [] and dispatched == []
        # The next transaction schedules again (the rolled-back one left nothing behind).
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            shift(FollowUp.objects.get(pk=follow_up.pk))
        assert len(callbacks) == 1 and len(dispatched) == 1

    def test_each_committed_transaction_runs_with_the_newest_data(
        self, plans, django_capture_on_commit_callbacks
    ):
        first, second = alive_follow_ups(2)
        for follow_up in (first, second):
            with django_capture_on_commit_callbacks(execute=True):
                shift(follow_up, days=30)
        survival = runs(plan=plans["survival"]).order_by("id")
        assert [r.status for r in survival] == ["succeeded", "succeeded"]
        assert survival[0].fingerprint != survival[1].fingerprint
        assert survival[1].previous_id == survival[0].pk

    def test_nothing_when_disabled_or_no_plan_is_active(
        self, plans, dispatched, reanalysis, django_capture_on_commit_callbacks
    ):
        follow_up = alive_follow_ups(1)[0]
        AnalysisPlan.objects.update(is_active=False)
        with django_capture_on_commit_callbacks(execute=True):
            shift(follow_up)
        assert dispatched == [(set(), {"follow up changed": 1})]  # no plan to run
        assert not runs().exists()
        reanalysis.EXOTRACK = {**reanalysis.EXOTRACK, "REANALYSIS_ENABLED": False}
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            shift(FollowUp.objects.get(pk=follow_up.pk))
        assert callbacks == []


class TestWhichChangeRerunsWhichPlan:
    def commit(self, change, capture) -> set[str]:
        with capture(execute=True):
            change()

    def test_follow_up_reruns_every_plan(
        self, plans, dispatched, django_capture_on_commit_callbacks
    ):
        # Every plan reads the survival time and event (they are in its fingerprint).
        self.commit(lambda: shift(alive_follow_ups(1)[0]), django_capture_on_commit_callbacks)
        assert dispatched[-1][0] == {"survival", "clinical", "cq"}

    def test_clinical_values_rerun_the_plans_reading_them(
        self, plans, dispatched, django_capture_on_commit_callbacks
    ):
        AnalysisPlan.objects.filter(name="paper-default").update(is_active=True)
        assessment = ClinicalAssessment.objects.exclude(ast_iu_l=None).first()
        self.commit(
            lambda: clinical_assessment_update(assessment=assessment, ast_iu_l=99),
            django_capture_on_commit_callbacks,
        )
        assert dispatched[-1] == ({"clinical", "paper-default"}, {"clinical assessment changed": 1})

    def test_a_well_exclusion_reruns_the_plans_reading_expression(
        self, plans, dispatched, curator, django_capture_on_commit_callbacks
    ):
        well = Well.objects.exclude(cq=None).first()
        self.commit(
            lambda: well_exclude(well=well, user=curator, reason="bubble"),
            django_capture_on_commit_callbacks,
        )
        assert dispatched[-1][0] == {"cq"}

    def test_renaming_a_plate_or_an_extraction_batch_reruns_the_plans_reading_expression(
        self, plans, dispatched, django_capture_on_commit_callbacks
    ):
        """The cohort reads both codes (the plate of each well, the batch of each spike-in
        peer group): a rename is a change of what it reads."""
        plate = QpcrPlate.objects.first()
        plate.barcode += "-R"
        self.commit(
            lambda: plate.save(update_fields=["barcode"]), django_capture_on_commit_callbacks
        )
        assert dispatched[-1][0] == {"cq"}
        batch = ExosomeIsolationBatch.objects.first()
        batch.code += "-R"
        self.commit(lambda: batch.save(update_fields=["code"]), django_capture_on_commit_callbacks)
        assert len(dispatched) == 2
        plate.status = plate.status
        self.commit(
            lambda: plate.save(update_fields=["status"]), django_capture_on_commit_callbacks
        )
        assert len(dispatched) == 2  # a field the cohort does not read

    def test_consent_withdrawal_reruns_every_plan(
        self, plans, dispatched, django_capture_on_commit_callbacks
    ):
        patient = Patient.objects.first()
        self.commit(
            lambda: patient_withdraw(patient=patient, withdrawn_on=dt.date(2020, 1, 1), reason="x"),
            django_capture_on_commit_callbacks,
        )
        assert dispatched[-1][0] == {"survival", "clinical", "cq"}

    def test_moving_or_thawing_an_aliquot_feeds_no_analysis(
        self, plans, dispatched, technician, django_capture_on_commit_callbacks
    ):
        aliquot = Aliquot.objects.filter(status="stored").first()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            aliquot_thaw(aliquot=aliquot, user=technician, reason="bench")
            aliquot_check_out(aliquot=aliquot, user=technician, reason="extraction")
        assert callbacks == [] and dispatched == []
        # A save that may change its draw (the admin saves every field) does count.
        aliquot.refresh_from_db()
        self.commit(aliquot.save, django_capture_on_commit_callbacks)
        assert dispatched[-1][0] == {"cq"}

    def test_a_draws_qc_fields_rerun_the_plans_reading_expression(
        self, plans, dispatched, django_capture_on_commit_callbacks
    ):
        draw = SerumDraw.objects.first()
        draw.note = "label smudged"
        self.commit(lambda: draw.save(update_fields=["note"]), django_capture_on_commit_callbacks)
        assert dispatched == []  # the note feeds no flag
        for field, value in [("haemolysis", "moderate"), ("a414", 0.31)]:
            setattr(draw, field, value)
            self.commit(
                lambda field=field: draw.save(update_fields=[field]),
                django_capture_on_commit_callbacks,
            )
            assert dispatched[-1] == ({"cq"}, {"serum draw changed": 1}), field
        self.commit(
            lambda: serum_draw_update(draw=draw, frozen_at=draw.frozen_at + dt.timedelta(hours=3)),
            django_capture_on_commit_callbacks,
        )
        assert dispatched[-1][0] == {"cq"} and len(dispatched) == 3

    def test_thawing_a_tube_an_isolation_used_reruns_the_plans_reading_expression(
        self, plans, dispatched, technician, django_capture_on_commit_callbacks
    ):
        aliquot = Aliquot.objects.filter(status="stored").first()
        batch = ExosomeIsolationBatch.objects.first()
        self.commit(
            lambda: ExosomeIsolation.objects.create(
                batch=batch, aliquot=aliquot, serum_volume_ul=100
            ),
            django_capture_on_commit_callbacks,
        )
        dispatched.clear()
        self.commit(
            lambda: aliquot_thaw(aliquot=aliquot, user=technician, reason="bench"),
            django_capture_on_commit_callbacks,
        )
        assert dispatched == [({"cq"}, {"aliquot thawed": 1})]

    def test_a_temperature_excursion_and_its_links_rerun_the_plans_reading_expression(
        self, plans, dispatched, technician, django_capture_on_commit_callbacks
    ):
        freezer = Freezer.objects.filter(racks__boxes__aliquots__status="stored").first()
        started = timezone.make_aware(dt.datetime(2018, 2, 3, 4, 0))

        def record():
            return temperature_excursion_record(
                freezer=freezer, started_at=started, peak_temperature_c=-45, user=technician
            )

        self.commit(record, django_capture_on_commit_callbacks)
        assert dispatched[-1] == (
            {"cq"},
            {"temperature excursion added": 1, "temperature excursion aliquots linked": 1},
        )
        excursion = TemperatureExcursion.objects.get()
        aliquot = excursion.affected_aliquots.first()
        changes = [
            (lambda: excursion.affected_aliquots.remove(aliquot), "aliquots unlinked"),
            (lambda: aliquot.excursions.add(excursion), "aliquots linked"),  # the other side
            (lambda: excursion.affected_aliquots.clear(), "aliquots unlinked"),
            (excursion.delete, "deleted"),
        ]
        for change, what in changes:
            dispatched.clear()
            self.commit(change, django_capture_on_commit_callbacks)
            assert dispatched == [({"cq"}, {f"temperature excursion {what}": 1})], what
        # Linking nothing, or a note on the record, changes no flag.
        self.commit(record, django_capture_on_commit_callbacks)
        other = TemperatureExcursion.objects.get()
        dispatched.clear()
        self.commit(lambda: other.affected_aliquots.add(), django_capture_on_commit_callbacks)
        other.note = "door left open"
        self.commit(lambda: other.save(update_fields=["note"]), django_capture_on_commit_callbacks)
        assert dispatched == []

    def test_deleting_a_follow_up_reruns(
        self, plans, dispatched, django_capture_on_commit_callbacks
    ):
        self.commit(alive_follow_ups(1)[0].delete, django_capture_on_commit_callbacks)
        assert dispatched[-1][1] == {"follow up deleted": 1}

    def test_the_bulk_plate_import_schedules_once(
        self, plans, dispatched, technician, django_capture_on_commit_callbacks
    ):
        from biobank.services.plate_import import plate_import_confirm
        from biobank.services.plates import plate_create, plate_layout

        from .factories import ReverseTranscriptionFactory, study_assays
        from .test_plates import export_for

        with django_capture_on_commit_callbacks(execute=True):  # the set-up's own commit
            plate = plate_create(barcode="PL-T", operator=technician)
            samples = [ReverseTranscriptionFactory() for _ in range(4)]
            plate_layout(plate=plate, samples=samples, assays=study_assays())
        dispatched.clear()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            plate_import_confirm(
                plate=plate, data=export_for(plate), filename="p.txt", user=technician
            )
        assert len(callbacks) == 1
        assert dispatched == [({"cq"}, {"plate PL-T results imported": 1})]

    def test_plan_reads(self):
        assert triggers.plan_reads(SURVIVAL, {triggers.ROWS})
        assert not triggers.plan_reads(SURVIVAL, {triggers.EXPRESSION})
        assert triggers.plan_reads(EXPRESSION, {triggers.EXPRESSION})
        assert not triggers.plan_reads(EXPRESSION, triggers.CLINICAL_COLUMNS)
        assert triggers.plan_reads({"analyses": "broken"}, {"ast_iu_l"})  # its run says why


class TestByHandAndNightly:
    def test_the_report_page_rerun_goes_through_the_task(
        self, plans, client, curator, django_capture_on_commit_callbacks
    ):
        client.force_login(curator)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/analysis/plans/survival/rerun/")
        run = runs(trigger="manual").get()
        assert response.url == f"/analysis/runs/{run.pk}/"
        assert run.status == "succeeded" and run.requested_by == curator
        assert run.parameters["lock"] == "local"

    def test_the_admin_rerun_action(
        self, plans, client, curator, django_capture_on_commit_callbacks
    ):
        client.force_login(curator)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/admin/analysis/analysisplan/",
                {"action": "rerun_now", "_selected_action": [plans["cq"].pk, plans["clinical"].pk]},
                follow=True,
            )
        assert response.status_code == 200
        assert sorted(runs(trigger="manual").values_list("plan__name", "status")) == [
            ("clinical", "succeeded"),
            ("cq", "succeeded"),
        ]
        page = client.get("/admin/analysis/analysisrun/").content.decode()
        for column in ("Status", "Trigger", "Duration", "Fingerprint", "Why"):
            assert column in page

    def test_only_who_may_add_runs_gets_the_rerun_action(self, plans, client, technician):
        client.force_login(technician)  # staff, reads plans, may not start runs
        page = client.get("/admin/analysis/analysisplan/")
        assert page.status_code == 200 and "rerun_now" not in page.content.decode()
        client.post(
            "/admin/analysis/analysisplan/",
            {"action": "rerun_now", "_selected_action": [plans["cq"].pk]},
        )
        assert not runs().exists()

    def test_nightly_runs_every_active_plan(self, plans, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.nightly_reanalysis.delay()
        made = runs(trigger="nightly")
        assert sorted(made.values_list("plan__name", flat=True)) == ["clinical", "cq", "survival"]
        assert set(made.values_list("status", flat=True)) == {"succeeded"}

    def test_the_beat_schedule_is_in_the_database_for_curators_to_edit(self, curator):
        nightly = PeriodicTask.objects.get(task="analysis.nightly_reanalysis")
        assert (nightly.crontab.minute, nightly.crontab.hour) == ("30", "2") and nightly.enabled
        sweep = PeriodicTask.objects.get(task="analysis.sweep_stale_runs")
        assert sweep.interval.every == 5
        for task in PeriodicTask.objects.filter(task__startswith="analysis."):
            assert task.task in celery_app.tasks
        assert curator.has_perm("django_celery_beat.change_periodictask")


class TestFailures:
    def test_a_transient_fault_is_stored_on_its_run_and_retried(
        self, plans, monkeypatch, django_capture_on_commit_callbacks
    ):
        from analysis import services

        real, calls = services.load_cohort_with_evidence, Counter()

        def flaky(**kwargs):
            calls["load"] += 1
            if calls["load"] == 1:
                raise OperationalError("server closed the connection unexpectedly")
            return real(**kwargs)

        monkeypatch.setattr(services, "load_cohort_with_evidence", flaky)
        with django_capture_on_commit_callbacks(execute=True):
            run = tasks.request_run(plan=plans["survival"], trigger="manual")
        first, second = runs(plan=plans["survival"]).order_by("id")
        assert tasks.current_run(run.pk) == second
        assert first.pk == run.pk and first.status == "failed"
        assert "OperationalError" in first.error and first.parameters["replaced_by"] == second.pk
        assert second.status == "succeeded" and second.parameters["replaces"] == first.pk

    def test_a_bad_plan_fails_once_with_its_reason(self, plans, django_capture_on_commit_callbacks):
        bad = AnalysisPlan.objects.create(name="bad", title="bad", spec={"analyses": "nope"})
        with django_capture_on_commit_callbacks(execute=True):
            tasks.request_run(plan=bad, trigger="manual")
        (run,) = runs(plan=bad)
        assert run.status == "failed" and "cannot run" in run.error

    def test_the_sweep_fails_runs_nobody_will_finish(self, plans, reanalysis):
        reanalysis.EXOTRACK = {**reanalysis.EXOTRACK, "REANALYSIS_STALE_SECONDS": 60}
        long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        stuck = AnalysisRun.objects.create(
            plan=plans["cq"], status="running", started_at=long_ago, spec=EXPRESSION
        )
        never = AnalysisRun.objects.create(plan=plans["cq"], spec=EXPRESSION)
        AnalysisRun.objects.filter(pk=never.pk).update(created_at=long_ago)
        fresh = AnalysisRun.objects.create(plan=plans["cq"], spec=EXPRESSION)
        assert sorted(tasks.sweep_stale_runs()) == [stuck.pk, never.pk]
        stuck.refresh_from_db(), never.refresh_from_db(), fresh.refresh_from_db()
        assert stuck.status == never.status == "failed" and fresh.status == "queued"
        assert stuck.error.startswith("Stuck") and never.error.startswith("Never started")


class TestReportSaysWhenDataChanged:
    def test_banner_after_a_change_the_run_did_not_see(self, plans, client, analyst, reanalysis):
        run = analysis_run(plan=plans["survival"], trigger="command")
        client.force_login(analyst)
        page = client.get(f"/analysis/runs/{run.pk}/").content.decode()
        assert "The data changed after this run" not in page
        # Edited with the triggers off: nothing scheduled, and the page says so.
        reanalysis.EXOTRACK = {**reanalysis.EXOTRACK, "REANALYSIS_ENABLED": False}
        shift(alive_follow_ups(1)[0], days=40)
        page = client.get(f"/analysis/runs/{run.pk}/").content.decode()
        assert "The data changed after this run; a new run is not scheduled yet" in page
        queued = tasks.request_run(plan=plans["survival"], trigger="manual")  # not committed
        page = client.get(f"/analysis/runs/{run.pk}/").content.decode()
        assert f"a new run is queued (run #{queued.pk})" in page

    def test_no_banner_for_a_change_the_plan_does_not_read(self, plans, curator, client, analyst):
        run = analysis_run(plan=plans["clinical"], trigger="command")
        well_exclude(well=Well.objects.exclude(cq=None).first(), user=curator, reason="bubble")
        client.force_login(analyst)
        page = client.get(f"/analysis/runs/{run.pk}/").content.decode()
        assert "The data changed after this run" not in page


# --- the embedded default: runs in the background, saves never wait ----------------------


@pytest.fixture
def small_demo(transactional_db):
    call_command("seed_demo", patients=12, stdout=io.StringIO())


@pytest.fixture
def cq_plan(small_demo, background_reanalysis):
    """One active plan reading the Cq values (a well exclusion re-runs it)."""
    AnalysisPlan.objects.update(is_active=False)
    return AnalysisPlan.objects.create(name="cq", title="cq", spec=EXPRESSION)


@pytest.fixture
def held(monkeypatch):
    """Runs block in the middle of their computation until `release` is set; `started`
    is set when one gets there."""
    from analysis import engine  # services imports run_plan from it when a run starts

    real = engine.run_plan
    gate = type("Gate", (), {})()
    gate.started, gate.release, gate.calls = threading.Event(), threading.Event(), 0

    def run_plan(table, spec, **options):
        gate.calls += 1
        gate.started.set()
        assert gate.release.wait(60), "the test never released the run"
        return real(table, spec, **options)

    monkeypatch.setattr(engine, "run_plan", run_plan)
    yield gate
    gate.release.set()  # whatever happened, let the runner drain


def wells(count: int) -> list[Well]:
    return list(Well.objects.exclude(cq=None).filter(excluded=None).order_by("pk")[:count])


class TestInTheBackground:
    def test_the_save_returns_before_the_run_finishes_then_the_run_completes(
        self, cq_plan, held, curator
    ):
        started = time.perf_counter()
        well_exclude(well=wells(1)[0], user=curator, reason="bubble")
        elapsed = time.perf_counter() - started
        (run,) = runs(plan=cq_plan)
        assert run.status in ("queued", "running")  # committed; the run is not done
        assert run.parameters["reasons"] == {"well changed": 1}
        assert held.started.wait(30)
        assert runs(plan=cq_plan).get().status == "running"
        assert not tasks.wait_for_background_runs(timeout=0.2)  # still computing
        assert elapsed < 5  # the save did not wait for the (held) run
        held.release.set()
        assert tasks.wait_for_background_runs(timeout=60)
        run.refresh_from_db()
        assert run.status == "succeeded", run.error
        assert run.parameters["lock"] == "local" and run.parameters["process"]

    def test_edits_during_a_run_make_exactly_one_more_run_with_all_their_reasons(
        self, cq_plan, held, curator
    ):
        first, *others = wells(4)
        well_exclude(well=first, user=curator, reason="bubble")
        assert held.started.wait(30)
        for well in others:  # three commits while the first run computes
            well_exclude(well=well, user=curator, reason="bubble")
        waiting = runs(plan=cq_plan, status="queued")
        assert waiting.count() == 1  # coalesced: one run waits for all three
        held.release.set()
        assert tasks.wait_for_background_runs(timeout=60)
        made = list(runs(plan=cq_plan).order_by("pk"))
        assert [r.status for r in made] == ["succeeded", "succeeded"]
        assert held.calls == 2
        second = made[1]
        assert second.parameters["reasons"] == {"well changed": 3}
        assert second.parameters["commits"] == 3
        # No lost edit: the second run read every exclusion, the first did not.
        assert made[0].fingerprint != second.fingerprint
        assert triggers.data_changed(second) is None

    def test_a_write_while_a_run_writes_waits_for_it_instead_of_failing(
        self, cq_plan, monkeypatch, curator
    ):
        """The run holds a write transaction for a moment (SQLite: the database's one
        write lock); a save meanwhile waits for it (busy timeout) and succeeds."""
        from analysis import engine  # services imports run_plan from it when a run starts

        real, holding, release = engine.run_plan, threading.Event(), threading.Event()

        def run_plan(table, spec, **options):
            with transaction.atomic():
                AnalysisPlan.objects.filter(pk=cq_plan.pk).update(title="writing")
                holding.set()
                release.wait(30)
            return real(table, spec, **options)

        monkeypatch.setattr(engine, "run_plan", run_plan)
        first, second = wells(2)
        well_exclude(well=first, user=curator, reason="bubble")
        assert holding.wait(30)
        threading.Timer(0.5, release.set).start()
        well_exclude(well=second, user=curator, reason="bubble")  # no "database is locked"
        assert Well.objects.get(pk=second.pk).excluded is True
        assert tasks.wait_for_background_runs(timeout=60)
        assert set(runs(plan=cq_plan).values_list("status", flat=True)) == {"succeeded"}

    def test_a_rerun_by_hand_is_queued_and_computed_after_the_response(
        self, cq_plan, held, client, curator
    ):
        client.force_login(curator)
        response = client.post("/analysis/plans/cq/rerun/")
        run = runs(trigger="manual").get()
        assert response.url == f"/analysis/runs/{run.pk}/"
        assert run.status in ("queued", "running")
        held.release.set()
        assert tasks.wait_for_background_runs(timeout=60)
        run.refresh_from_db()
        assert run.status == "succeeded" and run.requested_by == curator

    def test_runs_left_by_a_stopped_process_are_failed_and_run_again(self, cq_plan):
        dead = subprocess.Popen(["true"])
        dead.wait()
        host = socket.gethostname()
        left = AnalysisRun.objects.create(
            plan=cq_plan,
            status="running",
            started_at=dt.datetime.now(dt.UTC),
            spec=EXPRESSION,
            parameters={"via": "task", "process": f"{host}:{dead.pid}:gone", "lock": "local"},
        )
        alive = AnalysisRun.objects.create(  # queued by a live process (this one's parent)
            plan=cq_plan, spec=EXPRESSION, parameters={"process": f"{host}:{os.getppid()}:x"}
        )
        runner = tasks.BackgroundRunner()  # a process starting: its runner recovers first
        runner.submit(tasks.request_run(plan=cq_plan, trigger="manual").pk)
        assert runner.wait(60)
        left.refresh_from_db(), alive.refresh_from_db()
        assert left.status == "failed" and left.error.startswith("Worker lost")
        again = AnalysisRun.objects.get(pk=left.parameters["replaced_by"])
        assert (
            again.status in ("succeeded", "unchanged") and again.parameters["replaces"] == left.pk
        )
        assert alive.status == "queued"  # not ours to judge
        assert not tasks.process_is_gone(tasks.process_token())
        assert tasks.process_is_gone(f"{host}:{dead.pid}:gone")
        assert not tasks.process_is_gone(f"elsewhere:{dead.pid}:gone")


@pytest.mark.skipif(
    "sqlite" not in __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"],
    reason="SQLite settings",
)
def test_sqlite_waits_for_a_writer_instead_of_failing(transactional_db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 10_000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
