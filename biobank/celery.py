"""The Celery application.

Tasks run on a worker when CELERY_BROKER_URL is set; otherwise settings make
them eager, so the same code paths run in-process for the embedded demo.

The worker's consumer gets one more step: each time it connects to the broker (at
start, and after every reconnection: Celery restarts the consumer's steps then), it
enqueues the plans whose data changed while no task could be queued for them
(analysis.tasks.enqueue_pending_on_connect; the durable record is analysis.pending).
"""

import os
import threading

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")

app = Celery("exotrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class EnqueuePendingReanalyses(bootsteps.StartStopStep):
    """On every (re)connection of the worker's consumer: enqueue the pending
    re-analyses, in a thread of its own so that a slow database or Redis never holds up
    the consumer (and its database connection is closed before any pool child forks)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c):
        from analysis.tasks import enqueue_pending_on_connect

        threading.Thread(
            target=enqueue_pending_on_connect, name="exotrack-pending", daemon=True
        ).start()


app.steps["consumer"].add(EnqueuePendingReanalyses)
