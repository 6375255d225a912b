"""The beat jobs of the re-analysis, as django-celery-beat rows a curator edits in the
admin (Periodic tasks): the nightly run of every active plan at 02:30, and a sweep
every five minutes that fails runs a lost worker left queued or running."""

from django.db import migrations
from django.utils import timezone

NIGHTLY = "Nightly re-analysis of every active plan"
SWEEP = "Fail analysis runs left running by a lost worker"


def create_schedule(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changed_model = apps.get_model("django_celery_beat", "PeriodicTasks")

    at_0230 = crontab_model.objects.filter(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    ).first() or crontab_model.objects.create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    every_5_min, _ = interval_model.objects.get_or_create(every=5, period="minutes")
    task_model.objects.get_or_create(
        name=NIGHTLY,
        defaults={
            "task": "analysis.nightly_reanalysis",
            "crontab": at_0230,
            "description": "Queues a run of every active analysis plan on the live data. "
            "Change the time here; untick Enabled to stop it.",
        },
    )
    task_model.objects.get_or_create(
        name=SWEEP,
        defaults={
            "task": "analysis.sweep_stale_runs",
            "interval": every_5_min,
            "description": "Fails runs marked running whose worker is gone (its plan lock "
            "lapsed) and runs queued or running longer than REANALYSIS_STALE_SECONDS.",
        },
    )
    # Tell a running beat to reload its schedule.
    changed_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[NIGHTLY, SWEEP]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0002_default_plan_and_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
