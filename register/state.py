"""Named values kept between runs in the register database; never personal data."""
from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from register.clock import utc_now
from register.models import RegisterState


def get_state(engine, name: str) -> str | None:
    with Session(engine) as s:
        row = s.get(RegisterState, name)
        return row.value if row else None


def set_state(engine, name: str, value: str) -> None:
    with Session(engine) as s:
        row = s.get(RegisterState, name) or RegisterState(name=name)
        row.value, row.updated_at = value, utc_now()
        s.add(row)
        s.commit()


def fingerprint(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\x1f")
    return h.hexdigest()
