"""Thin Celery tasks: load, call the pure analysis functions (through the services),
store the run.

- `run_analysis(run_id)` computes a queued run: a curator's re-run, the nightly run,
  and, with no broker, a data change.
- `reanalyse_plan(plan_id, token)` is the debounced data-change run (broker mode):
  it wakes a quiet time after the first edit, sleeps again while edits keep coming,
  then creates and computes one run with the newest data.
- `nightly_reanalysis()` queues a run of every active plan (beat, 02:30 by default).
- `sweep_stale_runs()` fails runs left queued or running by a lost worker, and
  enqueues the plans whose data changed with no task to run them (beat, 5 minutes).

Redis outages (issue 17). "This plan's data changed" is recorded in the database at
commit (analysis.pending) as well as in Redis: the run consumes the record it read,
and `enqueue_pending` enqueues every plan whose record is left (the sweep, and every
worker connection: its first and each reconnect after an outage, through the consumer
bootstep in biobank/celery.py). So the edits made while Redis was down, or whose task
Redis lost, get their run once Redis is back. Every Redis client here waits at most
EXOTRACK_REDIS_TIMEOUT_SECONDS for a reply, and after a timeout this process leaves
Redis alone for REDIS_BACKOFF_SECONDS (`redis_down()`), so a hung Redis costs an edit
one bounded wait, not one per plan and per request (an edit in that window is only
recorded: the next edit after it, the sweep or a worker's reconnection enqueues it).

A whole-worker SIGKILL: the task's message (acks late) is back in the queue once it
has been unacknowledged for the visibility timeout (30 s), and the dead worker's plan
lock lapses REANALYSIS_LOCK_SECONDS (20 s) after its last renewal, so the redelivered
task fails the orphan run and starts the replacement within about 35 s. Chosen over
the sweep noticing the missing lock because the redelivery needs no beat (a worker
restarted alone recovers) and keeps the task's own arguments (its debounce token, or
the run to replace); the sweep remains the net for runs whose message Redis lost.

One run of a plan at a time: a Redis lock per plan (and dataset), renewed by a
heartbeat thread while the run lasts, so a SIGKILLed worker's lock lapses after
REANALYSIS_LOCK_SECONDS. A task that finds the lock taken comes back a second later;
a run still marked running under a lock nobody holds belongs to a dead worker and
is failed ("Worker lost"), and the task whose worker died (acks late: redelivered
to the next worker) makes a fresh run in its place. The fingerprint check of
`analysis_run_execute`, under the lock, keeps two successful runs of the same data
from ever existing.

With no broker (the embedded default) the same tasks run in-process: the lock is a
thread lock of this process, and the runs are computed by the `BackgroundRunner`, one
daemon thread of the process, so that a save never waits for a re-analysis. Its queue
holds at most one pending data-change run per plan (later commits add their reasons
to it; the run reads the data when it starts, so it sees them all). A commit during a
run queues exactly one more. A process that dies leaves its runs queued or running:
the runner of the next process fails them when it starts ("Worker lost", runs are
stamped with their process) and computes one fresh run per plan in their place.
`wait_for_background_runs(timeout)` waits for the queue to drain (tests, commands).
With REANALYSIS_IN_BACKGROUND off the runs are computed eagerly, in the committing
thread, before the response (the test suite's default, for determinism).
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter, OrderedDict
from contextlib import contextmanager
from datetime import timedelta

import redis
from celery import shared_task
from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.backoff import NoBackoff
from redis.retry import Retry

from analysis.models import AnalysisPlan, AnalysisRun
from analysis.pending import (
    pending_plan_ids,
    pending_reanalysis_consume,
    pending_reanalysis_discard,
    pending_reanalysis_snapshot,
)
from analysis.services import analysis_run_create, analysis_run_execute
from biobank.celery import app as celery_app

log = logging.getLogger(__name__)

Status = AnalysisRun.Status
Trigger = AnalysisRun.Trigger

# Faults that pass: the database or Redis gone for a moment. Retried with backoff.
TRANSIENT = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    BrokerError,
)
# Redis (as the lock and debounce store, or as the broker) gone or hung.
REDIS_FAULTS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, BrokerError)
TRANSIENT_NAMES = ("OperationalError", "InterfaceError", "ConnectionError", "TimeoutError")
MAX_ATTEMPTS = 5
LOCK_POLL_SECONDS = 1.0
WORKER_LOST = "Worker lost"
STATE_TTL_SECONDS = 7 * 24 * 3600
REDIS_BACKOFF_SECONDS = 5.0


class TransientRunFailure(Exception):
    """The run failed on a transient fault (stored on the run); worth another try."""


def option(name: str, default=None):
    return settings.EXOTRACK.get(name, default)


def broker_mode() -> bool:
    """True when tasks go to a worker through a broker; False when they run in-process."""
    return not celery_app.conf.task_always_eager


def background_mode() -> bool:
    """No broker, and runs computed by this process's background thread (the default),
    not in the committing thread before the response."""
    return not broker_mode() and bool(option("REANALYSIS_IN_BACKGROUND", True))


# --- Redis: the lock and the debounce state -----------------------------------------

_clients: dict[tuple[int, str], redis.Redis] = {}
_redis_down_until = 0.0


def redis_url() -> str:
    url = option("REANALYSIS_REDIS_URL") or ""
    if not url and broker_mode():
        url = celery_app.conf.broker_url or ""
    return url if url.startswith(("redis://", "rediss://", "unix://")) else ""


def redis_client() -> redis.Redis | None:
    """This process's client (one per process: a forked pool child makes its own)."""
    url = redis_url()
    if not url:
        return None
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        timeout = float(getattr(settings, "REDIS_TIMEOUT_SECONDS", 2))
        client = _clients[key] = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            # One retry on a dropped connection (a restarted Redis: the pooled socket is
            # dead, a new one works), none on a timeout: redis-py's default of ten
            # retries would make a hung Redis cost eleven timeouts.
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        )
    return client


