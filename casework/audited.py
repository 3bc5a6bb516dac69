"""What the service writes to the audit log (oversight.audit): every look at a child's data,
every decision, note, outcome and administrative action, every sign-in, failed sign-in,
lockout and sign-out, with who, when, from where, which children and why."""
from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from casework.database import register_engine
from casework.users import shown_name
from oversight import record


def client_address(request) -> str | None:
    """The client's address: the peer's, or, when the peer is a trusted reverse proxy
    (settings.ROLLCALL_TRUSTED_PROXIES, from the environment), the one the proxy says it served."""
    if request is None:
        return None
    return forwarded_client(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"),
                            settings.ROLLCALL_TRUSTED_PROXIES)


def forwarded_client(peer: str | None, forwarded_for: str | None, trusted: set[str]) -> str | None:
    """Walk X-Forwarded-For from the right through trusted proxies only: the first address a
    trusted proxy did not add itself is the client (anything further left the client could
    have written)."""
    if peer not in trusted or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return peer


def audited(request, action: str, children: Iterable[str] = (), detail: dict | None = None,
            reason: str | None = None) -> int:
    user = getattr(request, "user", None)
    actor = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    return record(register_engine(), actor, action, children=children, detail=detail, reason=reason,
                  source=client_address(request))


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    record(register_engine(), user.get_username(), "sign_in", source=client_address(request))


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    name = shown_name(str((credentials or {}).get("username") or ""))[:150] or "(no user name)"
    record(register_engine(), name, "sign_in_failed", source=client_address(request))


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        record(register_engine(), user.get_username(), "sign_out", source=client_address(request))


def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    record(register_engine(), shown_name(str(username or ""))[:150] or "(no user name)", "locked_out",
           source=client_address(request) or ip_address)


def connect() -> None:
    """Called once the apps are ready: django-axes's lockout signal."""
    # After the apps are ready: django-axes's signals import its models.
    from axes.signals import user_locked_out

    user_locked_out.connect(_locked_out, dispatch_uid="rollcall-audit-locked-out")
