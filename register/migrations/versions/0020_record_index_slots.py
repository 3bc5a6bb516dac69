"""record index: two more blocking-key slots (k16, k17), for a shielded child's record to meet
records whose birth date has day and month swapped

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 19:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

NEW = (16, 17)


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
