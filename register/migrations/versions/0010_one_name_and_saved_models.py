"""one name per thing (a file's provider, a flag's possible match in review) and saved linkage models

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 01:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

LIVE = "status IN ('collected', 'accepted')"


def upgrade() -> None:
    # A file's delivery folder is named with its provider id, and a parsed name must carry the
    # same id: one column, always set.
    op.execute("UPDATE files SET provider = account WHERE provider IS NULL OR provider = ''")
    op.drop_index('uq_files_account_sha256_live', table_name='files')
    with op.batch_alter_table('files') as batch:
        batch.drop_column('account')
        batch.alter_column('provider', existing_type=sa.String(length=16), type_=sa.String(length=32),
                           nullable=False)
    op.create_index('uq_files_provider_sha256_live', 'files', ['provider', 'sha256'], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    with op.batch_alter_table('cme_flags') as batch:
        batch.alter_column('pending_review', new_column_name='possible_match_in_review',
                           existing_type=sa.Boolean(), existing_nullable=True, existing_server_default=sa.false())
    op.create_table(
        'linkage_models',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('parameters', sa.Text(), nullable=False),
        sa.Column('trained_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_linkage_models')),
        sa.UniqueConstraint('fingerprint', name=op.f('uq_linkage_models_fingerprint')),
    )
    with op.batch_alter_table('candidate_pairs') as batch:
        batch.add_column(sa.Column('model_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_candidate_pairs_model_id_linkage_models'), 'linkage_models',
                                 ['model_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('candidate_pairs') as batch:
        batch.drop_constraint(op.f('fk_candidate_pairs_model_id_linkage_models'), type_='foreignkey')
        batch.drop_column('model_id')
    op.drop_table('linkage_models')
    with op.batch_alter_table('cme_flags') as batch:
        batch.alter_column('possible_match_in_review', new_column_name='pending_review',
                           existing_type=sa.Boolean(), existing_nullable=True, existing_server_default=sa.false())
    op.drop_index('uq_files_provider_sha256_live', table_name='files')
    with op.batch_alter_table('files') as batch:
        batch.add_column(sa.Column('account', sa.String(length=32), nullable=True))
    op.execute("UPDATE files SET account = provider")
    with op.batch_alter_table('files') as batch:
        batch.alter_column('account', existing_type=sa.String(length=32), nullable=False)
        batch.alter_column('provider', existing_type=sa.String(length=32), type_=sa.String(length=16),
                           nullable=True)
    op.create_index('uq_files_account_sha256_live', 'files', ['account', 'sha256'], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
