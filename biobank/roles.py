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

# What a technician writes on the bench (web pages and API, each through its
# service), as the model permissions those faces check; everything else of the
# biobank they only read. Nothing here is for the admin: there only curators write
# (biobank/admin_base.py). Freezers, racks, resizing a box, excursions and
# corrections of processing records are the curators' (storage structure and
# records no bench page writes), so technicians do not hold them.
TECHNICIAN_WRITES = {
    "serumdraw": {"add", "change"},  # register, correct (API PUT/PATCH)
    "aliquot": {"add", "change"},  # cut; check-in/out, move, thaw, consume, discard
    "box": {"add"},  # a new box on the bench (API); resizing is the curators'
    "exosomeisolationbatch": {"add"},
    "rnaisolation": {"add"},
    "reversetranscription": {"add"},
    "qpcrplate": {"add", "change"},  # set up; lay out and import (plate actions)
    "well": {"add", "change"},  # plate map; QC decisions (exclude, restore)
    "plateimport": {"add", "change"},  # import; revert
    "rackscanimport": {"add"},  # confirm a rack-scanner file (moves and check-ins)
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
        return action == "view" or action in TECHNICIAN_WRITES.get(model, set())
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
