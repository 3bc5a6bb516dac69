"""case work: a case's officer, next action and due date, what closing it found, and each
authority's timescales for the steps of a case

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cme_cases') as batch:
        batch.add_column(sa.Column('officer', sa.String(length=150), nullable=True))
        batch.add_column(sa.Column('next_action', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('found_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('found_at', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('found_evidence', sa.Text(), nullable=True))
    op.create_table(
        'case_timescales',
        sa.Column('la_code', sa.String(length=3), nullable=False),
        sa.Column('step', sa.String(length=32), nullable=False),
        sa.Column('working_days', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('la_code', 'step', name=op.f('pk_case_timescales')),
    )


def downgrade() -> None:
    op.drop_table('case_timescales')
    with op.batch_alter_table('cme_cases') as batch:
        for column in ('found_evidence', 'found_at', 'found_on', 'due_on', 'next_action', 'officer'):
            batch.drop_column(column)
