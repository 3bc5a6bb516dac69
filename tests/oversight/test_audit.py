"""The audit log: append-only for everyone, hash-chained, signed at checkpoints, and
`rollcall audit verify` names the first entry that is not as written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

import oversight.audit as audit
from pipelines.environment import configure_rooms
from register.db import open_register

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.attacks  # each test is an attack on the log, or the defence it meets


@pytest.fixture
def logged(db_url, tmp_path, monkeypatch):
    """A register with ten audit entries and a checkpoint every three."""
    monkeypatch.setenv("ROLLCALL_AUDIT_KEY_FILE", str(tmp_path / "audit-key"))
    configure_rooms()  # an edge reads the environment; here the test is the edge
    monkeypatch.setenv("ROLLCALL_AUDIT_CHECKPOINT_EVERY", "3")
    configure_rooms()
    engine = open_register(db_url)
    for i in range(10):
        audit.record(engine, f"user{i % 3}", "view_child", children=[f"RC{i:010d}"], detail={"page": "child"},
                     source="127.0.0.1")
    return engine


def verdict(engine):
    return audit.verify(engine, audit.load_public_key(audit.key_file()))


def tamper(engine, *statements: str) -> None:
    """What an attacker holding the tables' owner could do: lift the triggers and change rows."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in ("audit_log", "audit_children", "audit_checkpoints"):
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            for table in ("audit_log", "audit_children", "audit_checkpoints"):
                for what in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{what}"))
        for statement in statements:
            conn.execute(text(statement) if isinstance(statement, str) else statement)


def cli_verify(engine) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "audit", "verify", "--db",
                           engine.url.render_as_string(hide_password=False), "--key", str(audit.key_file())],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_a_log_as_written_verifies_with_its_signed_checkpoints(logged):
    found = verdict(logged)
    assert found.ok and found.entries == 10 and found.checkpoints == 3, found
    assert oct(audit.key_file().stat().st_mode & 0o777) == "0o600", "the signing key is its owner's only"
    assert audit.checkpoint(logged) == 10 and audit.checkpoint(logged) is None
    done = cli_verify(logged)
    assert done.returncode == 0 and "10 entries and 4 signed checkpoints" in done.stdout, done.stderr
    assert [e["id"] for e in audit.entries(logged, child_id="RC0000000004")] == [5]
    assert [e["id"] for e in audit.entries(logged, actor="user1")] == [8, 5, 2]


def test_no_one_can_update_or_delete_an_entry(logged):
    for statement in ("UPDATE audit_log SET actor = 'someone' WHERE id = 2", "DELETE FROM audit_log WHERE id = 2",
                      "DELETE FROM audit_children WHERE entry_id = 2", "DELETE FROM audit_checkpoints"):
        with pytest.raises(Exception, match="append-only"), logged.begin() as conn:
            conn.execute(text(statement))
    assert verdict(logged).ok


def test_an_altered_entry_is_named(logged):
    tamper(logged, "UPDATE audit_log SET actor = 'someone else' WHERE id = 4")
    done = cli_verify(logged)
    assert done.returncode == 1 and "FAILED at entry 4: entry 4 was altered" in done.stderr, done.stderr


def test_a_deleted_entry_is_named(logged):
    tamper(logged, "DELETE FROM audit_children WHERE entry_id = 5", "DELETE FROM audit_log WHERE id = 5")
    found = verdict(logged)
    assert found.entry_id == 5 and "missing" in found.problem