def redis_down() -> bool:
    """Whether Redis timed out in this process less than REDIS_BACKOFF_SECONDS ago: the
    web then leaves the scheduling to the durable record instead of waiting again."""
    return time.monotonic() < _redis_down_until


def note_redis_failure(error: Exception) -> None:
    """Redis failed. A timeout (a hung Redis: every call would wait as long) stops this
    process asking for REDIS_BACKOFF_SECONDS; a refused connection costs nothing, so
    the next edit tries again (and finds Redis back as soon as it is)."""
    global _redis_down_until
    timed_out = isinstance(error, redis.exceptions.TimeoutError) or "timeout" in str(error).lower()
    if timed_out:
        _redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
    log.warning(
        "Redis did not answer (%s)%s",
        error,
        f"; not asking it again for {REDIS_BACKOFF_SECONDS:.0f} s" if timed_out else "",
    )


def state_key(plan_id: int, dataset_id: int | None, name: str) -> str:
    """Keys are namespaced by queue and database, so two deployments (or two test
    sessions) sharing a Redis never see each other's plans."""
    database = connection.settings_dict["NAME"]
    queue = celery_app.conf.task_default_queue
    return f"exotrack:{queue}:{database}:plan:{plan_id}:{dataset_id or 'live'}:{name}"


class RedisPlanLock:
    """A redis-py lock with a heartbeat: renewed every third of its timeout while the
    run lasts; when the holder dies the lock lapses after at most `ttl` seconds."""

    kind = "redis"

    def __init__(self, client: redis.Redis, key: str, ttl: float):
        self.key, self.ttl = key, ttl
        self._lock = client.lock(key, timeout=ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self._lock.acquire(blocking=False):
            return False
        self._thread = threading.Thread(target=self._renew, name=f"renew {self.key}", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.extend(self.ttl, replace_ttl=True)
            except redis.exceptions.LockError:
                log.error("lost the lock %s while running", self.key)
                return
            except redis.exceptions.RedisError as error:
                log.warning("could not renew the lock %s: %s", self.key, error)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._lock.release()
        except redis.exceptions.LockError:
            log.warning("the lock %s had lapsed before the run ended", self.key)


_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


class LocalPlanLock:
    """No broker: runs happen in this process, so a thread lock is the whole story."""

    kind = "local"

    def __init__(self, key: str, ttl: float):
        with _local_guard:
            self._lock = _local_locks.setdefault(key, threading.Lock())
        self.ttl = ttl

    def acquire(self) -> bool:
        return self._lock.acquire(timeout=max(600.0, self.ttl * 10))

    def release(self) -> None:
        self._lock.release()


@contextmanager
def plan_lock(plan_id: int, dataset_id: int | None):
    """Yield the held lock, or None when another run of the plan holds it."""
    ttl = float(option("REANALYSIS_LOCK_SECONDS", 60))
    key = state_key(plan_id, dataset_id, "lock")
    client = redis_client() if broker_mode() else None
    lock = RedisPlanLock(client, key, ttl) if client is not None else LocalPlanLock(key, ttl)
    acquired = lock.acquire()
    try:
        yield lock if acquired else None
    finally:
        if acquired:
            lock.release()


def lock_is_held(plan_id: int, dataset_id: int | None) -> bool | None:
    """Whether a worker holds the plan's lock now (None: no Redis to ask)."""
    client = redis_client()
    if client is None:
        return None
    return bool(client.exists(state_key(plan_id, dataset_id, "lock")))


# KEYS: due, edited, pending, reasons. ARGV: quiet, token, pending ttl, state ttl, reason...
# Record an edit: due = now + quiet (never earlier than before), edited = now, count the
# reasons; return 1 when this edit must enqueue the task (no task pending yet).
_TOUCH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = now + tonumber(ARGV[1])
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if due > old then redis.call('SET', KEYS[1], string.format('%.6f', due), 'EX', ARGV[4]) end
redis.call('SET', KEYS[2], string.format('%.6f', now), 'EX', ARGV[4])
for i = 5, #ARGV do redis.call('HINCRBY', KEYS[4], ARGV[i], 1) end
redis.call('EXPIRE', KEYS[4], ARGV[4])
if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'EX', ARGV[3]) then return 1 end
return 0
"""

# KEYS: pending, due. ARGV: token, pending ttl, state ttl, delay.
# No edit, just make sure a task is coming (the sweep, a worker's reconnection): take
# the pending slot if it is free and make the task due `delay` seconds from now at the
# earliest; return 1 when the caller must enqueue it. `edited` is left alone, so a run
# under way does not take this for an edit made during it.
_ENSURE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
local t = redis.call('TIME')
local due = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[4])
local old = tonumber(redis.call('GET', KEYS[2]) or '0')
if due > old then redis.call('SET', KEYS[2], string.format('%.6f', due), 'EX', ARGV[3]) end
return 1
"""

# KEYS: edited, pending, due. ARGV: started, token.
# After a run: when an edit came after the run began reading, keep the task pending
# and return when to run again; otherwise end the pending task (if it is ours).
_FINISH = """
local edited = tonumber(redis.call('GET', KEYS[1]) or '0')
if edited > tonumber(ARGV[1]) then
  return redis.call('GET', KEYS[3]) or '0'
end
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return false
"""

# KEYS: pending. ARGV: token. Compare and delete.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Debounce:
    """The debounce state of one plan in Redis: `due` (when the quiet time after the
    last edit ends), `edited` (the last edit), `pending` (the token of the one task
    waiting to run the plan) and `reasons` (what changed, counted)."""

    def __init__(self, client: redis.Redis, plan_id: int):
        self.client = client
        self.plan_id = plan_id
        self.due, self.edited, self.pending, self.reasons = (
            state_key(plan_id, None, name) for name in ("due", "edited", "pending", "reasons")
        )

    def now(self) -> float:
        seconds, micros = self.client.time()
        return seconds + micros / 1_000_000

    @staticmethod
    def pending_ttl() -> int:
        """Longer than a redelivery can take, so a killed worker's task still matches
        (every wake renews it); short enough that a slot whose message Redis lost
        frees itself soon, and the sweep then enqueues the plan again."""
        options = celery_app.conf.broker_transport_options or {}
        return 2 * int(options.get("visibility_timeout", 3600)) + 60

    def touch(self, *, quiet: float, reasons: list[str]) -> str | None:
        """Record an edit; return a new token when the caller must enqueue the task."""
        token = uuid.uuid4().hex
        started = self.client.register_script(_TOUCH)(
            keys=[self.due, self.edited, self.pending, self.reasons],
            args=[quiet, token, self.pending_ttl(), STATE_TTL_SECONDS, *reasons],
        )
        return token if started else None

    def ensure(self, *, delay: float) -> str | None:
        """Make sure a task will run the plan; a new token when the caller must enqueue
        it (None: one is pending already)."""
        token = uuid.uuid4().hex
        started = self.client.register_script(_ENSURE)(
            keys=[self.pending, self.due],
            args=[token, self.pending_ttl(), STATE_TTL_SECONDS, delay],
        )
        return token if started else None

    def wake(self, token: str) -> float | None:
        """None: this task is superseded (a duplicate of one that finished); else the
        seconds still to wait for the quiet time (0: run now)."""
        pending, due = self.client.mget(self.pending, self.due)
        if pending is None or pending.decode() != token:
            return None
        self.client.expire(self.pending, self.pending_ttl())
        return max(0.0, float(due or 0) - self.now())

    def take_reasons(self) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.reasons)
        pipe.delete(self.reasons)
        counts, _ = pipe.execute()
        return {key.decode(): int(value) for key, value in sorted(counts.items())}

    def finish(self, token: str, started: float) -> float | None:
        """None: done. Else edits came during the run: seconds until the next one."""
        due = self.client.register_script(_FINISH)(
            keys=[self.edited, self.pending, self.due], args=[f"{started:.6f}", token]
        )
        if due is None:
            return None
        return max(0.0, float(due) - self.now())

    def release(self, token: str) -> None:
        self.client.register_script(_RELEASE)(keys=[self.pending], args=[token])

    def is_pending(self) -> bool:
        return bool(self.client.exists(self.pending))


