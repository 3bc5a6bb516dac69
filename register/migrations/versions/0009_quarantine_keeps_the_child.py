"""a quarantined row's record key, and why a record is carried forward

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 22:35:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('quarantined_rows') as batch:
        batch.add_column(sa.Column('record_key', sa.Text(), nullable=True))
    with op.batch_alter_table('source_records') as batch:
        batch.add_column(sa.Column('carried_because', sa.String(length=12), nullable=True))
    op.execute("UPDATE source_records SET carried_because = 'left_out' WHERE carried_forward")


def downgrade() -> None:
    with op.batch_alter_table('source_records') as batch:
        batch.drop_column('carried_because')
    with op.batch_alter_table('quarantined_rows') as batch:
        batch.drop_column('record_key')
