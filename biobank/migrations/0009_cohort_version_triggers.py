"""Database triggers that move CohortVersion.version on every committed write to a
table the analysis-ready cohort is built from (issue 16: the cohort cache's key).

Why triggers and not signals: the cohort is written by services, the admin, the API,
bulk `QuerySet.update()`, plate import and its revert, the seed loader's bulk inserts
and raw SQL; only the database sees all of them. The counter moves in the writing
transaction, so a rolled-back transaction (or savepoint) leaves it where it was.

Which tables and columns: exactly what biobank.selectors.cohort (cohort_with_evidence,
cohort_table_chunks, and the wells / qc_inputs frames they load) reads, as found in
their SQL (tests/test_cohort_version.py re-derives that list on every run and fails
when the build reads a table or column the triggers do not watch, or when a model of
a watched table gains a field nobody classified). An INSERT or DELETE of any row of a
watched table moves the counter; an UPDATE moves it only when a watched column
changes (`WHEN OLD.col IS DISTINCT FROM NEW.col OR ...`), so moving, checking out or
checking in a tube (aliquot box, position, status, volume) and a no-op `save()` (which
rewrites every column with its own value) leave it alone.

PostgreSQL: the row triggers are DEFERRABLE INITIALLY DEFERRED constraint triggers,
so the counter row is locked at commit, after the transaction's other writes: writers
of different rows do not queue behind one another for the whole transaction, and no
transaction takes the counter's lock before a row lock (no lock-order deadlock). The
trigger function bumps once per transaction: it marks the transaction with a local
setting (`exotrack.cohort_bumped`, reset at transaction end). Events queued in a
savepoint that rolls back are discarded by PostgreSQL, and a rolled-back transaction
never fires its deferred events, so neither leaves a bump. TRUNCATE (no row events)
has a statement-level trigger that bumps at once.

Deferring has one consequence: a transaction that writes and then reads the version
would see the old value. `exotrack_cohort_version()` (what
biobank.selectors.cohort_version reads on PostgreSQL) first fires this transaction's
pending bump (SET CONSTRAINTS ... IMMEDIATE, then DEFERRED again) and clears the
once-per-transaction mark, so a later write in the same transaction bumps again. A
transaction that reads the version after its own write takes the counter's lock at
that read: still after its earlier writes. (If that read sits in a savepoint that
rolls back, PostgreSQL re-queues the events it fired and restores the setting.)

SQLite serialises writers, so its triggers are plain AFTER row triggers with the same
WHEN clauses that upsert the counter at once.
"""

from django.db import migrations

# Table -> the columns the cohort build reads (an UPDATE of any other column does not
# move the version). Frozen here: a change is a new migration.
WATCHED = {
    "biobank_patient": [
        "id", "study_id", "sex", "age_at_enrolment", "liver_background", "etiology",
        "type2_diabetes", "withdrawn_on",
    ],
    "biobank_treatment": ["id", "patient_id", "is_initial", "performed_on"],
    "biobank_clinicalassessment": [
        "id", "treatment_id", "child_pugh_score", "child_pugh_score_recorded", "bclc_stage",
        "ast_iu_l", "alt_iu_l", "hba1c_percent", "total_bilirubin_mg_dl", "albumin_g_dl",
        "pt_percent", "platelets_1e4_ul", "ascites", "encephalopathy", "child_pugh_grade",
        "afp_ng_ml", "dcp_mau_ml", "tumour_diameter_cm", "tumour_number",
    ],
    "biobank_followup": ["id", "patient_id", "contact_date", "status", "cause_of_death"],
    "biobank_serumdraw": [
        "id", "patient_id", "treatment_id", "timepoint", "haemolysis", "a414", "drawn_at",
        "centrifuged_at", "frozen_at",
    ],
    "biobank_aliquot": ["id", "draw_id", "barcode", "freeze_thaw_count"],
    "biobank_temperatureexcursion_affected_aliquots": [
        "id", "temperatureexcursion_id", "aliquot_id",
    ],
    "biobank_exosomeisolationbatch": ["id", "code"],
    "biobank_exosomeisolation": ["id", "aliquot_id", "batch_id"],
    "biobank_rnaisolation": ["id", "isolation_id"],
    "biobank_reversetranscription": ["id", "rna_id", "code"],
    "biobank_assay": ["id", "target", "role"],
    "biobank_qpcrplate": ["id", "barcode"],
    "biobank_well": [
        "id", "plate_id", "row", "column", "kind", "sample_id", "assay_id", "replicate",
        "cq", "excluded", "exclusion_reason",
    ],
}  # fmt: skip

