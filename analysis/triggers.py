"""Which data changes re-run which plans, and scheduling those runs after commit.

Every active plan reads the live cohort table; a change to the rows a table column
comes from re-runs the plans that read that column (analysis.plans.columns_used,
the same columns the input fingerprint covers). Who changes what:

    FollowUp                          survival columns (every plan reads time and event)
    Patient, Treatment                which patients are in the table: every plan
    ClinicalAssessment                the baseline clinical columns
    Well, Assay, SerumDraw, Aliquot,  the expression columns (Cq, exclusions, and the
    ExosomeIsolation, RnaIsolation,   chain that ties a well to a patient and timepoint)
    ReverseTranscription, the batch's
    code and the plate's barcode
    SerumDraw (haemolysis, a414,      the expression columns' QC flags (issue 12: the
      drawn/centrifuged/frozen at),   haemolysis grade and A414, the processing delays,
    Aliquot (freeze_thaw_count),      the freeze-thaws of the tube an RT product came
    TemperatureExcursion (and its     from, and the freezer excursions it went through;
      affected_aliquots links)        a flag can exclude a value from a plan's analysis)

Model saves and deletes arrive through post_save / post_delete (the admin, forms, the
API and the services alike), and the links of an excursion to its aliquots through
m2m_changed; the services that write in bulk or with `.update()` call
`schedule_reanalysis` themselves (plate_import_confirm's bulk write of the wells,
aliquot_thaw when the tube has fed an exosome isolation). Aliquot volume, status and
position, and the thaw of a tube no isolation used, feed no analysis and schedule
nothing. Plans run on an imported CohortDataset never follow database edits.

Nothing is scheduled before the transaction commits, and nothing if it rolls back:
the changes of a transaction are gathered and handed over by one on_commit callback.
With a broker the flush first records the change in the database (analysis.pending:
durable, so an edit made while Redis is down or hung still gets its run), then it is
debounced in Redis (analysis.tasks.Debounce): the first edit enqueues one task per
plan with countdown = the quiet time, later edits push the due time on, and the task
runs the plan once, the quiet time after the last edit. When Redis does not answer
within EXOTRACK_REDIS_TIMEOUT_SECONDS the flush logs it and stops asking (for this
flush, and for a few seconds in this process): the record stays, and the sweep or the
worker's reconnection enqueues the plan once Redis is back. The request never fails
and never waits longer than one such timeout. With
no broker (the embedded default) the runs go to this process's background runner
(analysis.tasks.BackgroundRunner): the response returns right after the commit, a
plan has at most one run waiting (later commits join it), and a commit during a run
makes exactly one more. With REANALYSIS_IN_BACKGROUND off, each committed transaction
runs each plan it touched once, in the committing thread, through the same task.

This module decides what to run and hands it to analysis.tasks, which never imports it
back (a run by hand or by the nightly job is `analysis.tasks.request_run`). Every
process loads it (AnalysisConfig.ready connects the signals), so it imports no pandas:
the cohort's column names come from analysis.columns, and the plans' columns are read
on the first write that needs them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from analysis import tasks
from analysis.columns import BASELINE_COLUMNS, EXPRESSION_SUFFIXES, SURVIVAL_COLUMNS
from analysis.models import AnalysisPlan, AnalysisRun
from analysis.pending import pending_reanalysis_record
from analysis.services import analysis_run_create, input_fingerprint, load_cohort
from analysis.tasks import QUEUE_FAILURE, enqueue_run, queue_stamp

log = logging.getLogger(__name__)

# Pseudo-columns: which patients the table holds (every plan reads study_id), and every
# expression column (mir122_pre_dcq, ..., whatever assays exist).
ROWS = "<rows>"
EXPRESSION = "<expression>"
PATIENT_COLUMNS = {"study_id", "sex", "age_years", "liver_background", "etiology", "hbv"}
PATIENT_COLUMNS |= {"type2_diabetes", "tace_date"}
CLINICAL_COLUMNS = frozenset(set(BASELINE_COLUMNS) - PATIENT_COLUMNS)


@dataclass(frozen=True)
class Watch:
    """A model whose rows feed the cohort table: the columns it feeds, and, when only
    some of its fields do, those fields (a save naming only other fields is ignored)."""

    model: str
    columns: frozenset[str]
    fields: frozenset[str] | None = None


def _watch(model: str, columns, fields=None) -> Watch:
    return Watch(model, frozenset(columns), frozenset(fields) if fields is not None else None)


WATCHES = (
    _watch("biobank.FollowUp", SURVIVAL_COLUMNS),
    _watch("biobank.Patient", {ROWS}),  # consent, withdrawal and the baseline fields
    _watch("biobank.Treatment", {ROWS}),  # the initial TACE: membership, tace_date, DSS time
    _watch("biobank.ClinicalAssessment", CLINICAL_COLUMNS | {"baseline_present"}),
    _watch(
        "biobank.Well",
        {EXPRESSION},
        {"plate", "row", "column", "kind", "sample", "assay", "replicate", "cq", "excluded"}
        | {"exclusion_reason"},
    ),
    _watch("biobank.Assay", {EXPRESSION}, {"target", "role"}),
    _watch(
        "biobank.SerumDraw",
        {EXPRESSION, "pre_drawn", "post_drawn"},
        {"patient", "treatment", "timepoint"}  # which patient and timepoint
        | {"haemolysis", "a414", "drawn_at", "centrifuged_at", "frozen_at"},  # its QC flags
    ),
    _watch("biobank.Aliquot", {EXPRESSION}, {"draw", "freeze_thaw_count"}),
    _watch("biobank.ExosomeIsolation", {EXPRESSION}, {"aliquot", "batch"}),
    # The batch's code groups the spike-in QC's peers, the plate's barcode names the
    # plate the NTC rule reads (the cohort's SQL reads both: tests/test_cohort_version.py).
    _watch("biobank.ExosomeIsolationBatch", {EXPRESSION}, {"code"}),
    _watch("biobank.QpcrPlate", {EXPRESSION}, {"barcode"}),
    _watch("biobank.RnaIsolation", {EXPRESSION}, {"isolation"}),
    _watch("biobank.ReverseTranscription", {EXPRESSION}, {"rna"}),
    # Which aliquots went through the excursion (its links: m2m_changed below); a save
    # naming only the note or who recorded it changes no flag.
    _watch(
        "biobank.TemperatureExcursion",
        {EXPRESSION},
        {"freezer", "started_at", "ended_at", "peak_temperature_c"},
    ),
)
# m2m tables whose link changes feed the QC: model label -> field name. The excursion's
# links are ExcursionExposure rows (with the minutes and peak the QC reads); the storage
# services write them in bulk and schedule the run themselves, the m2m manager's
# add/remove/clear arrive here.
M2M_WATCHES = {"biobank.TemperatureExcursion": "affected_aliquots"}
_BY_MODEL: dict[type, Watch] = {}


def enabled() -> bool:
    return bool(settings.EXOTRACK.get("REANALYSIS_ENABLED", True))


def is_expression_column(column: str) -> bool:
    return any(column.endswith("_" + suffix) for suffix in EXPRESSION_SUFFIXES)


def plan_reads(spec, columns) -> bool:
    """Whether a plan with this spec reads any of `columns` (pseudo-columns included)."""
    # analysis.plans imports pandas: loaded on the first write that has plans to check,
    # not when the process starts (issue 16).
    from analysis.plans import columns_used

    columns = set(columns)
    if ROWS in columns:
        return True
    try:
        used = set(columns_used(spec))
    except (AttributeError, KeyError, TypeError):  # a malformed plan: let its run say why
        return True
    if EXPRESSION in columns and any(is_expression_column(c) for c in used):
        return True
    return bool(used & columns)


def affected_plans(columns) -> list[AnalysisPlan]:
    return [p for p in AnalysisPlan.objects.filter(is_active=True) if plan_reads(p.spec, columns)]


# --- gathering a transaction's changes ------------------------------------------------

_ATTRIBUTE = "_exotrack_reanalysis"


class _Changes:
    """What one transaction changed; flushed once, after it commits."""

    def __init__(self, connection):
        self.connection = connection
        self.columns: set[str] = set()
        self.reasons: Counter[str] = Counter()

    def add(self, reason: str, columns) -> None:
        self.columns |= set(columns)
        self.reasons[reason] += 1

    def registered(self) -> bool:
        """Still waiting for its commit (a rolled-back savepoint drops the callback)."""
        return self.connection.in_atomic_block and any(
            entry[1] == self.flush for entry in self.connection.run_on_commit
        )

    def flush(self) -> None:
        if getattr(self.connection, _ATTRIBUTE, None) is self:
            delattr(self.connection, _ATTRIBUTE)
        dispatch(affected_plans(self.columns), self.reasons)


def schedule_reanalysis(
    *, reason: str, columns=None, model: type | None = None, using: str | None = None
) -> None:
    """Re-run, after this transaction commits, every active plan that reads what changed:
    `columns` (cohort columns or ROWS / EXPRESSION), or what `model` feeds, or, given
    neither, everything. Many calls in one transaction make one run per plan."""
    if not enabled():
        return
    if columns is None:
        watch = _BY_MODEL.get(model) if model is not None else None
        columns = watch.columns if watch is not None else {ROWS}
    connection = transaction.get_connection(using)
    changes = getattr(connection, _ATTRIBUTE, None)
    if changes is not None and changes.registered():
        changes.add(reason, columns)
        return
    changes = _Changes(connection)
    changes.add(reason, columns)
    setattr(connection, _ATTRIBUTE, changes)
    # Immediately when not in a transaction; after the outermost commit otherwise.
    transaction.on_commit(changes.flush, using=using, robust=True)


def dispatch(plans, reasons: Counter) -> None:
    """Hand the committed changes to the tasks: debounced through Redis with a broker,
    one in-process run per plan without."""
    if not plans:
        return
    labels = [reason for reason, _ in reasons.most_common(20)]
    if tasks.broker_mode():
        _dispatch_to_broker(plans, reasons, labels)
        return
    if tasks.background_mode():
        runner = tasks.background_runner()
        for plan in plans:
            try:
                runner.reanalyse(
                    plan_id=plan.pk,
                    reasons=dict(reasons),
                    create=lambda plan=plan: _new_run(plan, dict(reasons)).pk,
                )
            except Exception:  # noqa: BLE001 - the edit is committed; a later edit catches up
                log.exception("could not queue the re-analysis of plan %s", plan)
        return
    for plan in plans:
        enqueue_run(_new_run(plan, dict(reasons)).pk)


def _dispatch_to_broker(plans, reasons: Counter, labels: list[str]) -> None:
    client = tasks.redis_client()
    if client is not None:
        try:  # first the durable record: Redis may be the part that is gone
            pending_reanalysis_record(plan_ids=[plan.pk for plan in plans], reasons=labels)
        except Exception:  # noqa: BLE001 - the edit is committed; Redis may still schedule it
            log.exception("could not record the pending re-analysis of %s", plans)
        if tasks.redis_down():
            log.warning(
                "Redis failed moments ago: plans %s left to the pending record",
                [plan.pk for plan in plans],
            )
            return
    quiet = float(settings.EXOTRACK.get("REANALYSIS_QUIET_SECONDS", 5))
    for plan in plans:
        try:
            if client is None:  # a non-Redis broker: no debounce, one run per commit
                enqueue_run(_new_run(plan, dict(reasons)).pk)
                continue
            state = tasks.Debounce(client, plan.pk)
            token = state.touch(quiet=quiet, reasons=labels)
            if token is None:
                continue  # a task is already waiting; it will see these edits
            try:
                tasks.reanalyse_plan.apply_async(
                    kwargs={"plan_id": plan.pk, "token": token}, countdown=quiet
                )
            except Exception:
                _release(state, token)  # so that the next edit tries again
                raise
        except tasks.REDIS_FAULTS as error:  # Redis gone or hung: one wait, not one per plan
            tasks.note_redis_failure(error)
            log.warning(
                "could not schedule the re-analysis of plans %s (left to the pending record): %s",
                [p.pk for p in plans],
                error,
            )
            return
        except Exception:  # noqa: BLE001 - the edit is committed; the record catches up
            log.exception("could not schedule the re-analysis of plan %s", plan)


def _release(state, token: str) -> None:
    try:
        state.release(token)
    except Exception:  # noqa: BLE001 - Redis is what failed; the slot lapses by itself
        log.warning("could not free the debounce slot of plan %s", state.plan_id)


def _new_run(plan: AnalysisPlan, reasons: dict) -> AnalysisRun:
    run = analysis_run_create(plan=plan, trigger=AnalysisRun.Trigger.DATA_CHANGE)
    run.parameters = {"via": "task", "reasons": reasons, **queue_stamp()}
    run.save(update_fields=["parameters"])
    return run


# --- signals ---------------------------------------------------------------------------


def _field_names(update_fields) -> set[str]:
    return {name[:-3] if name.endswith("_id") else name for name in update_fields}


def _saved(sender, instance, created=False, raw=False, update_fields=None, using=None, **kw):
    watch = _BY_MODEL.get(sender)
    if watch is None or raw:
        return
    fields = watch.fields
    if (
        update_fields is not None
        and fields is not None
        and not fields & _field_names(update_fields)
    ):
        return  # e.g. an aliquot moved: nothing an analysis reads
    verb = "added" if created else "changed"
    schedule_reanalysis(
        reason=f"{sender._meta.verbose_name} {verb}", columns=watch.columns, using=using
    )


def _deleted(sender, instance, using=None, **kw):
    watch = _BY_MODEL.get(sender)
    if watch is not None:
        schedule_reanalysis(
            reason=f"{sender._meta.verbose_name} deleted", columns=watch.columns, using=using
        )


_M2M_ACTIONS = {"post_add": "linked", "post_remove": "unlinked", "post_clear": "unlinked"}


def _links_changed(sender, instance, action, reverse, model, pk_set=None, using=None, **kw):
    """An excursion's aliquots added or removed (from either side of the m2m); an add or
    remove of nothing (`.set()` with the same aliquots) changes no flag."""
    verb = _M2M_ACTIONS.get(action)
    if verb is None or (action != "post_clear" and not pk_set):
        return
    owner = model if reverse else type(instance)
    watch = _BY_MODEL.get(owner)
    if watch is None:
        return
    schedule_reanalysis(
        reason=f"{owner._meta.verbose_name} aliquots {verb}", columns=watch.columns, using=using
    )


def connect() -> None:
    """Connect the receivers (AnalysisConfig.ready)."""
    for watch in WATCHES:
        model = apps.get_model(watch.model)
        _BY_MODEL[model] = watch
        post_save.connect(_saved, sender=model, dispatch_uid=f"reanalysis:save:{watch.model}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"reanalysis:delete:{watch.model}")
    for label, field in M2M_WATCHES.items():
        through = getattr(apps.get_model(label), field).through
        m2m_changed.connect(
            _links_changed, sender=through, dispatch_uid=f"reanalysis:m2m:{label}.{field}"
        )


# --- the report: did the data change after this run? -----------------------------------


def history_models() -> list[type]:
    return [model.history.model for model in _BY_MODEL if hasattr(model, "history")]


def data_changed(run: AnalysisRun) -> str | None:
    """None when the data the run read are still today's; else what the next run is
    doing, for the report's banner ("The data changed after this run; a new run is …").

    Cheap first: any change recorded in the watched models' history since shortly
    before the run began? Only then the exact test: the fingerprint of the rows and
    columns the run read, on today's data, read through the cohort cache (a lookup
    on its snapshot while the data are unchanged: biobank.selectors.cohort_cache)."""
    if run.dataset_id is not None or run.started_at is None or not run.fingerprint:
        return None
    if run.status not in (AnalysisRun.Status.SUCCEEDED, AnalysisRun.Status.UNCHANGED):
        return None
    since = run.started_at - timedelta(seconds=60)
    if not any(model.objects.filter(history_date__gt=since).exists() for model in history_models()):
        return None
    try:
        if input_fingerprint(load_cohort(), run.spec) == run.fingerprint:
            return None
    except Exception:  # noqa: BLE001 - a report must show even if the check cannot run
        log.exception("could not compare run #%s with today's data", run.pk)
        return None
    return next_run_status(run)


def next_run_status(run: AnalysisRun) -> str:
    newer = AnalysisRun.objects.filter(
        plan_id=run.plan_id, dataset__isnull=True, created_at__gt=run.created_at
    ).order_by("-created_at", "-id")
    busy = newer.filter(status__in=[AnalysisRun.Status.QUEUED, AnalysisRun.Status.RUNNING]).first()
    if busy is not None:
        return f"{busy.get_status_display().lower()} (run #{busy.pk})"
    done = newer.first()
    if done is not None and done.status == AnalysisRun.Status.FAILED:
        # A failed run is no result to read: say so, and what brings a good one.
        if done.error.startswith(QUEUE_FAILURE):
            what = f"not available: run #{done.pk} could not be queued"
        else:
            what = f"not available: run #{done.pk} failed"
        return f"{what}; re-run the plan by hand, or wait for the nightly run"
    if done is not None:
        return f"available: run #{done.pk} ({done.get_status_display().lower()})"
    if not run.plan.is_active:
        return "not scheduled (the plan is inactive): re-run it by hand"
    client = tasks.redis_client() if tasks.broker_mode() and not tasks.redis_down() else None
    if client is not None:
        try:
            if tasks.Debounce(client, run.plan_id).is_pending():
                return "scheduled: it starts a few seconds after the last edit"
        except Exception:  # noqa: BLE001 - Redis unreachable: say what we know
            log.warning("could not read the debounce state of plan %s", run.plan_id)
    return "not scheduled yet: re-run the plan by hand, or wait for the nightly run"