def test_an_entry_inserted_with_a_rewritten_chain_is_caught_by_the_checkpoints(logged):
    """The attacker inserts an entry after entry 4 and recomputes every hash after it (the chain
    alone cannot stop that); the checkpoint that signed entry 6 no longer matches."""
    from sqlalchemy import select

    from register.models import AuditChild, AuditEntry

    with logged.connect() as conn:
        rows = conn.execute(select(AuditEntry).where(AuditEntry.id > 4).order_by(AuditEntry.id)).all()
        prev = conn.execute(select(AuditEntry.hash).where(AuditEntry.id == 4)).scalar()
    forged = [(5, rows[0].at, "user1", "127.0.0.1", "view_child", None, None, None)]
    forged += [(r.id + 1, r.at, r.actor, r.source, r.action, r.children, r.detail, r.reason) for r in rows]
    statements = ["DELETE FROM audit_children WHERE entry_id > 4", "DELETE FROM audit_log WHERE id > 4"]
    for entry_id, at, actor, source, action, children, detail, reason in forged:
        digest = audit.entry_hash(prev, entry_id, at, actor, source, action, children, detail, reason)
        statements.append(AuditEntry.__table__.insert().values(
            id=entry_id, at=at, actor=actor, source=source, action=action, children=children, detail=detail,
            reason=reason, prev_hash=prev, hash=digest))
        if children:
            statements.append(AuditChild.__table__.insert().values(entry_id=entry_id, child_id=children))
        prev = digest
    statements.append(f"UPDATE audit_head SET entry_id = 11, hash = '{prev}'")
    tamper(logged, *statements)
    found = verdict(logged)
    assert not found.ok and found.entry_id == 4 and "from 4 to 6" in found.problem, found


def test_an_entry_added_outside_the_chain_is_named(logged):
    tamper(logged, "INSERT INTO audit_log (id, at, actor, source, action, prev_hash, hash) VALUES "
                   f"(11, '2026-11-30 04:00:00', 'intruder', NULL, 'view_child', '{'0' * 64}', '{'1' * 64}')")
    found = verdict(logged)
    assert found.entry_id == 11 and "does not follow" in found.problem


def test_entries_cut_from_the_end_are_found(logged):
    tamper(logged, "DELETE FROM audit_children WHERE entry_id > 8", "DELETE FROM audit_log WHERE id > 8")
    found = verdict(logged)
    assert found.entry_id == 9 and "deleted" in found.problem, found


def rewrite_without(engine, actor: str) -> list[str]:
    """The statements of the attack the third security review made: delete every checkpoint,
    delete one user's entries, number and chain the rest again, and move the head."""
    from sqlalchemy import select

    from register.models import AuditEntry

    with engine.connect() as conn:
        kept = [r for r in conn.execute(select(AuditEntry).order_by(AuditEntry.id)) if r.actor != actor]
        children = {r.id: r.children for r in kept}
    statements = ["DELETE FROM audit_checkpoints", "DELETE FROM audit_children", "DELETE FROM audit_log"]
    prev = audit.GENESIS
    for new_id, r in enumerate(kept, 1):
        digest = audit.entry_hash(prev, new_id, r.at, r.actor, r.source, r.action, children[r.id], r.detail, r.reason)
        statements.append(AuditEntry.__table__.insert().values(
            id=new_id, at=r.at, actor=r.actor, source=r.source, action=r.action, children=children[r.id],
            detail=r.detail, reason=r.reason, prev_hash=prev, hash=digest))
        for child in (children[r.id] or "").split():
            statements.append(text(f"INSERT INTO audit_children (entry_id, child_id) VALUES ({new_id}, '{child}')"))
        prev = digest
    statements.append(text(f"UPDATE audit_head SET entry_id = {len(kept)}, hash = '{prev}'"))
    return statements


def test_a_log_rewritten_without_its_checkpoints_is_caught_by_the_anchor_outside_the_database(logged):
    anchor = audit.anchor_file(logged)
    lines = anchor.read_text().splitlines()
    assert len(lines) == 3 and oct(anchor.stat().st_mode & 0o777) == "0o600", "every checkpoint copied, owner-only"
    tamper(logged, *rewrite_without(logged, "user1"))
    done = cli_verify(logged)
    assert done.returncode == 1 and "outside the database" in done.stderr, done.stderr
    assert "all as written" not in done.stdout