# --- runs ----------------------------------------------------------------------------


def _transient_error(error: str) -> bool:
    first = error.splitlines()[0] if error else ""
    return any(name in first for name in TRANSIENT_NAMES)


def _fail(run_id: int, error: str, **parameters) -> None:
    run = AnalysisRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    AnalysisRun.objects.filter(pk=run_id).update(
        status=Status.FAILED,
        finished_at=timezone.now(),
        error=error,
        parameters={**(run.parameters or {}), **parameters},
    )


def fail_orphans(plan_id: int, dataset_id: int | None) -> list[int]:
    """Under the plan's Redis lock: a run still marked running under that lock can only
    belong to a worker that died. Fail it, visibly."""
    orphans = list(
        AnalysisRun.objects.filter(
            plan_id=plan_id, dataset_id=dataset_id, status=Status.RUNNING, parameters__lock="redis"
        ).values_list("pk", flat=True)
    )
    for pk in orphans:
        log.warning("run #%s was left running by a lost worker; failing it", pk)
        _fail(
            pk,
            f"{WORKER_LOST}: the worker computing this run stopped (killed or crashed) "
            "before it finished. The task was queued again and a new run made in its place.",
            lost=True,
        )
    return orphans


def _execute(run: AnalysisRun, lock, *, task_id: str | None, attempt: int) -> AnalysisRun:
    stamp = {} if broker_mode() else {"process": process_token()}  # see BackgroundRunner
    run.parameters = {
        **(run.parameters or {}),
        **stamp,
        "lock": lock.kind,
        "task_id": task_id,
        "attempt": attempt + 1,
    }
    run.save(update_fields=["parameters"])
    try:
        run = analysis_run_execute(run=run)
    except TRANSIENT as error:  # the database went away while storing the outcome
        try:
            connection.close_if_unusable_or_obsolete()
            _fail(run.pk, f"{type(error).__name__}: {error} (retried)", retry=True)
        except Exception:  # noqa: BLE001 - best effort; the sweep catches what is left
            log.warning("could not store the failure of run #%s", run.pk)
        raise
    if run.status == Status.FAILED and _transient_error(run.error):
        _fail(run.pk, run.error, retry=True)
        raise TransientRunFailure(run.error.splitlines()[0])
    return run


