import json
from pathlib import Path

from django.db import migrations

from biobank.roles import sync_role_groups

DEFAULT_PLAN = Path(__file__).resolve().parent.parent / "default_plan.json"


def install_default_plan(apps, schema_editor):
    """The plan that reproduces the paper. A later change of default_plan.json does not
    touch an installed plan: curators own it once it is in the database."""
    plan_model = apps.get_model("analysis", "AnalysisPlan")
    spec = json.loads(DEFAULT_PLAN.read_text())
    plan_model.objects.get_or_create(
        name="paper-default",
        defaults={"title": "TACE exosomal miR-122 / miR-21 study (the paper's analyses)", "spec": spec},
    )


def remove_default_plan(apps, schema_editor):
    apps.get_model("analysis", "AnalysisPlan").objects.filter(name="paper-default", runs__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0001_plans_and_runs"),
        ("biobank", "0004_role_groups_plate_imports"),
    ]

    operations = [
        migrations.RunPython(install_default_plan, remove_default_plan),
        migrations.RunPython(sync_role_groups, migrations.RunPython.noop),
    ]
