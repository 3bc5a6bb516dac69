"""audit log: append-only, hash-chained entries, their children, signed checkpoints, the head

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 04:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
APPEND_ONLY = ("audit_log", "audit_children", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor', sa.String(length=150), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=True),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('children', sa.Text(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index('ix_audit_log_actor_at', 'audit_log', ['actor', 'at'])
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_table(
        'audit_children',
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('child_id', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('entry_id', 'child_id', name=op.f('pk_audit_children')),
    )
    op.create_index('ix_audit_children_child_id', 'audit_children', ['child_id'])
    op.create_table(
        'audit_checkpoints',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('entry_hash', sa.String(length=64), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('signature', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
    )
    head = op.create_table(
        'audit_head',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head')),
    )
    op.bulk_insert(head, [{"id": 1, "entry_id": 0, "hash": GENESIS}])
    # Append-only for everyone, the tables' owner included: an update or a delete is refused.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION rollcall_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME; END $$")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION rollcall_append_only()")
    else:
        for table in APPEND_ONLY:
            for what in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS rollcall_append_only()")
    op.drop_table('audit_head')
    op.drop_table('audit_checkpoints')
    op.drop_index('ix_audit_children_child_id', table_name='audit_children')
    op.drop_table('audit_children')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_index('ix_audit_log_actor_at', table_name='audit_log')
    op.drop_table('audit_log')
