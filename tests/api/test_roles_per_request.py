"""The user's groups and permissions are read with the token, in the same query, on
every request (biobank.api.authentication): a change of a group's permissions or of
a user's groups counts from the very next request, with nothing cached to go stale."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.roles import CURATOR, TECHNICIAN

from .helpers import client_for

pytestmark = pytest.mark.django_db

ALIQUOTS = reverse("api:aliquot-list")
IDENTITIES = reverse("api:patient-identity-list")


def view_aliquot() -> Permission:
    return Permission.objects.get(content_type__app_label="biobank", codename="view_aliquot")


def test_a_permission_taken_from_the_group_counts_on_the_next_request(technician):
    client = client_for(technician)
    assert client.get(ALIQUOTS).status_code == 200
    Group.objects.get(name=TECHNICIAN).permissions.remove(view_aliquot())
    assert client.get(ALIQUOTS).status_code == 403
    Group.objects.get(name=TECHNICIAN).permissions.add(view_aliquot())
    assert client.get(ALIQUOTS).status_code == 200


def test_a_user_taken_out_of_the_group_loses_it_on_the_next_request(technician):
    client = client_for(technician)
    assert client.get(ALIQUOTS).status_code == 200
    technician.groups.clear()
    assert client.get(ALIQUOTS).status_code == 403


def test_a_users_own_permission_counts(analyst):
    client = client_for(analyst)
    assert client.get(ALIQUOTS).status_code == 403
    analyst.user_permissions.add(view_aliquot())
    assert client.get(ALIQUOTS).status_code == 200


def test_curator_membership_is_read_per_request(technician):
    client = client_for(technician)
    assert client.get(IDENTITIES).status_code == 403
    technician.groups.add(Group.objects.get(name=CURATOR))
    assert client.get(IDENTITIES).status_code == 200
    technician.groups.remove(Group.objects.get(name=CURATOR))
    assert client.get(IDENTITIES).status_code == 403


def test_a_deactivated_user_is_refused_on_the_next_request(technician):
    client = client_for(technician)
    assert client.get(ALIQUOTS).status_code == 200
    technician.is_active = False
    technician.save(update_fields=["is_active"])
    assert client.get(ALIQUOTS).status_code == 401


def test_an_unknown_token_is_refused(technician):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get(ALIQUOTS).status_code == 401


def test_a_superuser_reads_without_a_group(django_user_model):
    boss = django_user_model.objects.create_user("boss", password="x" * 12, is_superuser=True)
    assert client_for(boss).get(IDENTITIES).status_code == 200


def test_a_browser_session_loads_the_roles_in_one_query(client, technician):
    client.force_login(technician)
    client.get(ALIQUOTS)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(ALIQUOTS).status_code == 200
    # the session, its user, the roles, the page
    assert len(captured) == 4, [query["sql"][:80] for query in captured]
    Group.objects.get(name=TECHNICIAN).permissions.remove(view_aliquot())
    assert client.get(ALIQUOTS).status_code == 403