def test_a_log_rewritten_without_its_checkpoints_or_its_anchor_fails_the_checkpoint_policy(logged):
    audit.anchor_file(logged).unlink()
    tamper(logged, *rewrite_without(logged, "user1"))
    found = verdict(logged)  # as the register's writers have it: a checkpoint every 3 entries
    assert not found.ok and "went without a checkpoint" in found.problem and found.entry_id == 1, found
    assert found.entries == 7 and found.checkpoints == 0


def test_unsigned_entries_older_than_a_day_fail_and_a_days_old_checkpoint_brings_a_new_one(logged, monkeypatch):
    from datetime import timedelta

    assert verdict(logged).ok  # entry 10 is unsigned, but new
    later = audit.utc_now() + timedelta(hours=26)
    key = audit.load_public_key(audit.key_file())
    found = audit.verify(logged, key, now=later)
    assert not found.ok and "unsigned since" in found.problem and found.entry_id == 10, found
    monkeypatch.setattr(audit, "utc_now", lambda: later)  # a day after the newest checkpoint
    assert audit.record(logged, "user0", "view_child") == 11
    found = audit.verify(logged, key, now=later)
    assert found.ok and found.checkpoints == 4, "a day since the last checkpoint: the entry is signed at once"


def test_a_checkpoint_signed_with_another_key_is_refused(logged, tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLCALL_AUDIT_KEY_FILE", str(tmp_path / "another-key"))
    configure_rooms()  # an edge reads the environment; here the test is the edge
    audit.record(logged, "user0", "view_child")
    audit.record(logged, "user0", "view_child")  # entry 12: signed with the other key
    monkeypatch.setenv("ROLLCALL_AUDIT_KEY_FILE", str(tmp_path / "audit-key"))
    configure_rooms()  # an edge reads the environment; here the test is the edge
    found = verdict(logged)
    assert found.entry_id == 12 and "not signed by this key" in found.problem


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_services_postgresql_role_can_insert_and_read_the_log_but_never_change_it(logged, db_url):
    role = "rollcall_service_" + db_url.rsplit("_", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "db", "grant", role, "--db", db_url],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
        as_service = db_url.replace("postgres@", f"{role}@")
        service = open_register(as_service)
        assert audit.entries(service)[0]["action"] == "db_grant", "the grant itself is on the record"
        assert audit.record(service, "ava", "view_child", children=["RC0000000001"]) == 12
        assert len(audit.entries(service)) == 12
        for statement in ("UPDATE audit_log SET actor = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1",
                          "DELETE FROM audit_children", "UPDATE audit_checkpoints SET signature = ''",
                          "UPDATE audit_head SET entry_id = 1", "DELETE FROM audit_head",
                          "UPDATE alembic_version SET version_num = '0001'"):
            with pytest.raises(Exception, match="permission denied"), service.begin() as conn:
                conn.execute(text(statement))
        with service.begin() as conn:  # and the register's other tables as usual
            conn.execute(text("UPDATE register_state SET value = value WHERE name = 'nothing'"))
        service.dispose()
        open_register.cache_clear()
        assert verdict(logged).ok
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            name = db_url.rsplit("/", 1)[1]
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as inside:
                inside.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_the_client_address_behind_a_trusted_proxy_is_the_one_the_proxy_saw():
    from casework.audited import forwarded_client

    proxy = {"10.0.0.5"}
    assert forwarded_client("203.0.113.9", "1.2.3.4", proxy) == "203.0.113.9", "an untrusted peer says nothing"
    assert forwarded_client("10.0.0.5", "198.51.100.7", proxy) == "198.51.100.7"
    assert forwarded_client("10.0.0.5", "6.6.6.6, 198.51.100.7", proxy) == "198.51.100.7", "not what the client wrote"
    assert forwarded_client("10.0.0.5", None, proxy) == "10.0.0.5"
