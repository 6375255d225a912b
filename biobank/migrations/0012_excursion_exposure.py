"""A temperature excursion's tubes get their exposure: the m2m table
TemperatureExcursion.affected_aliquots becomes the through model ExcursionExposure,
keeping its table and rows (the state changes, the database does not), then gains
`minutes` and `peak_temperature_c`, filled for the existing links from the custody log.

The QC reads the two new columns (biobank.selectors.qc_inputs), so the cohort version's
UPDATE trigger on the table watches them too (migration 0009's triggers, recreated for
this table; tests/test_cohort_version.py checks it against the cohort's SQL). SQLite
rebuilds the table to add a NOT NULL column, which drops its triggers: they are
created again here, before the fill, so that the fill moves the version.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

TABLE = "biobank_temperatureexcursion_affected_aliquots"
OLD_COLUMNS = ["id", "temperatureexcursion_id", "aliquot_id"]
NEW_COLUMNS = [*OLD_COLUMNS, "minutes", "peak_temperature_c"]

triggers = importlib.import_module("biobank.migrations.0009_cohort_version_triggers")


def _statements(vendor, columns):
    changed = triggers._changed
    if vendor == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS {triggers.PG_COLUMNS} ON "{TABLE}"',
            f'CREATE CONSTRAINT TRIGGER {triggers.PG_COLUMNS} AFTER UPDATE ON "{TABLE}" '
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"WHEN ({changed(columns, 'IS DISTINCT FROM')}) "
            "EXECUTE FUNCTION exotrack_cohort_version_bump()",
        ]
    if vendor == "sqlite":
        statements = []
        for event in ("insert", "delete", "update"):
            statements.append(f'DROP TRIGGER IF EXISTS "cohort_version_{event}_{TABLE}"')
        for event in ("INSERT", "DELETE"):
            statements.append(
                f'CREATE TRIGGER "cohort_version_{event.lower()}_{TABLE}" AFTER {event} '
                f'ON "{TABLE}" FOR EACH ROW BEGIN {triggers.UPSERT}; END'
            )
        statements.append(
            f'CREATE TRIGGER "cohort_version_update_{TABLE}" AFTER UPDATE ON "{TABLE}" '
            f"FOR EACH ROW WHEN {changed(columns, 'IS NOT')} BEGIN {triggers.UPSERT}; END"
        )
        return statements
    return []


def watch_exposure(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, NEW_COLUMNS):
        schema_editor.execute(statement)


def unwatch_exposure(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, OLD_COLUMNS):
        schema_editor.execute(statement)


def fill_exposures(apps, schema_editor):
    """The existing links keep their tubes (what was recorded stays recorded); each gets
    its minutes inside as the custody log tells them, and the excursion's peak."""
    from biobank.selectors.excursions import excursion_exposures

    models_ = (apps.get_model("biobank", "Aliquot"), apps.get_model("biobank", "StorageEvent"))
    excursion_model = apps.get_model("biobank", "TemperatureExcursion")
    exposure_model = apps.get_model("biobank", "ExcursionExposure")
    now = timezone.now()
    for excursion in excursion_model.objects.filter(exposures__isnull=False).distinct():
        found = excursion_exposures(excursion, now=now, models=models_)
        links = list(exposure_model.objects.filter(excursion=excursion))
        for link in links:
            exposure = found.get(link.aliquot_id)
            link.minutes = exposure.minutes if exposure else 0
            link.peak_temperature_c = excursion.peak_temperature_c
        exposure_model.objects.bulk_update(links, ["minutes", "peak_temperature_c"])


def sync_roles(apps, schema_editor):
    from biobank.roles import sync_role_groups

    sync_role_groups(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("biobank", "0013_retrieval_requests"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ExcursionExposure",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "aliquot",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="excursion_exposures",
                                to="biobank.aliquot",
                            ),
                        ),
                        (
                            "excursion",
                            models.ForeignKey(
                                db_column="temperatureexcursion_id",
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="exposures",
                                to="biobank.temperatureexcursion",
                            ),
                        ),
                    ],
                    options={
                        "db_table": TABLE,
                        "ordering": ["excursion_id", "aliquot_id"],
                        "unique_together": {("excursion", "aliquot")},
                    },
                ),
                migrations.AlterField(
                    model_name="temperatureexcursion",
                    name="affected_aliquots",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="excursions",
                        through="biobank.ExcursionExposure",
                        to="biobank.aliquot",
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="excursionexposure",
            name="minutes",
            field=models.PositiveIntegerField(
                default=0, help_text="Minutes the tube was inside the freezer during the excursion"
            ),
        ),
        migrations.AddField(
            model_name="excursionexposure",
            name="peak_temperature_c",
            field=models.FloatField(blank=True, help_text="°C", null=True),
        ),
        migrations.RunPython(watch_exposure, unwatch_exposure),
        migrations.RunPython(fill_exposures, migrations.RunPython.noop),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
