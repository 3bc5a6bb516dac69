"""files: when the receipt reached the outbox, so a receipt lost to a crash is rebuilt

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('files') as batch:
        batch.add_column(sa.Column('receipt_sent_at', sa.DateTime(), nullable=True))
    # Files processed before this revision had their receipts sent at processing time.
    op.execute("UPDATE files SET receipt_sent_at = processed_at WHERE processed_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('files') as batch:
        batch.drop_column('receipt_sent_at')