def current_run(run_id: int) -> AnalysisRun | None:
    """The run, or the one that replaced it (after a lost worker or a transient fault)."""
    run = AnalysisRun.objects.select_related("plan", "dataset", "requested_by").filter(pk=run_id)
    run = run.first()
    for _ in range(50):
        if run is None or not run.parameters.get("replaced_by"):
            break
        run = (
            AnalysisRun.objects.select_related("plan", "dataset", "requested_by")
            .filter(pk=run.parameters["replaced_by"])
            .first()
        )
    return run


# --- queueing a run (a curator's, the nightly job's, a data change's) ----------------
# Here rather than in analysis.triggers, so that the dependency is one-way: triggers
# decides which plans to run and hands them to this module, which never imports it.

# The error of a run whose task the broker refused (the report says it never ran).
QUEUE_FAILURE = "Could not be queued"


def queue_stamp() -> dict:
    """No broker: the process that will compute the run (see BackgroundRunner)."""
    return {} if broker_mode() else {"process": process_token()}


def enqueue_run(run_id: int) -> None:
    """Hand a queued run to whoever computes it: the background runner, this thread
    (eager), or a worker through the broker (a refusal fails the run, saying so)."""
    if background_mode():
        background_runner().submit(run_id)  # computed after the response
        return
    if not broker_mode():
        run_analysis.apply_async(kwargs={"run_id": run_id})  # runs here, now
        return
    try:
        run_analysis.apply_async(kwargs={"run_id": run_id})
    except Exception as error:
        AnalysisRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
            status=Status.FAILED, error=f"{QUEUE_FAILURE}: {error}"
        )
        raise


