"""cme: carried-forward roll rows, residence source, computed lists, postcode directory

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 22:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source_records') as batch:
        batch.add_column(sa.Column('carried_forward', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.create_index('ix_source_records_nhs_number', ['nhs_number'])
        batch.create_index('ix_source_records_upn', ['upn'])
        batch.create_index('ix_source_records_la_child_id', ['la_child_id'])
    with op.batch_alter_table('cme_flags') as batch:
        batch.add_column(sa.Column('residence_source', sa.String(length=24), nullable=True))
    op.create_table(
        'cme_lists',
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('flagged', sa.Integer(), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('as_of', name=op.f('pk_cme_lists')))
    op.create_table(
        'postcode_directory',
        sa.Column('postcode', sa.String(length=8), nullable=False),
        sa.Column('lad_code', sa.String(length=9), nullable=False),
        sa.Column('la_code', sa.String(length=3), nullable=False),
        sa.PrimaryKeyConstraint('postcode', name=op.f('pk_postcode_directory')))
    op.create_table(
        'reference_data',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('version', sa.String(length=128), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('loaded_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_reference_data')))
    # Lists computed before this revision were computed: record them so exports still work.
    op.execute("INSERT INTO cme_lists (as_of, flagged, computed_at) "
               "SELECT as_of, COUNT(*), MAX(computed_at) FROM cme_flags GROUP BY as_of")


def downgrade() -> None:
    op.drop_table('reference_data')
    op.drop_table('postcode_directory')
    op.drop_table('cme_lists')
    with op.batch_alter_table('cme_flags') as batch:
        batch.drop_column('residence_source')
    with op.batch_alter_table('source_records') as batch:
        batch.drop_index('ix_source_records_la_child_id')
        batch.drop_index('ix_source_records_upn')
        batch.drop_index('ix_source_records_nhs_number')
        batch.drop_column('carried_forward')
