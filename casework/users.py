"""Operator commands behind `rollcall users` and `rollcall serve`: Django is set up on the
register's database (its own tables migrated, the register's by Alembic), users are made with a
password (Django's hashing) and a TOTP device (django-otp), never by hand."""
from __future__ import annotations

# Imports inside functions, said once: Django's models and auth load only after setup() (here, from
# the command line), never at import.
import base64
import os


def setup(db_url: str) -> None:
    """Django on this register database, with both sets of tables up to date."""
    os.environ["ROLLCALL_DB_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")
    import django
    from django.core.management import call_command

    from register import open_register

    open_register(db_url)  # the register's tables (Alembic)
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)  # the service's own tables


class UserError(Exception):
    """A user command that cannot be done; the message says why and is safe to print."""


def user_name(name: str) -> str:
    """A new user's name as it is kept: NFKC-normalised (a fullwidth ａ881 is a881), of letters,
    digits and . _ - @ only, and refused when it could pass for another name: characters of
    another script that look like Latin ones (a Cyrillic а in а881), or a mix of scripts
    (Unicode's confusables, TR39)."""
    import unicodedata

    from confusable_homoglyphs import confusables

    name = unicodedata.normalize("NFKC", name).strip()
    if not name or len(name) > 150 or not all(c.isalnum() or c in "._-@" for c in name):
        raise UserError("a user name is 1 to 150 letters, digits and . _ - @")
    if confusables.is_dangerous(name) or confusables.is_confusable(name, preferred_aliases=["latin", "common"]):
        raise UserError("that user name has letters that look like others (as a Cyrillic а looks like a Latin a): "
                        "choose one that cannot pass for another name")
    return name


def shown_name(name: str) -> str:
    """A name typed at sign-in, as the audit log keeps it: NFKC-normalised, and anything outside
    printable ASCII written as its code point (\\u0430881), so a look-alike never reads as the
    user it imitates."""
    import unicodedata

    name = unicodedata.normalize("NFKC", name)
    return "".join(c if " " <= c <= "~" else f"\\u{ord(c):04x}" for c in name)[:150]


def add_user(name: str, password: str, roles: list[str], la_codes: list[str], surname: str = "") -> str:
    """Make a user with these roles and authorities and a TOTP device; return the device's
    otpauth:// URI, whose secret the user puts in an authenticator app."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.db import transaction
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from casework.models import AuthorityMembership
    from casework.roles import ROLES

    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise UserError(f"unknown role(s): {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    bad = [c for c in la_codes if not (len(c) == 3 and c.isdigit())]
    if bad:
        raise UserError("an authority is its 3-digit LA code")
    if not la_codes and not {"system_admin", "cme_coordinator"} & set(roles):
        raise UserError("give the user's authority with --la CODE (one or more)")
    name = user_name(name)
    users = get_user_model()
    if users.objects.filter(username__iexact=name).exists():
        raise UserError(f"there is already a user called {name} (or the same name in other capitals)")
    user = users(username=name, last_name=surname.strip()[:150])  # the same-surname access rule reads it
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise UserError("the password is not strong enough: " + " ".join(exc.messages)) from None
    with transaction.atomic():
        user.set_password(password)
        user.save()
        for role in roles:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        for code in sorted(set(la_codes)):
            AuthorityMembership.objects.create(user=user, la_code=code)
        device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=True)
    return device.config_url


def totp_secret(config_url: str) -> str:
    """The base32 secret inside an otpauth:// URI, for typing into an app."""
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(config_url).query)["secret"][0]


def list_users() -> list[str]:
    from django.contrib.auth import get_user_model

    from casework.roles import authorities_of, roles_of

    out = []
    for user in get_user_model().objects.order_by("username"):
        state = "active" if user.is_active else "disabled"
        out.append(f"{user.username}\t{state}\troles: {', '.join(sorted(roles_of(user))) or '-'}\t"
                   f"authorities: {', '.join(authorities_of(user)) or '-'}")
    return out


def disable_user(name: str) -> None:
    """Disable a user: they cannot sign in, and their open sessions end at their next request."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    users = get_user_model()
    user = users.objects.filter(username=name).first()
    if user is None:
        raise UserError(f"there is no user called {name}")
    user.is_active = False
    user.save(update_fields=["is_active"])
    for session in Session.objects.all():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()


def key_bytes(config_url: str) -> bytes:
    secret = totp_secret(config_url)
    return base64.b32decode(secret + "=" * (-len(secret) % 8))
