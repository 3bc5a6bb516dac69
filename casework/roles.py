"""Who may do what: roles are Django groups; every user works for one or more authorities.
Views ask here, on the server, for every page, search and export."""
from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from django_otp.decorators import otp_required

ANALYST = "analyst"
CME_OFFICER = "cme_officer"
AUTHORITY_ADMIN = "authority_admin"
SHIELDED_ACCESS = "shielded_access"
SYSTEM_ADMIN = "system_admin"
AUDITOR = "auditor"  # reads the audit log of their authorities: who looked at which child
ROLES = (ANALYST, CME_OFFICER, AUTHORITY_ADMIN, SHIELDED_ACCESS, SYSTEM_ADMIN, AUDITOR)
# Who may see, on a child's page, who has looked at the child.
SEES_WHO_LOOKED = (AUDITOR, AUTHORITY_ADMIN, SYSTEM_ADMIN)


def roles_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()


def authorities_of(user) -> list[str]:
    return sorted(user.authorities.values_list("la_code", flat=True)) if user.is_authenticated else []


def requires(*roles: str):
    """A signed-in user who has passed the second factor and holds one of these roles (any
    role when none is named)."""
    def decorate(view):
        @otp_required
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if roles and not (roles_of(request.user) & set(roles)):
                raise PermissionDenied
            return view(request, *args, **kwargs)
        return guarded
    return decorate


def roles_context(request) -> dict:
    """Template context: the signed-in user's roles (for the navigation)."""
    user = getattr(request, "user", None)
    return {"my_roles": roles_of(user) if user is not None else set()}
