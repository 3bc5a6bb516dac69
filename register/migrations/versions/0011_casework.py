"""casework: review decisions with their history, conflict versions, CME cases and notes, where a
retired child's records went

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 01:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('candidate_pairs') as batch:
        batch.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('second_review', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('created_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE candidate_pairs SET created_at = updated_at")
    with op.batch_alter_table('children') as batch:
        batch.add_column(sa.Column('now_child_id', sa.String(length=16), nullable=True))
    op.create_table(
        'review_decisions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('key_a', sa.Text(), nullable=False),
        sa.Column('key_b', sa.Text(), nullable=False),
        sa.Column('decision', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('decided_by', sa.String(length=150), nullable=False),
        sa.Column('decided_at', sa.DateTime(), nullable=False),
        sa.Column('score_shown', sa.Boolean(), nullable=False),
        sa.Column('against_model', sa.Boolean(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=True),
        sa.Column('blind_second', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_review_decisions')),
    )
    op.create_index('ix_review_decisions_keys', 'review_decisions', ['key_a', 'key_b'])
    op.create_index('ix_review_decisions_decided_at', 'review_decisions', ['decided_at'])
    op.create_table(
        'cme_cases',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('child_id', sa.String(length=16), nullable=False),
        sa.Column('la_code', sa.String(length=3), nullable=False),
        sa.Column('opened_on', sa.Date(), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('outcome', sa.String(length=32), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('closed_by', sa.String(length=150), nullable=True),
        sa.Column('evidence', sa.Text(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cme_cases')),
    )
    op.create_index('ix_cme_cases_child_id', 'cme_cases', ['child_id'])
    op.create_index('ix_cme_cases_la_code_status', 'cme_cases', ['la_code', 'status'])
    op.create_table(
        'case_notes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('written_at', sa.DateTime(), nullable=False),
        sa.Column('author', sa.String(length=150), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cme_cases.id'], name=op.f('fk_case_notes_case_id_cme_cases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_notes')),
    )
    op.create_index('ix_case_notes_case_id', 'case_notes', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_case_notes_case_id', table_name='case_notes')
    op.drop_table('case_notes')
    op.drop_index('ix_cme_cases_la_code_status', table_name='cme_cases')
    op.drop_index('ix_cme_cases_child_id', table_name='cme_cases')
    op.drop_table('cme_cases')
    op.drop_index('ix_review_decisions_decided_at', table_name='review_decisions')
    op.drop_index('ix_review_decisions_keys', table_name='review_decisions')
    op.drop_table('review_decisions')
    with op.batch_alter_table('children') as batch:
        batch.drop_column('now_child_id')
    with op.batch_alter_table('candidate_pairs') as batch:
        batch.drop_column('created_at')
        batch.drop_column('second_review')
        batch.drop_column('version')
