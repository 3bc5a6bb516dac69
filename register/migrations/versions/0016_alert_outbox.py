"""alert outbox: alerts waiting to reach people by e-mail and webhook, retried until sent

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('la_code', sa.String(length=3), nullable=True),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_outbox')),
    )
    op.create_index('ix_alert_outbox_sent_at', 'alert_outbox', ['sent_at'])


def downgrade() -> None:
    op.drop_index('ix_alert_outbox_sent_at', table_name='alert_outbox')
    op.drop_table('alert_outbox')
