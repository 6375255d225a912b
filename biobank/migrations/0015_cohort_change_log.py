"""The cohort's change log (issue 16): the triggers of 0009 that move CohortVersion
also append the row they fired for to biobank_cohortchange, in the same transaction,
tagged with the version the transaction moved the counter to. The cohort cache then
rebuilds only the patients those rows can change (biobank.selectors.cohort_incremental)
instead of the whole cohort from every well.

PostgreSQL: the deferred row triggers of 0009 stay as they are; their function now
logs every row (the counter row is locked by the transaction's first bump, so the
version it reads is its own). A TRUNCATE logs a row with neither `old` nor `new`,
which the reader takes as "rebuild everything".

SQLite: the row triggers are re-created with the log insert after the upsert.
"""

from importlib import import_module

from django.db import migrations, models

triggers_0009 = import_module("biobank.migrations.0009_cohort_version_triggers")
exposure_0012 = import_module("biobank.migrations.0012_excursion_exposure")

UPSERT = triggers_0009.UPSERT
# 0009's tables, with the exposure columns 0012 added to the excursion links watched too.
WATCHED = {**triggers_0009.WATCHED, exposure_0012.TABLE: exposure_0012.NEW_COLUMNS}

LOG = 'INSERT INTO biobank_cohortchange (version, "table", old, new) VALUES '
CURRENT = "(SELECT version FROM biobank_cohortversion WHERE id = 1)"

PG_BUMP_AND_LOG = f"""
CREATE OR REPLACE FUNCTION exotrack_cohort_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('exotrack.cohort_bumped', true) IS DISTINCT FROM '1' THEN
        {UPSERT};
        PERFORM set_config('exotrack.cohort_bumped', '1', true);
    END IF;
    IF TG_LEVEL = 'ROW' THEN
        {LOG} ({CURRENT}, TG_TABLE_NAME,
               CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
               CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
    ELSE
        {LOG} ({CURRENT}, TG_TABLE_NAME, NULL, NULL);
    END IF;
    RETURN NULL;
END
$$
"""

PG_BUMP_ONLY = f"""
CREATE OR REPLACE FUNCTION exotrack_cohort_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('exotrack.cohort_bumped', true) IS DISTINCT FROM '1' THEN
        {UPSERT};
        PERFORM set_config('exotrack.cohort_bumped', '1', true);
    END IF;
    RETURN NULL;
END
$$
"""


# The counter row deleted (a test database's flush deletes table by table on SQLite):
# the versions start again, so the log's rows would name versions yet to come.
RESET = "DELETE FROM biobank_cohortchange"
PG_RESET = [
    f"""
    CREATE FUNCTION exotrack_cohort_log_reset() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN {RESET}; RETURN NULL; END $$
    """,
    "CREATE TRIGGER cohort_log_reset AFTER DELETE ON biobank_cohortversion "
    "FOR EACH STATEMENT EXECUTE FUNCTION exotrack_cohort_log_reset()",
]
PG_RESET_REVERSE = [
    "DROP TRIGGER IF EXISTS cohort_log_reset ON biobank_cohortversion",
    "DROP FUNCTION IF EXISTS exotrack_cohort_log_reset()",
]
SQLITE_RESET = (
    f'CREATE TRIGGER "cohort_log_reset" AFTER DELETE ON "biobank_cohortversion" BEGIN {RESET}; END'
)


def _json(row: str, columns) -> str:
    return "json_object(" + ", ".join(f"'{c}', {row}.\"{c}\"" for c in columns) + ")"


def _sqlite_forward():
    statements = triggers_0009._sqlite_reverse()
    for table, columns in WATCHED.items():
        for event in ("INSERT", "DELETE", "UPDATE"):
            old = _json("OLD", columns) if event != "INSERT" else "NULL"
            new = _json("NEW", columns) if event != "DELETE" else "NULL"
            when = ""
            if event == "UPDATE":
                when = f" WHEN {triggers_0009._changed(columns, 'IS NOT')}"
            statements.append(
                f'CREATE TRIGGER "cohort_version_{event.lower()}_{table}" AFTER {event} '
                f'ON "{table}" FOR EACH ROW{when} BEGIN {UPSERT}; '
                f"{LOG} ({CURRENT}, '{table}', {old}, {new}); END"
            )
    # Idempotent: a later migration that rebuilds a watched table runs it again.
    return [*statements, 'DROP TRIGGER IF EXISTS "cohort_log_reset"', SQLITE_RESET]


def _sqlite_reverse():
    return [
        'DROP TRIGGER IF EXISTS "cohort_log_reset"',
        *triggers_0009._sqlite_reverse(),
        *triggers_0009._sqlite_forward(),
        *exposure_0012._statements("sqlite", exposure_0012.NEW_COLUMNS),
    ]


VENDORS = {
    "postgresql": (
        lambda: [PG_BUMP_AND_LOG, *PG_RESET],
        lambda: [*PG_RESET_REVERSE, PG_BUMP_ONLY],
    ),
    "sqlite": (_sqlite_forward, _sqlite_reverse),
}


def create_triggers(apps, schema_editor):
    for statement in VENDORS[schema_editor.connection.vendor][0]():
        schema_editor.execute(statement)


def drop_triggers(apps, schema_editor):
    for statement in VENDORS[schema_editor.connection.vendor][1]():
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("biobank", "0012_excursion_exposure"),
    ]

    operations = [
        migrations.CreateModel(
            name="CohortChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.BigIntegerField(db_index=True)),
                ("table", models.CharField(max_length=64)),
                ("old", models.JSONField(blank=True, null=True)),
                ("new", models.JSONField(blank=True, null=True)),
            ],
        ),
        migrations.AddField(
            model_name="cohortsnapshot",
            name="parts",
            field=models.BinaryField(
                blank=True,
                help_text="The QC evidence's row-level tables, serialised: what an "
                "incremental rebuild splices (biobank.selectors.cohort_incremental)",
                null=True,
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
