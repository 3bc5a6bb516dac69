"""shield scope kept by each run, so pages need not compute it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 04:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'shield_scope',
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'value', name=op.f('pk_shield_scope')),
    )


def downgrade() -> None:
    op.drop_table('shield_scope')
