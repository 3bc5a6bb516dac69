"""cme flags: pending review

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cme_flags') as batch:
        batch.add_column(sa.Column('pending_review', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('cme_flags') as batch:
        batch.drop_column('pending_review')
