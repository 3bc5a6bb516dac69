"""The Django database settings for the register's database URL (SQLAlchemy form), so the
service and the pipeline share one database: Alembic owns the register's tables, Django its own."""
from __future__ import annotations

from django.conf import settings
from sqlalchemy.engine import make_url

from register import open_register


def django_database(url: str) -> dict:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.database or ":memory:",
                "OPTIONS": {"timeout": 60}}
    if parsed.get_backend_name() == "postgresql":
        return {"ENGINE": "django.db.backends.postgresql", "NAME": parsed.database, "USER": parsed.username or "",
                "PASSWORD": parsed.password or "", "HOST": parsed.host or "", "PORT": str(parsed.port or ""),
                "CONN_MAX_AGE": 60}
    raise ValueError(f"the casework service runs on SQLite or PostgreSQL, not {parsed.get_backend_name()}")


def register_engine():
    """The register database's engine for the service's requests (the same database as Django's)."""


    return open_register(settings.DB_URL)
