"""Django settings for the casework service, from the environment: ROLLCALL_DB_URL (the
register database), ROLLCALL_SECRET_KEY (else a key file made once, owner-only, beside the
database), ROLLCALL_ALLOWED_HOSTS, ROLLCALL_HTTPS (set behind a TLS reverse proxy), ROLLCALL_TRUSTED_PROXIES,
ROLLCALL_LIST_PAGE_SIZE (rows a page of a work list, 100);
and the rooms' settings (ROLLCALL_AUDIT_*, ROLLCALL_ACCESS_*, ROLLCALL_RETAIN_*, ROLLCALL_ALERT*)."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from casework.database import django_database
from register import DEFAULT_URL, private_file

BASE_DIR = Path(__file__).resolve().parent
ROOT = BASE_DIR.parent
DB_URL = os.environ.get("ROLLCALL_DB_URL", DEFAULT_URL)


def _secret_key() -> str:
    if os.environ.get("ROLLCALL_SECRET_KEY"):
        return os.environ["ROLLCALL_SECRET_KEY"]
    path = Path(os.environ.get("ROLLCALL_SECRET_KEY_FILE", ROOT / "var" / "casework-secret-key"))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    private_file(path)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = False
HTTPS = os.environ.get("ROLLCALL_HTTPS", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("ROLLCALL_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
# Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses).
ROLLCALL_LIST_PAGE_SIZE = max(1, int(os.environ.get("ROLLCALL_LIST_PAGE_SIZE", "100")))
ROLLCALL_TRUSTED_PROXIES = {a.strip() for a in os.environ.get("ROLLCALL_TRUSTED_PROXIES", "").split(",") if a.strip()}
# The rooms' own settings (the audit log's key and anchor, access limits, retention, alert routes),
# read here once and handed to them when the app is ready (casework.apps).
ROLLCALL_ENVIRON = {k: v for k, v in os.environ.items() if k.startswith("ROLLCALL_")}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "casework",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "casework.middleware.NeverCache",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]
ROOT_URLCONF = "casework.urls"
WSGI_APPLICATION = "casework.wsgi.application"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
        "casework.roles.roles_context",
    ]},
}]
DATABASES = {"default": django_database(DB_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "sign-in"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "sign-in"

# Sessions end after 15 idle minutes (each request renews them) and when the browser closes.
SESSION_COOKIE_AGE = 15 * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Lockout (django-axes): five failed sign-ins for a user name lock it for 30 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "casework/locked_out.html"
AXES_VERBOSE = False
# One-time codes (django-otp): repeated wrong codes slow the device down further each time.
OTP_TOTP_ISSUER = "Rollcall"
OTP_TOTP_THROTTLE_FACTOR = 1

# Content Security Policy (django-csp): this service's own files only, no inline script.
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": ["'self'"], "script-src": ["'self'"], "style-src": ["'self'"], "img-src": ["'self'", "data:"],
    "font-src": ["'self'"], "form-action": ["'self'"], "frame-ancestors": ["'none'"], "base-uri": ["'none'"],
}}

STATIC_URL = "/static/"
STATIC_ROOT = ROOT / "var" / "casework-static"
# GOV.UK Frontend's built files, installed from npm by bin/setup.
STATICFILES_DIRS = [("govuk", ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk")]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = False
USE_TZ = True
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           # Request logs carry paths with child ids, never query results.
           "loggers": {"django": {"handlers": ["console"], "level": "WARNING"}}}
# GOV.UK Frontend's stylesheet asks for its fonts and images at /assets/.
WHITENOISE_ROOT = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
