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


def test_a_migration_that_fails_half_way_leaves_the_schema_as_it_was(db_url):
    """Revision 0004 adds a column, indexes and three tables. Make its last step fail (a table
    of that name is in the way): nothing of it may remain, and once the obstacle is gone the
    upgrade completes."""
    from sqlalchemy import text
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0003")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE reference_data (obstacle INTEGER)"))
    try:
        command.upgrade(cfg, "head")
        raise AssertionError("the upgrade should have failed")
    except Exception as exc:  # noqa: BLE001 - whichever driver error the database raises
        assert "reference_data" in str(exc) or "already exists" in str(exc)
    inspector = inspect(make_engine(db_url))
    assert "cme_lists" not in inspector.get_table_names()
    assert "carried_forward" not in {c["name"] for c in inspector.get_columns("source_records")}
    with engine.begin() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0003"
        conn.execute(text("DROP TABLE reference_data"))
    upgrade(db_url)
    command.check(cfg)


def test_the_scratch_copy_left_by_an_old_interrupted_sqlite_migration_is_cleared(sqlite_url):
    from sqlalchemy import text
    command.upgrade(alembic_config(sqlite_url), "0005")
    with make_engine(sqlite_url).begin() as conn:
        conn.execute(text("CREATE TABLE _alembic_tmp_source_records (id INTEGER)"))
    upgrade(sqlite_url)  # 0006 rebuilds source_records through that very scratch name
    assert not any(t.startswith("_alembic_tmp_") for t in inspect(make_engine(sqlite_url)).get_table_names())
    command.check(alembic_config(sqlite_url))