def request_run(*, plan: AnalysisPlan, trigger: str, user=None, dataset=None) -> AnalysisRun:
    """A run by hand or by the nightly job: queued now, computed by the task after this
    transaction commits (by a worker, or in-process with no broker: in the background
    runner, or in this thread with REANALYSIS_IN_BACKGROUND off)."""
    run = analysis_run_create(plan=plan, trigger=trigger, user=user, dataset=dataset)
    run.parameters = {"via": "task", **queue_stamp()}
    run.save(update_fields=["parameters"])
    transaction.on_commit(lambda: enqueue_run(run.pk), robust=True)
    return run


def _claim(run_id: int) -> AnalysisRun | None:
    """The run this delivery must compute: the queued run itself, a replacement for one
    that failed on a transient fault or a lost worker, or None when it is done (a
    duplicate delivery)."""
    run = current_run(run_id)
    if run is None:
        return None
    if run.status == Status.QUEUED:
        return run
    if run.status == Status.FAILED and (run.parameters.get("retry") or run.parameters.get("lost")):
        successor = analysis_run_create(
            plan=run.plan, trigger=run.trigger, user=run.requested_by, dataset=run.dataset
        )
        kept = {k: v for k, v in run.parameters.items() if k in ("via", "reasons")}
        successor.parameters = {**kept, "replaces": run.pk}
        successor.save(update_fields=["parameters"])
        AnalysisRun.objects.filter(pk=run.pk).update(
            parameters={**run.parameters, "replaced_by": successor.pk}
        )
        return successor
    return None


def _again(task, *, countdown: float, kwargs: dict, error: Exception | None = None):
    """Come back later: the same task (same id) as a new message after `countdown`
    seconds; run in-process (eagerly) it is simply called again, now."""
    if task.request.is_eager:
        return task.apply(kwargs=kwargs, retries=(task.request.retries or 0) + 1).get()
    raise task.retry(exc=error, countdown=countdown, kwargs=kwargs)


def _retry_later(task, error: Exception, kwargs: dict, attempt: int, *, on_give_up=None):
    """Back off and try again after a transient fault, MAX_ATTEMPTS times in all."""
    if attempt + 1 >= MAX_ATTEMPTS:
        log.error("giving up after %s attempts: %s", attempt + 1, error)
        if on_give_up is not None:
            try:
                on_give_up()
            except Exception:  # noqa: BLE001 - Redis may be what is gone
                log.warning("could not release the debounce state")
        raise error
    countdown = min(60, 2**attempt) + random.random()
    log.warning("transient fault, retrying in %.1f s: %s", countdown, error)
    return _again(task, countdown=countdown, kwargs={**kwargs, "attempt": attempt + 1}, error=error)


