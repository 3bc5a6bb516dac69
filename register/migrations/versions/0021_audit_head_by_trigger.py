"""audit head: moved by the database as each entry is added, never by the service

The head (the newest entry's id and hash) follows each insert into audit_log by a trigger, so
the service's PostgreSQL role needs no right to update or delete it (rollcall db grant gives
it SELECT only): on PostgreSQL the trigger's function runs as its owner (SECURITY DEFINER).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 14:00:00
"""
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION rollcall_audit_head_follows() RETURNS trigger LANGUAGE plpgsql "
                   "SECURITY DEFINER SET search_path = pg_catalog, public AS $$ "
                   "BEGIN UPDATE audit_head SET entry_id = NEW.id, hash = NEW.hash WHERE id = 1; RETURN NEW; END $$")
        op.execute("REVOKE ALL ON FUNCTION rollcall_audit_head_follows() FROM PUBLIC")
        op.execute("CREATE TRIGGER audit_log_head_follows AFTER INSERT ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION rollcall_audit_head_follows()")
    else:
        op.execute("CREATE TRIGGER audit_log_head_follows AFTER INSERT ON audit_log "
                   "BEGIN UPDATE audit_head SET entry_id = NEW.id, hash = NEW.hash WHERE id = 1; END")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_head_follows" +
               (" ON audit_log" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS rollcall_audit_head_follows()")
