"""an index on source_records.postcode for the casework service's search by postcode

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 04:25:00
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_source_records_postcode', 'source_records', ['postcode'])


def downgrade() -> None:
    op.drop_index('ix_source_records_postcode', table_name='source_records')
