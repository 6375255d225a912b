"""The custody log becomes append-only and hash-chained (issue 15).

Adds void events (`voids`, the VOID kind), `previous_hash` and `hash`, and fills the
hashes of the events already there, tube by tube in (at, id) order: the same order
and the same function (biobank.domain.custody.event_hash) as the writers and
`verify_custody`.
"""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 2000


def fill_hashes(apps, schema_editor):
    from biobank.domain.custody import GENESIS, canonical_volume, event_hash

    StorageEvent = apps.get_model("biobank", "StorageEvent")
    rows = (
        StorageEvent.objects.using(schema_editor.connection.alias)
        .order_by("aliquot_id", "at", "id")
        .iterator(chunk_size=BATCH)
    )
    pending, current, previous = [], None, GENESIS
    for event in rows:
        if event.aliquot_id != current:
            current, previous = event.aliquot_id, GENESIS
        event.volume_change_ul = canonical_volume(event.volume_change_ul)
        event.previous_hash = previous
        event.hash = previous = event_hash(previous, event)
        pending.append(event)
        if len(pending) >= BATCH:
            StorageEvent.objects.bulk_update(pending, ["previous_hash", "hash"])
            pending = []
    if pending:
        StorageEvent.objects.bulk_update(pending, ["previous_hash", "hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("biobank", "0009_cohort_version_triggers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="storageevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("check_in", "Check-in"),
                    ("check_out", "Check-out"),
                    ("move", "Move"),
                    ("thaw", "Thaw"),
                    ("consume", "Consumed"),
                    ("discard", "Discard"),
                    ("excursion", "Temperature excursion"),
                    ("void", "Void"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="storageevent",
            name="voids",
            field=models.OneToOneField(
                blank=True,
                help_text="The event this void event corrects (one void per event)",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="voided_by",
                to="biobank.storageevent",
            ),
        ),
        migrations.AddField(
            model_name="storageevent",
            name="previous_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="storageevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name="storageevent",
            index=models.Index(fields=["aliquot", "at", "id"], name="storage_event_chain_order"),
        ),
        migrations.AddConstraint(
            model_name="storageevent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("kind", "void"),
                        ("voids__isnull", False),
                        models.Q(("reason", ""), _negated=True),
                    ),
                    models.Q(models.Q(("kind", "void"), _negated=True), ("voids__isnull", True)),
                    _connector="OR",
                ),
                name="void_names_event_and_reason",
            ),
        ),
        migrations.RunPython(fill_hashes, migrations.RunPython.noop, elidable=False),
    ]
