"""access alerts: break-glass and unusual access, for privacy officers and administrators

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 04:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'access_alerts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('raised_at', sa.DateTime(), nullable=False),
        sa.Column('rule', sa.String(length=40), nullable=False),
        sa.Column('actor', sa.String(length=150), nullable=False),
        sa.Column('la_codes', sa.Text(), nullable=True),
        sa.Column('children', sa.Text(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('dedupe_key', sa.String(length=200), nullable=False),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.Column('status', sa.String(length=8), nullable=False, server_default='open'),
        sa.Column('handled_by', sa.String(length=150), nullable=True),
        sa.Column('handled_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_access_alerts')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_access_alerts_dedupe_key')),
    )
    op.create_index('ix_access_alerts_status', 'access_alerts', ['status'])


def downgrade() -> None:
    op.drop_index('ix_access_alerts_status', table_name='access_alerts')
    op.drop_table('access_alerts')
