"""provider status: each provider's cadence, due date, lateness and staleness; CME flags say
which stale rolls they rest on

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'provider_status',
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('feed', sa.String(length=16), nullable=True),
        sa.Column('la_code', sa.String(length=3), nullable=True),
        sa.Column('last_extract', sa.Date(), nullable=True),
        sa.Column('last_received', sa.DateTime(), nullable=True),
        sa.Column('extracts', sa.Integer(), nullable=False),
        sa.Column('cadence_days', sa.Integer(), nullable=False),
        sa.Column('cadence_source', sa.String(length=12), nullable=False),
        sa.Column('due', sa.Date(), nullable=True),
        sa.Column('late', sa.Boolean(), nullable=False),
        sa.Column('stale', sa.Boolean(), nullable=False),
        sa.Column('checked_on', sa.Date(), nullable=False),
        sa.Column('alerted_due', sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint('provider', name=op.f('pk_provider_status')),
    )
    with op.batch_alter_table('cme_flags') as batch:
        batch.add_column(sa.Column('stale_rolls', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cme_flags') as batch:
        batch.drop_column('stale_rolls')
    op.drop_table('provider_status')