UPSERT = (
    "INSERT INTO biobank_cohortversion (id, version) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET version = biobank_cohortversion.version + 1"
)
# The constraint triggers' names, the same on every table, so one SET CONSTRAINTS
# names them all.
PG_ROWS, PG_COLUMNS = "cohort_version_rows", "cohort_version_columns"
PG_TRUNCATE = "cohort_version_truncate"


def _changed(columns, operator):
    return " OR ".join(f'OLD."{c}" {operator} NEW."{c}"' for c in columns)


def _postgresql_forward():
    statements = [
        f"""
        CREATE FUNCTION exotrack_cohort_version_bump() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('exotrack.cohort_bumped', true) IS DISTINCT FROM '1' THEN
                {UPSERT};
                PERFORM set_config('exotrack.cohort_bumped', '1', true);
            END IF;
            RETURN NULL;
        END
        $$
        """,
        f"""
        CREATE FUNCTION exotrack_cohort_version() RETURNS bigint
        LANGUAGE plpgsql AS $$
        BEGIN
            SET CONSTRAINTS {PG_ROWS}, {PG_COLUMNS} IMMEDIATE;
            SET CONSTRAINTS {PG_ROWS}, {PG_COLUMNS} DEFERRED;
            PERFORM set_config('exotrack.cohort_bumped', '', true);
            RETURN coalesce((SELECT version FROM biobank_cohortversion WHERE id = 1), 0);
        END
        $$
        """,
    ]
    for table, columns in WATCHED.items():
        statements += [
            f'CREATE CONSTRAINT TRIGGER {PG_ROWS} AFTER INSERT OR DELETE ON "{table}" '
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION exotrack_cohort_version_bump()",
            f'CREATE CONSTRAINT TRIGGER {PG_COLUMNS} AFTER UPDATE ON "{table}" '
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"WHEN ({_changed(columns, 'IS DISTINCT FROM')}) "
            "EXECUTE FUNCTION exotrack_cohort_version_bump()",
            f'CREATE TRIGGER {PG_TRUNCATE} AFTER TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION exotrack_cohort_version_bump()",
        ]
    return statements


def _postgresql_reverse():
    statements = []
    for table in WATCHED:
        for name in (PG_ROWS, PG_COLUMNS, PG_TRUNCATE):
            statements.append(f'DROP TRIGGER IF EXISTS {name} ON "{table}"')
    statements += [
        "DROP FUNCTION IF EXISTS exotrack_cohort_version()",
        "DROP FUNCTION IF EXISTS exotrack_cohort_version_bump()",
    ]
    return statements


def _sqlite_forward():
    statements = []
    for table, columns in WATCHED.items():
        for event in ("INSERT", "DELETE"):
            statements.append(
                f'CREATE TRIGGER "cohort_version_{event.lower()}_{table}" AFTER {event} '
                f'ON "{table}" FOR EACH ROW BEGIN {UPSERT}; END'
            )
        statements.append(
            f'CREATE TRIGGER "cohort_version_update_{table}" AFTER UPDATE ON "{table}" '
            f"FOR EACH ROW WHEN {_changed(columns, 'IS NOT')} BEGIN {UPSERT}; END"
        )
    return statements


def _sqlite_reverse():
    return [
        f'DROP TRIGGER IF EXISTS "cohort_version_{event}_{table}"'
        for table in WATCHED
        for event in ("insert", "delete", "update")
    ]


VENDORS = {
    "postgresql": (_postgresql_forward, _postgresql_reverse),
    "sqlite": (_sqlite_forward, _sqlite_reverse),
}


def _run(schema_editor, statements):
    for statement in statements:
        schema_editor.execute(statement)


def create_triggers(apps, schema_editor):
    forward, _ = VENDORS[schema_editor.connection.vendor]
    _run(schema_editor, forward())


def drop_triggers(apps, schema_editor):
    _, reverse = VENDORS[schema_editor.connection.vendor]
    _run(schema_editor, reverse())


class Migration(migrations.Migration):
    dependencies = [
        ("biobank", "0008_cohort_cache"),
    ]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
