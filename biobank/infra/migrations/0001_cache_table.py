"""The table of the DatabaseCache (settings.CACHES when CACHE_URL is not set), made by
`migrate` so that no deployment step can be forgotten. Made whatever CACHES says at
migration time, so that switching CACHE_URL off later needs no createcachetable."""

from django.db import migrations

CACHE_TABLE = "exotrack_cache"


def create_cache_table(apps, schema_editor):
    from django.core.management.commands.createcachetable import Command

    command = Command()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
