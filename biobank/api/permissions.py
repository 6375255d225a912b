"""Who may call what: Django model permissions of the role groups (biobank/roles.py).

The order of the checks is chosen so that nobody learns anything about an
endpoint they may not read:

1. anonymous: 401 on everything;
2. without the endpoint's *view* permission (an analyst on the sample chain, a
   technician on identities): 403 whatever the method;
3. a method the endpoint does not offer: 405;
4. a write without its permission (`add` for create, `change` for update and
   actions unless the action names another, `delete` for delete): 403.

Identity endpoints additionally need membership of the curator group (or a
superuser), so a stray permission granted in the admin cannot open them.

The user's groups and permissions come with the token (biobank.api.authentication):
checking them asks the database nothing more.
"""

from __future__ import annotations

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import SAFE_METHODS, BasePermission

from biobank.roles import CURATOR

from .authentication import ROLE_NAMES, load_roles, role_names

WRITE_ACTIONS = {
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


def model_permission(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def is_curator(user) -> bool:
    return bool(
        user
        and user.is_authenticated
        and (user.is_superuser or CURATOR in role_names(user))
    )


class RolePermission(BasePermission):
    """Model permissions with view enforced for reads (see the module docstring).

    A view may set `read_permission` (default: view_<model of its queryset>) and an
    action may set `write_permission` (`@action(..., write_permission="app.perm")`).
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not hasattr(user, ROLE_NAMES):
            load_roles(user)  # a browser session: one query, not ModelBackend's two
        if not user.has_perm(self.read_permission(view)):
            return False
        if request.method not in view.allowed_methods and request.method != "OPTIONS":
            raise MethodNotAllowed(request.method)
        if request.method in SAFE_METHODS:
            return True
        needed = self.write_permission(view)
        return needed is not None and user.has_perm(needed)

    @staticmethod
    def read_permission(view) -> str:
        explicit = getattr(view, "read_permission", None)
        if explicit:
            return explicit
        return model_permission(view.get_queryset().model, "view")

    @staticmethod
    def write_permission(view) -> str | None:
        explicit = getattr(view, "write_permission", None)
        if explicit:
            return explicit
        action = WRITE_ACTIONS.get(getattr(view, "action", None) or "")
        if action is None:
            # An extra action without its own permission changes the object.
            action = "change" if getattr(view, "action", None) else None
        if action is None:
            return None
        return model_permission(view.get_queryset().model, action)


class CuratorOnly(BasePermission):
    """Identity data: the curator group (or a superuser), on top of RolePermission."""

    def has_permission(self, request, view) -> bool:
        return is_curator(request.user)
