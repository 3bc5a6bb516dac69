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


def test_existing_record_keys_are_rekeyed_and_review_pairs_follow(sqlite_url):
    from datetime import date, datetime

    from sqlalchemy import text
    cfg = alembic_config(sqlite_url)
    command.upgrade(cfg, "0007")
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO files (id, account, name, sha256, size_bytes, status, archive_path, collected_at) "
                          "VALUES (1, '8802001', 'f.csv', 'x', 1, 'accepted', '/x', :t)"), {"t": datetime(2026, 11, 2)})
        for rid, feed, prov, upn, nhs in ((1, "school", "8802001", "A880200120001", None),
                                          (2, "health", "A81001", None, "9434765919")):
            key = f"{feed}:{prov}:{upn or nhs}"
            conn.execute(text("INSERT INTO source_records (id, file_id, row_no, feed, provider, record_key, active, "
                              "upn, nhs_number, surname, forename, dob, shielded, carried_forward) VALUES "
                              "(:i, 1, :i, :f, :p, :k, 1, :u, :n, 'Lowe', 'Ada', :d, 0, 0)"),
                         {"i": rid, "f": feed, "p": prov, "k": key, "u": upn, "n": nhs, "d": date(2015, 3, 2)})
        conn.execute(text("INSERT INTO candidate_pairs (key_a, key_b, match_weight, match_probability, decision, "
                          "explanation, analyst_decision, updated_at) VALUES ('health:A81001:9434765919', "
                          "'school:8802001:A880200120001', 1, 0.7, 'review', '{}', 'same', :t)"),
                     {"t": datetime(2026, 11, 2)})
    upgrade(sqlite_url)
    with engine.connect() as conn:
        keys = dict(conn.execute(text("SELECT id, record_key FROM source_records")).all())
        pair = conn.execute(text("SELECT key_a, key_b, analyst_decision FROM candidate_pairs")).one()
    assert "A880200120001" not in keys[1] and "9434765919" not in keys[2]
    assert keys[1].startswith("school:8802001:") and keys[2].startswith("health:A81001:")
    assert {pair.key_a, pair.key_b} == {keys[1], keys[2]} and pair.analyst_decision == "same"
