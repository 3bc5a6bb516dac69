"""record index: one more blocking-key slot (k18), for a GP record with a new surname and a
birth-date slip to meet its school record by given name, sex and birth month

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 18:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

NEW = (18,)


def upgrade() -> None:
    # A nullable column, added in place on SQLite and PostgreSQL alike; the next link is a full
    # one (the matcher version changes with the rule that fills it).
    for i in NEW:
        op.add_column('record_index', sa.Column(f'k{i}', sa.BigInteger(), nullable=True))
        op.create_index(f'ix_record_index_k{i}', 'record_index', [f'k{i}'])


def downgrade() -> None:
    for i in NEW:
        op.drop_index(f'ix_record_index_k{i}', table_name='record_index')
    with op.batch_alter_table('record_index') as batch:
        for i in NEW:
            batch.drop_column(f'k{i}')
