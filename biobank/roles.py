"""Who may do what, in one place.

The data migrations call `sync_role_groups` so a fresh database has the three
groups with exactly these permissions; a later migration that adds models calls
it again. The API's permission classes read the same groups.
"""

from __future__ import annotations

TECHNICIAN = "technician"
CURATOR = "curator"
ANALYST = "analyst"
ROLES = (TECHNICIAN, CURATOR, ANALYST)

# Identifying data: curators only, on every face.
IDENTITY_MODELS = {"patientidentity", "historicalpatientidentity"}

# The sample chain a technician writes; everything else of the biobank they only read.
TECHNICIAN_WRITES = {
    "serumdraw",
    "aliquot",
    "freezer",
    "rack",
    "box",
    "temperatureexcursion",
    "exosomeisolationbatch",
    "exosomeisolation",
    "rnaisolation",
    "reversetranscription",
    "qpcrplate",
    "well",
    "plateimport",
}

CURATOR_APPS = {"biobank", "analysis", "django_celery_beat"}


def grants(role: str, app_label: str, model: str, action: str) -> bool:
    """Whether `role` holds the model permission `action`_`model` of `app_label`."""
    if role == CURATOR:
        return app_label in CURATOR_APPS
    if model in IDENTITY_MODELS:
        return False
    if role == TECHNICIAN:
        if app_label != "biobank":
            return app_label == "analysis" and action == "view"
        return action == "view" or (action in {"add", "change"} and model in TECHNICIAN_WRITES)
    if role == ANALYST:
        return app_label == "analysis" and action == "view"
    return False


def sync_role_groups(apps, schema_editor=None) -> None:
    """Create the groups and set their permissions from `grants` (idempotent)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make them exist now.
    for app_config in global_apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    permissions = list(permission_model.objects.select_related("content_type"))
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = [
            permission
            for permission in permissions
            if grants(
                role,
                permission.content_type.app_label,
                permission.content_type.model,
                permission.codename.split("_", 1)[0],
            )
        ]
        group.permissions.set(wanted)
