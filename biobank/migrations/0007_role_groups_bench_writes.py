from django.db import migrations

from biobank.roles import sync_role_groups


class Migration(migrations.Migration):
    """Technicians keep only the write permissions the bench checks (biobank/roles.py):
    freezers, racks, box changes, excursions and processing corrections go to the
    curators; the admin itself is curators-only for writes (biobank/admin_base.py)."""

    dependencies = [("biobank", "0006_draw_a414")]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
