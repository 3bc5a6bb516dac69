"""Who may do what: roles are Django groups; every user works for one or more authorities.
Views ask here, on the server, for every page, search and export."""
from __future__ import annotations

from functools import wraps

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django_otp.decorators import otp_required

ANALYST = "analyst"
CME_OFFICER = "cme_officer"
AUTHORITY_ADMIN = "authority_admin"
SHIELDED_ACCESS = "shielded_access"
SYSTEM_ADMIN = "system_admin"
AUDITOR = "auditor"  # reads the audit log of their authorities: who looked at which child
# System-wide: works the CME cases of children no source places in any authority (residence not
# known), finding where each lives.
CME_COORDINATOR = "cme_coordinator"
ROLES = (ANALYST, CME_OFFICER, AUTHORITY_ADMIN, SHIELDED_ACCESS, SYSTEM_ADMIN, AUDITOR, CME_COORDINATOR)

# Who may do what: each ability and the roles that give it (any one of them). Every view, menu
# link and in-page rule asks here by ability; nothing else names a role to decide access.
ABILITIES: dict[str, tuple[str, ...]] = {
    "see_children": (ANALYST, CME_OFFICER, AUDITOR),  # a child's page (within the caseload, or with a reason)
    "search_children": (ANALYST, CME_OFFICER),
    "review_matches": (ANALYST,),  # the review queue, pairs, records, joining and splitting a child
    "work_cases": (CME_OFFICER,),  # the CME list, cases, the DfE return
    "work_unowned_cases": (CME_COORDINATOR,),  # the cases of children no authority owns
    "open_cases": (CME_OFFICER, CME_COORDINATOR),  # a case page, a work list's CSV
    "set_timescales": (AUTHORITY_ADMIN,),  # the authority's timescales for the steps of a case
    "see_provider_status": (CME_OFFICER, ANALYST, AUTHORITY_ADMIN, SYSTEM_ADMIN),
    "read_the_audit_log": (AUDITOR, SYSTEM_ADMIN),
    "see_who_looked": (AUDITOR, AUTHORITY_ADMIN, SYSTEM_ADMIN),  # on a child's page
    "handle_access_alerts": (AUTHORITY_ADMIN, AUDITOR, SYSTEM_ADMIN),
    "suspend_users": (AUTHORITY_ADMIN, SYSTEM_ADMIN),  # from an access alert
    "manage_users": (AUTHORITY_ADMIN,),  # add and disable users of their own authorities
    "see_shielded_locations": (SHIELDED_ACCESS,),
    "see_every_authority": (SYSTEM_ADMIN,),  # the audit log and alerts of every authority
}
# The roles an authority administrator may give.
ASSIGNABLE_ROLES = (ANALYST, CME_OFFICER, AUTHORITY_ADMIN)


def roles_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()


def authorities_of(user) -> list[str]:
    return sorted(user.authorities.values_list("la_code", flat=True)) if user.is_authenticated else []


def officers_of(la_codes: list[str]) -> list[str]:
    """The user names of the active officers who may take a case of these authorities (a case
    no authority owns, la_code "", goes to a CME coordinator)."""
    people = get_user_model().objects.filter(is_active=True)
    found = set()
    if "" in la_codes:
        found |= set(people.filter(groups__name=CME_COORDINATOR).values_list("username", flat=True))
    found |= set(people.filter(groups__name=CME_OFFICER, authorities__la_code__in=[c for c in la_codes if c])
                 .values_list("username", flat=True))
    return sorted(found)


def case_authorities(user) -> list[str]:
    """The authorities whose cases the user works: their own, and "" (no authority known) for a
    CME coordinator."""
    return authorities_of(user) + ([""] if may(user, "work_unowned_cases") else [])


def may(user, ability: str) -> bool:
    return bool(roles_of(user) & set(ABILITIES[ability]))


def requires(ability: str | None):
    """A signed-in user who has passed the second factor and has this ability (None: any such
    user, as the home page asks)."""
    roles = set(ABILITIES[ability]) if ability else set()

    def decorate(view):
        @otp_required
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if roles and not (roles_of(request.user) & roles):
                # The page names the ability, never who holds it (casework/templates/403.html).
                raise PermissionDenied
            return view(request, *args, **kwargs)
        return guarded
    return decorate


def other_user_of_mine(actor, name: str, everyone: bool = False):
    """The user `name` when `actor` may act on them: another user who works for one of the
    actor's authorities (any other user, with `everyone`); else None. The one rule for disabling a
    user and for suspending one from an access alert."""
    if name == actor.get_username():
        return None
    found = get_user_model().objects.filter(username=name)
    if not everyone:
        found = found.filter(authorities__la_code__in=authorities_of(actor))
    return found.first()


def roles_context(request) -> dict:
    """Template context: what the signed-in user may do (for the navigation)."""
    user = getattr(request, "user", None)
    return {"may": {a: may(user, a) for a in ABILITIES} if user is not None else {}}
