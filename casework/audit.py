"""What the service writes to the audit log (register.audit): every look at a child's data,
every decision, note, outcome and administrative action, every sign-in, failed sign-in,
lockout and sign-out, with who, when, from where, which children and why."""
from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from casework.database import register_engine
from register.audit import record


def client_address(request) -> str | None:
    """The client's address as the service saw it (behind a reverse proxy: the proxy's, unless
    the proxy is trusted to say, which gunicorn's forwarded-allow-ips governs)."""
    return request.META.get("REMOTE_ADDR") if request is not None else None


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
    name = str((credentials or {}).get("username") or "")[:150] or "(no user name)"
    record(register_engine(), name, "sign_in_failed", source=client_address(request))


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        record(register_engine(), user.get_username(), "sign_out", source=client_address(request))


def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    record(register_engine(), str(username or "")[:150] or "(no user name)", "locked_out",
           source=client_address(request) or ip_address)


def connect() -> None:
    """Called once the apps are ready: django-axes's lockout signal."""
    from axes.signals import user_locked_out

    user_locked_out.connect(_locked_out, dispatch_uid="rollcall-audit-locked-out")