@shared_task(bind=True, name="analysis.run_analysis", max_retries=None, ignore_result=True)
def run_analysis(self, run_id: int, attempt: int = 0) -> int | None:
    """Compute a queued run under its plan's lock. Returns the id of the run computed."""
    kwargs = {"run_id": run_id, "attempt": attempt}
    try:
        run = AnalysisRun.objects.filter(pk=run_id).only("plan_id", "dataset_id").first()
        if run is None:
            log.warning("run #%s no longer exists", run_id)
            return None
        with plan_lock(run.plan_id, run.dataset_id) as lock:
            if lock is not None:
                if lock.kind == "redis":
                    fail_orphans(run.plan_id, run.dataset_id)
                claimed = _claim(run_id)
                if claimed is None:
                    return None  # done already: a duplicate delivery
                return _execute(claimed, lock, task_id=self.request.id, attempt=attempt).pk
        # Another run of the plan is under way: come back after it.
        return _again(self, countdown=LOCK_POLL_SECONDS, kwargs=kwargs)
    except (TransientRunFailure, *TRANSIENT) as error:
        return _retry_later(self, error, kwargs, attempt)


@shared_task(bind=True, name="analysis.reanalyse_plan", max_retries=None, ignore_result=True)
def reanalyse_plan(self, plan_id: int, token: str, attempt: int = 0) -> int | None:
    """The debounced data-change run of a plan (broker mode; see analysis.triggers)."""
    kwargs = {"plan_id": plan_id, "token": token, "attempt": attempt}
    client = redis_client()
    if client is None:
        log.error("reanalyse_plan needs Redis (REANALYSIS_REDIS_URL or a redis broker)")
        return None
    state = Debounce(client, plan_id)
    try:
        wait = state.wake(token)
        if wait is None:
            return None  # superseded: a duplicate delivery of a task that finished
        if wait > 0:  # edits kept coming: sleep until the quiet time after the last one
            return _again(self, countdown=wait, kwargs=kwargs)
        plan = AnalysisPlan.objects.filter(pk=plan_id, is_active=True).first()
        if plan is None:
            pending_reanalysis_discard(plan_id=plan_id)
            state.release(token)
            return None
        later, done = LOCK_POLL_SECONDS, None
        with plan_lock(plan_id, None) as lock:
            if lock is not None:
                wait = state.wake(token)  # edits may have come while the lock was taken
                if wait is None:
                    return None
                later = wait or None
                if later is None:
                    fail_orphans(plan_id, None)
                    started = state.now()
                    # Before the run reads the data: what it will have consumed.
                    record = pending_reanalysis_snapshot(plan_id=plan_id)
                    run = analysis_run_create(plan=plan, trigger=Trigger.DATA_CHANGE)
                    reasons = state.take_reasons()
                    if record is not None:  # the durable count also has the outage's edits
                        reasons = dict(record.reasons)
                    run.parameters = {"via": "task", "reasons": reasons, "debounce": token}
                    run.save(update_fields=["parameters"])
                    done = _execute(run, lock, task_id=self.request.id, attempt=attempt)
                    if record is not None:
                        pending_reanalysis_consume(snapshot=record)
                    # Edited while it ran: exactly one more run, after this one.
                    later = state.finish(token, started)
                    kwargs["attempt"] = 0
        if later is not None:
            return _again(self, countdown=later, kwargs=kwargs)
        return done.pk
    except (TransientRunFailure, *TRANSIENT) as error:
        return _retry_later(self, error, kwargs, attempt, on_give_up=lambda: state.release(token))


@shared_task(name="analysis.nightly_reanalysis", ignore_result=True)
def nightly_reanalysis() -> list[int]:
    """Queue a run of every active plan on the live data (the beat job, 02:30)."""
    return [
        request_run(plan=plan, trigger=Trigger.NIGHTLY).pk
        for plan in AnalysisPlan.objects.filter(is_active=True)
    ]


def enqueue_pending(*, older_than: float = 0.0, delay: float = 0.0) -> list[int]:
    """Enqueue `reanalyse_plan` for every active plan with a durable "data changed"
    record at least `older_than` seconds old and no task pending in Redis (its debounce
    slot free), due `delay` seconds from now. Returns the plans enqueued."""
    client = redis_client() if broker_mode() else None
    if client is None:
        return []
    enqueued = []
    for plan_id in pending_plan_ids(older_than=timedelta(seconds=older_than)):
        state = Debounce(client, plan_id)
        token = state.ensure(delay=delay)
        if token is None:
            continue  # a task is coming; it will consume the record
        try:
            reanalyse_plan.apply_async(kwargs={"plan_id": plan_id, "token": token}, countdown=delay)
        except Exception:
            state.release(token)
            raise
        enqueued.append(plan_id)
    if enqueued:
        log.warning("enqueued the pending re-analysis of plans %s", enqueued)
    return enqueued


