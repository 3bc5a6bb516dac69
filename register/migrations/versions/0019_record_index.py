"""record index: what the last link knew of each current record (key, content hash, names,
blocking keys), so an incremental link reads only what changed

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

SLOTS = 16


def upgrade() -> None:
    op.create_table(
        'record_index',
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('record_key', sa.Text(), nullable=False),
        sa.Column('content', sa.String(length=32), nullable=False),
        sa.Column('given', sa.Text(), nullable=False),
        sa.Column('family', sa.Text(), nullable=False),
        *[sa.Column(f'k{i}', sa.BigInteger(), nullable=True) for i in range(SLOTS)],
        sa.PrimaryKeyConstraint('record_id', name=op.f('pk_record_index')),
    )
    op.create_index('ix_record_index_record_key', 'record_index', ['record_key'])
    for i in range(SLOTS):
        op.create_index(f'ix_record_index_k{i}', 'record_index', [f'k{i}'])


def downgrade() -> None:
    for i in range(SLOTS):
        op.drop_index(f'ix_record_index_k{i}', table_name='record_index')
    op.drop_index('ix_record_index_record_key', table_name='record_index')
    op.drop_table('record_index')
