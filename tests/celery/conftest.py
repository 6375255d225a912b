"""Real Celery workers against a real Redis and PostgreSQL.

The workers are `celery -A biobank worker` subprocesses (tests/celery/worker.py) on
the Redis named by CELERY_TEST_BROKER_URL (default redis://127.0.0.1:6379/15, a
database of its own) and on pytest-django's test database, which they can see
because these tests commit (django_db(transaction=True)). Each session uses a queue
of its own and each test clears its Redis keys, so sessions sharing a Redis (xdist,
another checkout) never pick up each other's tasks.

Skipped, with the reason, on SQLite (a worker in another process cannot see an
SQLite test database's uncommitted data) and when no Redis answers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.db import connection

from biobank.celery import app as celery_app

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BROKER = os.environ.get("CELERY_TEST_BROKER_URL") or "redis://127.0.0.1:6379/15"
QUEUE = f"exotrack-test-{uuid.uuid4().hex[:10]}"
QUIET = 1.0  # seconds of quiet after the last edit before a run starts
LOG_DIR = Path(os.environ.get("CELERY_TEST_LOG_DIR", "/tmp")) / f"exotrack-{QUEUE}"

_redis_problem: list[str | None] = []


def redis_problem() -> str | None:
    if not _redis_problem:
        try:
            redis.Redis.from_url(BROKER, socket_connect_timeout=1, socket_timeout=2).ping()
            _redis_problem.append(None)
        except (redis.RedisError, OSError) as error:
            _redis_problem.append(
                f"needs a Redis at {BROKER} (set CELERY_TEST_BROKER_URL); it did not answer: "
                f"{error}"
            )
    return _redis_problem[0]


def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if HERE in Path(str(item.path)).parents]
    if not ours:
        return
    if connection.vendor != "postgresql":
        reason = (
            "needs PostgreSQL: a Celery worker in another process cannot see an SQLite test "
            "database (run with DATABASE_URL=postgres://...)"
        )
    else:
        reason = redis_problem()
    if reason:
        for item in ours:
            item.add_marker(pytest.mark.skip(reason=reason))


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}"


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: no warm shutdown, no ack."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Workers:
    env: dict
    started: list[Worker] = field(default_factory=list)

    def start(self, name: str, **env) -> Worker:
        """Start `celery -A biobank worker` (prefork, one process) and wait until ready."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = LOG_DIR / f"{name}-{len(self.started)}.log"
        command = [
            sys.executable,
            str(HERE / "worker.py"),
            "-A",
            "biobank",
            "worker",
            "--loglevel=INFO",
            "--pool=prefork",
            "--concurrency=1",
            f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h",
            f"--queues={QUEUE}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.environment(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name, process, log)
        self.started.append(worker)
        deadline = time.monotonic() + 60
        while " ready." not in worker.output():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{worker.output()[-3000:]}")
            time.sleep(0.1)
        return worker

    def environment(self, env: dict) -> dict:
        """The worker's environment: this one, the pool's, then `env` (None: unset, so
        the worker takes the settings' default)."""
        merged = {**os.environ, **self.env}
        for key, value in env.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = str(value)
        return merged

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


def clear_redis(url: str = BROKER) -> None:
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    keys = list(client.scan_iter(f"exotrack:{QUEUE}:*")) + [QUEUE]
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session", autouse=True)
def _forget_the_test_queue():
    """At the end of the session, the queue's routing keys go too."""
    yield
    if _redis_problem and _redis_problem[0] is None:
        redis.Redis.from_url(BROKER).delete(
            f"_kombu.binding.{QUEUE}", f"_kombu.binding_permanent.{QUEUE}"
        )


def forget_connections() -> None:
    """Drop the app's cached connection pool and AMQP set-up (queues, router): they keep
    the broker and default queue they were first made with, and an earlier test may have
    made them with the settings' defaults. (Not closed: kombu shares pools by URL.)"""
    celery_app._pool = None
    celery_app.__dict__.pop("amqp", None)


def use_broker(url: str, settings):
    """This process publishes to the Redis at `url` (tasks no longer run in-process) and
    the data-change triggers are on, with a one-second quiet time. A generator: the
    code after its yield puts everything back."""
    from analysis import tasks

    conf = celery_app.conf
    saved = {
        key: conf[key]
        for key in ("broker_url", "task_always_eager", "task_default_queue", "result_backend")
    }
    conf.update(
        broker_url=url, task_always_eager=False, task_default_queue=QUEUE, result_backend=None
    )
    forget_connections()
    settings.EXOTRACK = {
        **settings.EXOTRACK,
        "REANALYSIS_ENABLED": True,
        "REANALYSIS_QUIET_SECONDS": QUIET,
        "REANALYSIS_REDIS_URL": url,
    }
    tasks._redis_down_until = 0.0
    clear_redis(url)
    yield url
    with contextlib.suppress(redis.RedisError):  # a private Redis a test left stopped
        clear_redis(url)
    tasks._redis_down_until = 0.0
    conf.update(saved)
    forget_connections()


@pytest.fixture
def broker(transactional_db, settings):
    """This process publishes to the test Redis (CELERY_TEST_BROKER_URL)."""
    yield from use_broker(BROKER, settings)


def worker_pool(url: str) -> Workers:
    return Workers(
        env={
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": url,
            "CELERY_RESULT_BACKEND": "",
            "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
            "EXOTRACK_REANALYSIS_REDIS_URL": url,
            "EXOTRACK_REANALYSIS_LOCK_SECONDS": "3",
            "CELERY_VISIBILITY_TIMEOUT": "600",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )


@pytest.fixture
def workers(broker):
    """Start workers with `workers.start(name, **env)`; all are stopped after the test,
    before pytest-django empties the database."""
    pool = worker_pool(broker)
    yield pool
    pool.stop_all()


@dataclass
class PrivateRedis:
    """A redis-server of this test alone (no persistence), to kill, stop and restart
    without touching the machine's Redis."""

    port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the server and everything it held are gone."""
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers (a hung Redis)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH to start a Redis of its own")
    server = PrivateRedis(port=free_port(), directory=tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_broker(transactional_db, settings, private_redis):
    """Like `broker`, on the test's own Redis."""
    yield from use_broker(private_redis.url, settings)


@pytest.fixture
def private_workers(private_broker):
    pool = worker_pool(private_broker)
    yield pool
    pool.stop_all()


def runs_table() -> str:
    from analysis.models import AnalysisRun

    rows = AnalysisRun.objects.order_by("pk").values_list(
        "pk", "plan__name", "trigger", "status", "started_at", "finished_at", "error"
    )
    return "\n".join(" | ".join(str(value)[:80] for value in row) for row in rows)


def wait_for(condition, *, timeout: float, what: str, every: float = 0.2):
    """Poll until `condition()` is truthy; return its value or fail saying what, with
    every run in the database."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; runs:\n{runs_table()}")
        time.sleep(every)


SURVIVAL = {"analyses": [{"kind": "kaplan_meier", "name": "KM", "times": [0, 12, 24]}]}
DEFAULT_SPEC = json.loads((ROOT / "analysis" / "default_plan.json").read_text())


def seed_cohort(settings) -> dict:
    """The demo cohort, and the paper's plan (a test before may have emptied the tables).
    Loaded with the triggers off: the tests start from no pending run."""
    from analysis.models import AnalysisPlan

    enabled = settings.EXOTRACK
    settings.EXOTRACK = {**enabled, "REANALYSIS_ENABLED": False}
    call_command("seed_demo", stdout=io.StringIO())
    settings.EXOTRACK = enabled
    AnalysisPlan.objects.update(is_active=False)
    paper, _ = AnalysisPlan.objects.update_or_create(
        name="paper-default", defaults={"title": "paper", "spec": DEFAULT_SPEC, "is_active": True}
    )
    survival = AnalysisPlan.objects.create(name="survival", title="survival", spec=SURVIVAL)
    return {"paper": paper, "survival": survival}
