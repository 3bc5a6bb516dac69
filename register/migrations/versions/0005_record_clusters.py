"""record clusters: the links asset's output, handed to the register asset through the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'record_clusters',
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('cluster', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['record_id'], ['source_records.id'],
                                name=op.f('fk_record_clusters_record_id_source_records')),
        sa.PrimaryKeyConstraint('record_id', name=op.f('pk_record_clusters')))


def downgrade() -> None:
    op.drop_table('record_clusters')
