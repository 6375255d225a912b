"""Give an installed paper-default plan the QC gate of default_plan.json (qc_policy,
inclusion criteria, sensitivity analyses), adding only the keys it lacks: a curator's
analyses and any gate they declared are kept as they are. New databases get the gate
from 0002, which reads the same file."""

import json
from pathlib import Path

from django.db import migrations

DEFAULT_PLAN = Path(__file__).resolve().parent.parent / "default_plan.json"
GATE_KEYS = ("qc_policy", "inclusion", "sensitivity")


def add_gate(apps, schema_editor):
    plan_model = apps.get_model("analysis", "AnalysisPlan")
    default = json.loads(DEFAULT_PLAN.read_text())
    for plan in plan_model.objects.filter(name="paper-default"):
        missing = {key: default[key] for key in GATE_KEYS if key not in plan.spec}
        if missing:
            plan.spec = {**plan.spec, **missing}
            plan.save(update_fields=["spec"])


class Migration(migrations.Migration):
    dependencies = [("analysis", "0004_run_qc")]

    operations = [migrations.RunPython(add_gate, migrations.RunPython.noop)]
