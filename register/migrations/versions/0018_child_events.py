"""child events: every change to a register child, with its time and cause

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'child_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('child_id', sa.String(length=16), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('record_key', sa.Text(), nullable=True),
        sa.Column('other_child_id', sa.String(length=16), nullable=True),
        sa.Column('cause', sa.Text(), nullable=False),
        sa.Column('decision_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_child_events')),
    )
    op.create_index('ix_child_events_child_id', 'child_events', ['child_id'])
    op.create_index('ix_child_events_record_key', 'child_events', ['record_key'])


def downgrade() -> None:
    op.drop_index('ix_child_events_record_key', table_name='child_events')
    op.drop_index('ix_child_events_child_id', table_name='child_events')
    op.drop_table('child_events')
