"""The Celery application.

Tasks run on a worker when CELERY_BROKER_URL is set; otherwise settings make
them eager, so the same code paths run in-process for the embedded demo.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")

app = Celery("exotrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
