"""What every command shares: the register's URL (--db, from ROLLCALL_DB_URL), refusing a register that is
not there, dates on the command line, and the audit entry an operator's command writes."""
from __future__ import annotations

# Imports inside functions, said once: the audit entry loads the audit log's code only when a command
# writes one.
import argparse
import os
import sys
from datetime import date
from pathlib import Path

from register import DEFAULT_URL, open_register


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all
        return "(an unreadable URL)"


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


def register_exists(url: str) -> bool:
    """An existing register: reading one must never create an empty one by accident."""
    from sqlalchemy import create_engine, inspect

    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path != ":memory:" and not Path(path).is_file():
            return False
    engine = create_engine(url, hide_parameters=True)
    try:
        return inspect(engine).has_table("files")
    except Exception:  # noqa: BLE001 - an unreachable database is not a register we can read
        return False
    finally:
        engine.dispose()


def db_option(parser, help_text: str = "the register database URL (SQLite or PostgreSQL)") -> None:
    """Every command's --db: by default ROLLCALL_DB_URL, so a PostgreSQL password stays out of
    the process list (or in PGPASSWORD or ~/.pgpass); else the local SQLite register."""
    parser.add_argument("--db", default=os.environ.get("ROLLCALL_DB_URL") or DEFAULT_URL,
                        help=f"{help_text} (default: ROLLCALL_DB_URL, else {DEFAULT_URL})")


def existing_register(command: str, url: str):
    """The engine of an existing register, or None having said there is none."""
    if not register_exists(url):
        print(f"rollcall {command}: no register at {safe_url(url)}; give --db the register's URL", file=sys.stderr)
        return None
    return open_register(url)


def audit_cli(engine, action: str, children=(), detail: dict | None = None) -> None:
    """An operator's command in the audit log: the operating-system user, from the command line."""
    import getpass

    from oversight import record

    record(engine, "cli:" + getpass.getuser(), action, children=children, detail=detail, source="cli")