def enqueue_pending_on_connect() -> list[int]:
    """A worker connected to the broker (its start, or a reconnection after an outage):
    the plans changed while the broker was away get their task, a quiet time from now
    (an edit may be under way). Never raises: it runs beside the consumer."""
    try:
        close_old_connections()
        return enqueue_pending(delay=float(option("REANALYSIS_QUIET_SECONDS", 5)))
    except Exception:  # noqa: BLE001 - the sweep tries again
        log.exception("could not enqueue the pending re-analyses")
        return []
    finally:
        connection.close()  # this thread ends; so does its connection


@shared_task(name="analysis.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs() -> list[int]:
    """Fail runs that no live worker will finish: running under a lock nobody holds any
    more, or queued or running far longer than any run takes. Then enqueue the plans
    whose data changed a quiet time ago or more and that no task is coming for (their
    message lost with a Redis that restarted empty, or never sent while it was down).
    Returns the runs failed."""
    failed = _fail_stale_runs()
    try:
        enqueue_pending(older_than=float(option("REANALYSIS_QUIET_SECONDS", 5)))
    except TRANSIENT as error:
        log.warning("could not enqueue the pending re-analyses: %s", error)
    return failed


def _fail_stale_runs() -> list[int]:
    now = timezone.now()
    lock_ttl = float(option("REANALYSIS_LOCK_SECONDS", 60))
    stale = timedelta(seconds=float(option("REANALYSIS_STALE_SECONDS", 3600)))
    failed = []
    running = AnalysisRun.objects.filter(status=Status.RUNNING)
    for run in running.filter(started_at__lt=now - timedelta(seconds=2 * lock_ttl)):
        if run.parameters.get("lock") == "redis":
            if lock_is_held(run.plan_id, run.dataset_id) is False:
                _fail(
                    run.pk,
                    f"{WORKER_LOST}: still marked running, but no worker holds its plan's lock.",
                    lost=True,
                )
                failed.append(run.pk)
        elif run.started_at < now - stale:
            _fail(run.pk, f"Stuck: still running after {stale}; the process running it stopped.")
            failed.append(run.pk)
    for run in AnalysisRun.objects.filter(status=Status.QUEUED, created_at__lt=now - stale):
        _fail(run.pk, f"Never started: no worker picked it up within {stale}.")
        failed.append(run.pk)
    return failed


# --- no broker: the background runner ------------------------------------------------

_process: tuple[int, str] | None = None


def process_token() -> str:
    """host:pid:boot of this process, stamped on the runs it queues and computes (no
    broker), so that the next process can tell a dead process's runs from a live one's
    (a restarted container may get the same pid: the boot part differs)."""
    global _process
    pid = os.getpid()
    if _process is None or _process[0] != pid:
        _process = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:12]}")
    return _process[1]


