"""Shared fixtures: register databases on SQLite and on the PostgreSQL server on 127.0.0.1:5432
(a fresh database per test), synthetic landing folders, and helpers to drop extracts."""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest

from synth.generate import generate

PG_ADMIN = os.environ.get("ROLLCALL_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
AS_OF = date(2026, 11, 2)


@pytest.fixture
def pg_url():
    name = f"rollcall_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from pipelines.resources import _engine
    _engine.cache_clear()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'register.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'register.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def landing(tmp_path) -> Path:
    """About 300 children from three authorities, as delivery folders, with truth beside."""
    root = tmp_path / "landing"
    generate(root, tmp_path / "truth", children=300, seed=3, extract_date=AS_OF)
    return root


def drop_extract(landing: Path, account: str, name: str, data: bytes, sidecar: bool | str = True) -> Path:
    inbox = landing / account / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(data)
    if sidecar:
        digest = sidecar if isinstance(sidecar, str) else hashlib.sha256(data).hexdigest()
        (inbox / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    return inbox / name


def school_csv(rows: list[dict], extra_header: str = "") -> bytes:
    cols = ["upn", "surname", "forename", "dob", "sex", "entry_date", "enrol_status", "leaving_date",
            "leaving_reason", "postcode"]
    lines = [",".join(cols) + extra_header]
    for r in rows:
        lines.append(",".join(str(r.get(c, "")) for c in cols) + ("," + r.get("_extra", "") if extra_header else ""))
    return ("\r\n".join(lines) + "\r\n").encode()


def make_upn(laestab: str, serial: int, year: int = 20) -> str:
    from schemas.identifiers import upn_check_letter
    body = f"{laestab}{year:02d}{serial:03d}"
    return upn_check_letter(body) + body


def receipt(landing: Path, account: str, name: str) -> dict:
    return json.loads((landing / account / "outbox" / f"{name}.receipt.json").read_text())
