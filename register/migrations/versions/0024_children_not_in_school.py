"""children not in school: contract 1.2's pupil arrangements and authority register items on
source records, the register's entries and the duties on them

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 01:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source_records') as batch:
        batch.add_column(sa.Column('arrangement', sa.String(length=12), nullable=True))
        batch.add_column(sa.Column('hours_elsewhere', sa.Float(), nullable=True))
        batch.add_column(sa.Column('register_items', sa.Text(), nullable=True))
    op.create_table(
        'cnis_entries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('child_id', sa.String(length=16), nullable=False),
        sa.Column('la_code', sa.String(length=3), nullable=False),
        sa.Column('basis', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.String(length=32), nullable=True),
        sa.Column('hours_elsewhere', sa.Float(), nullable=True),
        sa.Column('started_on', sa.Date(), nullable=False),
        sa.Column('basis_since', sa.Date(), nullable=True),
        sa.Column('ended_on', sa.Date(), nullable=True),
        sa.Column('end_reason', sa.String(length=24), nullable=True),
        sa.Column('ended_at_school', sa.String(length=7), nullable=True),
        sa.Column('extra_items', sa.Text(), nullable=True),
        sa.Column('version', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cnis_entries')),
    )
    op.create_index('ix_cnis_entries_child_id', 'cnis_entries', ['child_id'])
    op.create_index('ix_cnis_entries_la_code_ended_on', 'cnis_entries', ['la_code', 'ended_on'])
    op.create_table(
        'cnis_steps',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('la_code', sa.String(length=3), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('opened_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=True),
        sa.Column('done_on', sa.Date(), nullable=True),
        sa.Column('outcome', sa.String(length=24), nullable=True),
        sa.Column('provider_key', sa.String(length=64), nullable=True),
        sa.Column('provider_name', sa.Text(), nullable=True),
        sa.Column('author', sa.String(length=150), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['entry_id'], ['cnis_entries.id'], name=op.f('fk_cnis_steps_entry_id_cnis_entries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cnis_steps')),
    )
    op.create_index('ix_cnis_steps_entry_id', 'cnis_steps', ['entry_id'])
    op.create_index('ix_cnis_steps_la_code_provider_key', 'cnis_steps', ['la_code', 'provider_key'])


def downgrade() -> None:
    op.drop_table('cnis_steps')
    op.drop_table('cnis_entries')
    with op.batch_alter_table('source_records') as batch:
        for column in ('register_items', 'hours_elsewhere', 'arrangement'):
            batch.drop_column(column)
