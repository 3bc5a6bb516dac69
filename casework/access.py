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
ROLES = (ANALYST, CME_OFFICER, AUTHORITY_ADMIN, SHIELDED_ACCESS, SYSTEM_ADMIN)


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