def process_is_gone(token: str) -> bool:
    """Whether the process a token names has stopped. Only known for this host: another
    machine's runs (PostgreSQL without a broker) are left to the stale-run sweep."""
    host, _, rest = token.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or token == process_token():
        return False
    if int(pid) == os.getpid():
        return True  # our pid, an earlier boot
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class BackgroundRunner:
    """One daemon thread of this process that computes queued runs, one at a time, so
    that no request waits for one (no broker: the embedded default).

    Jobs are keyed: ("plan", id) is a plan's waiting data-change run, which later
    commits join (their reasons are added; it reads the data when it starts) until the
    thread takes it; ("run", id) is a run queued by hand or by the nightly job. The
    thread starts with the first job; it first fails the runs a stopped process left
    queued or running and queues one run per plan in their place."""

    def __init__(self):
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._submitting = threading.Lock()  # one waiting run per plan, never two
        self._jobs: OrderedDict[tuple[str, int], dict] = OrderedDict()
        self._busy = False
        self._thread: threading.Thread | None = None

    def reanalyse(self, *, plan_id: int, reasons: dict, create) -> int:
        """Queue a data-change run of the plan, made by `create()` (returns its id), or
        add these reasons to the run of the plan already waiting. Returns the run's id."""
        with self._submitting:
            with self._cond:
                job = self._jobs.get(("plan", plan_id))
                if job is not None:
                    job["reasons"].update(reasons)
                    job["commits"] += 1
                    return job["run_id"]
            run_id = create()
            self._put(("plan", plan_id), {"run_id": run_id, "reasons": Counter(reasons)})
            return run_id

    def submit(self, run_id: int) -> None:
        """Queue a run that exists already (by hand, nightly)."""
        self._put(("run", run_id), {"run_id": run_id})

    def _put(self, key: tuple[str, int], job: dict) -> None:
        with self._cond:
            self._jobs[key] = {"commits": 1, **job}
            if self._thread is None or not self._thread.is_alive():
                self._busy = True  # recovering first
                self._thread = threading.Thread(
                    target=self._loop, name="exotrack-reanalysis", daemon=True
                )
                self._thread.start()
                atexit.register(self.wait, float(option("REANALYSIS_LOCK_SECONDS", 60)) * 10)
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or running; False when `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def pending(self) -> list[int]:
        with self._cond:
            return [job["run_id"] for job in self._jobs.values()]

    def _loop(self) -> None:
        try:
            self._recover()
        except Exception:  # noqa: BLE001 - never stop the thread
            log.exception("could not recover the runs of a stopped process")
        while True:
            with self._cond:
                job = self._jobs.popitem(last=False)[1] if self._jobs else None
                self._busy = True
            if job is None:
                connection.close()  # idle: hold no database connection
                with self._cond:
                    if not self._jobs:
                        self._busy = False
                        self._cond.notify_all()
                        self._cond.wait_for(lambda: bool(self._jobs))
                continue
            try:
                self._run(job)
            except Exception:  # noqa: BLE001 - stored on the run when it could be; go on
                log.exception("background run #%s", job["run_id"])

    def _run(self, job: dict) -> None:
        close_old_connections()
        if job["commits"] > 1:  # commits that joined the run while it waited
            run = AnalysisRun.objects.filter(pk=job["run_id"]).first()
            if run is not None:
                parameters = {
                    **run.parameters,
                    "reasons": dict(sorted(job["reasons"].items())),
                    "commits": job["commits"],
                }
                AnalysisRun.objects.filter(pk=run.pk).update(parameters=parameters)
        run_analysis.apply(kwargs={"run_id": job["run_id"]})

    def _recover(self) -> None:
        """Fail the runs a stopped process of this host left queued or running, and queue
        one run per plan in their place (through `_claim`, which replaces a lost run)."""
        host = socket.gethostname()
        latest = {}
        left = AnalysisRun.objects.filter(
            status__in=[Status.QUEUED, Status.RUNNING], parameters__process__startswith=f"{host}:"
        )
        for run in left.order_by("pk"):
            if not process_is_gone(run.parameters["process"]):
                continue
            log.warning("run #%s was left %s by a stopped process; failing it", run.pk, run.status)
            what = "computing" if run.status == Status.RUNNING else "that queued"
            _fail(
                run.pk,
                f"{WORKER_LOST}: the process {what} this run stopped (killed or crashed) before "
                "it finished. The plan was queued again when the site restarted.",
                lost=True,
            )
            latest[(run.plan_id, run.dataset_id)] = run.pk
        with self._cond:
            for pk in latest.values():
                self._jobs.setdefault(("run", pk), {"run_id": pk, "commits": 1})


_runner: BackgroundRunner | None = None
_runner_guard = threading.Lock()


def background_runner() -> BackgroundRunner:
    """This process's runner (a forked child makes its own)."""
    global _runner
    with _runner_guard:
        if _runner is None or _runner.pid != os.getpid():
            _runner = BackgroundRunner()
        return _runner


def wait_for_background_runs(timeout: float | None = 60) -> bool:
    """Wait until this process's background runner has nothing queued or running (True),
    or `timeout` seconds passed (False). For tests, commands and the bench."""
    runner = _runner
    if runner is None or runner.pid != os.getpid():
        return True
    return runner.wait(timeout)
