"""text columns: names, addresses, LA child ids and record keys have no length in the contract

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 22:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

SOURCE_RECORDS = {'record_key': 96, 'la_child_id': 64, 'surname': 128, 'forename': 128, 'middle_names': 128,
                  'alt_surname': 128, 'address_line1': 256, 'address_line2': 256, 'town': 128}
CANDIDATE_PAIRS = {'key_a': 96, 'key_b': 96}


def upgrade() -> None:
    for table, columns in (('source_records', SOURCE_RECORDS), ('candidate_pairs', CANDIDATE_PAIRS)):
        with op.batch_alter_table(table) as batch:
            for name, length in columns.items():
                batch.alter_column(name, existing_type=sa.String(length=length), type_=sa.Text())


def downgrade() -> None:
    for table, columns in (('source_records', SOURCE_RECORDS), ('candidate_pairs', CANDIDATE_PAIRS)):
        with op.batch_alter_table(table) as batch:
            for name, length in columns.items():
                batch.alter_column(name, existing_type=sa.Text(), type_=sa.String(length=length))
