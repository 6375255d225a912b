from django.db import migrations

from biobank.roles import sync_role_groups


class Migration(migrations.Migration):
    """Give the groups their permissions on PlateImport (biobank/roles.py)."""

    dependencies = [("biobank", "0003_plate_imports")]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
