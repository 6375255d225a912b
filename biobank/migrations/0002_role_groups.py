from django.db import migrations

from biobank.roles import sync_role_groups


class Migration(migrations.Migration):
    """Groups technician, curator and analyst with their permissions (biobank/roles.py)."""

    dependencies = [
        ("biobank", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
