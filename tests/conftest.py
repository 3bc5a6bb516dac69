"""Shared fixtures: register databases on SQLite and on the PostgreSQL server on 127.0.0.1:5432
(a fresh database per test), synthetic landing folders, and helpers to drop extracts."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest

from pipelines.environment import configure_rooms
from synth.extracts import generate
from tests.helpers import AS_OF, NEEDS

PG_ADMIN = os.environ.get("ROLLCALL_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
# The umask the tests were started with. Rollcall's entry points (the CLI's main, the Dagster
# definitions) make their process owner-only; a test calling them in-process must not leave the
# test session so for the next test's fixtures (an SFTP server's shared folders, say).
SESSION_UMASK = os.umask(0o022)
os.umask(SESSION_UMASK)


def pytest_collection_finish(session):
    os.umask(SESSION_UMASK)  # importing the definitions while collecting set it


@pytest.fixture(autouse=True)
def session_umask_after_each_test():
    yield
    os.umask(SESSION_UMASK)


@pytest.fixture(autouse=True, scope="session")
def audit_key_outside_the_checkout(tmp_path_factory):
    """The audit log's checkpoint key for the whole session (and the commands and services the
    tests start): a file of the session's, never the checkout's var/."""
    os.environ["ROLLCALL_AUDIT_KEY_FILE"] = str(tmp_path_factory.mktemp("audit") / "audit-signing-key")
    configure_rooms()
    yield


@pytest.fixture(autouse=True)
def rooms_configured_from_the_session_environment():
    """A test that sets a room's variable (and calls configure_rooms, as an edge would) leaves the
    next test the session's settings."""
    yield
    configure_rooms()


@pytest.fixture
def pg_url():
    name = f"rollcall_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from register.db import open_register
    open_register.cache_clear()
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


def pytest_collection_modifyitems(config, items):
    for item in items:
        wanted = {m for fixture in item.fixturenames for m in NEEDS.get(fixture, ())}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("db_url") == "postgresql":
            wanted.add("postgres")
        for marker in sorted(wanted):
            item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven by Playwright, for one test module."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch_chromium

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()
