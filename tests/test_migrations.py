"""The Alembic migrations build the schema the models describe, on SQLite and PostgreSQL."""
from alembic import command
from sqlalchemy import inspect

from register.db import alembic_config, make_engine, upgrade


def test_migrations_match_the_models(db_url):
    upgrade(db_url)
    upgrade(db_url)  # idempotent
    command.check(alembic_config(db_url))  # raises if the models and migrations differ
    tables = set(inspect(make_engine(db_url)).get_table_names())
    assert {"files", "source_records", "quarantined_rows", "children", "candidate_pairs", "cme_flags"} <= tables
