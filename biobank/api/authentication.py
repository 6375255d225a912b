"""Who is calling, and what they may do, in the one query a request must make.

A token request used to cost three queries before the view ran: the token with its
user, then the user's own and their groups' permissions (ModelBackend, on the first
`has_perm`). Here the token query also reads, as subqueries, the user's group names
and the permissions of those groups and of the user, and hands them to Django's
ModelBackend as its per-request caches. Nothing is cached across requests, so a
permission taken from a group, or a user taken out of a group, counts from the very
next request, in every process, with no signal or version to keep right.

The SQL is written once per database vendor (the ORM took ~3 ms of CPU a request to
compile the same three subqueries) and read through `User.objects.raw`, which
converts the columns as the ORM does.

A browser session (SessionAuthentication) has its user from the middleware; the first
permission check then loads the same roles in one query instead of two.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

# In no app label or codename; a group name holding one could only be made by whoever
# may edit groups, who can grant themselves anything anyway.
SEPARATOR = "\n"
ROLE_NAMES = "_role_names"  # the user's group names, set on the user object


@cache
def roles_sql(vendor: str, *, by_token: bool) -> str:
    """SELECT every column of the user, the user's group names and the permissions of
    their groups and their own ("app_label.codename"), each joined by SEPARATOR (the
    first three parameters); by token key or by user id."""
    user_model = get_user_model()

    def q(name: str) -> str:  # as PostgreSQL and SQLite quote a name
        return f'"{name}"'

    def table(model) -> str:
        return q(model._meta.db_table)

    def column(model, name: str) -> str:
        return q(model._meta.get_field(name).column)

    user_groups = user_model._meta.get_field("groups").remote_field.through
    user_permissions = user_model._meta.get_field("user_permissions").remote_field.through
    group_permissions = Group._meta.get_field("permissions").remote_field.through
    joined = "GROUP_CONCAT({}, %s)" if vendor == "sqlite" else "STRING_AGG({}, %s)"
    permission_name = (
        f"ct.{column(ContentType, 'app_label')} || '.' || p.{column(Permission, 'codename')}"
    )
    permissions_from = (
        f"FROM {table(Permission)} p JOIN {table(ContentType)} ct "
        f"ON ct.{q('id')} = p.{column(Permission, 'content_type')}"
    )
    users = ", ".join(f"u.{q(field.column)}" for field in user_model._meta.concrete_fields)
    group_name = f"g.{column(Group, 'name')}"
    group_names = (
        f"(SELECT {joined.format(group_name)} FROM {table(Group)} g "
        f"JOIN {table(user_groups)} ug ON ug.{column(user_groups, 'group')} = g.{q('id')} "
        f"WHERE ug.{column(user_groups, 'user')} = u.{q('id')})"
    )
    of_groups = (
        f"(SELECT {joined.format(permission_name)} {permissions_from} "
        f"JOIN {table(group_permissions)} gp "
        f"ON gp.{column(group_permissions, 'permission')} = p.{q('id')} "
        f"JOIN {table(user_groups)} ug "
        f"ON ug.{column(user_groups, 'group')} = gp.{column(group_permissions, 'group')} "
        f"WHERE ug.{column(user_groups, 'user')} = u.{q('id')})"
    )
    own = (
        f"(SELECT {joined.format(permission_name)} {permissions_from} "
        f"JOIN {table(user_permissions)} up "
        f"ON up.{column(user_permissions, 'permission')} = p.{q('id')} "
        f"WHERE up.{column(user_permissions, 'user')} = u.{q('id')})"
    )
    roles = (
        f"{group_names} AS role_groups, {of_groups} AS role_group_permissions, "
        f"{own} AS role_user_permissions"
    )
    if by_token:
        return (
            f"SELECT {users}, {roles} "
            f"FROM {table(Token)} t JOIN {table(user_model)} u "
            f"ON u.{q('id')} = t.{column(Token, 'user')} WHERE t.{column(Token, 'key')} = %s"
        )
    return f"SELECT {users}, {roles} FROM {table(user_model)} u WHERE u.{q('id')} = %s"


def users_with_roles(*, key: str | None = None, user_id=None):
    """The user of token `key` (or of `user_id`) with their roles (see roles_sql), as a
    list of zero or one."""
    user_model = get_user_model()
    connection = connections[router.db_for_read(user_model)]
    sql = roles_sql(connection.vendor, by_token=key is not None)
    return list(
        user_model.objects.raw(
            sql, [SEPARATOR, SEPARATOR, SEPARATOR, key if key is not None else user_id]
        )
    )


def _split(joined: str | None) -> set[str]:
    return set(joined.split(SEPARATOR)) if joined else set()


def attach_roles(user, row) -> None:
    """Give `user` the roles read in `row` (see roles_sql) as the caches ModelBackend
    fills on its first check (its `_user_perm_cache`, `_group_perm_cache` and
    `_perm_cache`), so `user.has_perm` asks the database nothing more."""
    setattr(user, ROLE_NAMES, _split(row.role_groups))
    if not user.is_active or user.is_superuser:
        return  # has_perm answers these without ModelBackend
    own = _split(row.role_user_permissions)
    of_groups = _split(row.role_group_permissions)
    user._user_perm_cache = own
    user._group_perm_cache = of_groups
    user._perm_cache = own | of_groups


def load_roles(user) -> None:
    """One query for the roles of a user who came without them (a browser session)."""
    rows = users_with_roles(user_id=user.pk)
    if not rows:
        setattr(user, ROLE_NAMES, set())
        return
    attach_roles(user, rows[0])


def role_names(user) -> set[str]:
    """The user's group names: from the request's one query when it read them."""
    if not hasattr(user, ROLE_NAMES):
        load_roles(user)
    return getattr(user, ROLE_NAMES)


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, with the user's roles in the same query."""

    def authenticate_credentials(self, key):
        users = users_with_roles(key=key)
        if not users:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        [user] = users
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        attach_roles(user, user)
        # The token as DRF hands it on (request.auth): its key and user; the project
        # reads nothing else of it.
        token = Token(key=key, user=user)
        token._state.adding = False
        return (user, token)
