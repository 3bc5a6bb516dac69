"""record index: five more blocking-key slots (k18 to k22), for a mistyped nickname, a surname slip
or change with a day slip, and day and month swapped with a slipped surname

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 23:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

NEW = (18, 19, 20, 21, 22)


def upgrade() -> None:
    # Nullable columns: added in place on SQLite and PostgreSQL alike. The next link is a full
    # one (the matcher version changes with the rules that fill them).
    for i in NEW:
        op.add_column('record_index', sa.Column(f'k{i}', sa.BigInteger(), nullable=True))
        op.create_index(f'ix_record_index_k{i}', 'record_index', [f'k{i}'])


def downgrade() -> None:
    for i in NEW:
        op.drop_index(f'ix_record_index_k{i}', table_name='record_index')
    with op.batch_alter_table('record_index') as batch:
        for i in NEW:
            batch.drop_column(f'k{i}')
