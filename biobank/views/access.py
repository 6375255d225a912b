"""Who may open a page: logged in first (else the login page), then the permission
the page needs (else 403, never a redirect loop back to the login page)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required

IDENTITY_PERMISSION = "biobank.view_patientidentity"


def needs(*permissions: str):
    """Decorator: login required, then every named model permission."""

    def decorate(view):
        return login_required(permission_required(permissions, raise_exception=True)(view))

    return decorate


def may_see_identities(user) -> bool:
    return user.has_perm(IDENTITY_PERMISSION)
