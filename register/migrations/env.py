"""Alembic environment: the register's metadata, batch mode for SQLite."""
from alembic import context
from sqlalchemy import event

from register.db import make_engine
from register.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection") or make_engine(url)
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _register_tables_only(name, type_, parent_names) -> bool:
    """The casework service keeps its own tables (Django's) in the same database: Alembic owns
    and compares only the register's."""
    return type_ != "table" or name in Base.metadata.tables or name == "alembic_version"


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite,
                      compare_type=True, transactional_ddl=True, include_name=_register_tables_only)
    if not sqlite:  # PostgreSQL's DDL is transactional already
        with context.begin_transaction():
            context.run_migrations()
        return
    # pysqlite commits before every DDL statement unless we issue BEGIN ourselves: without this a
    # crash mid-migration leaves half a schema. Foreign keys are off while batch mode rebuilds
    # tables (SQLite ignores the pragma inside a transaction, so it is set before BEGIN).
    dbapi = connection.connection.driver_connection
    saved = dbapi.isolation_level
    dbapi.isolation_level = None
    dbapi.execute("PRAGMA foreign_keys=OFF")
    begin = lambda conn: conn.exec_driver_sql("BEGIN")  # noqa: E731
    event.listen(connection, "begin", begin)
    try:
        with context.begin_transaction():
            context.run_migrations()
        if connection.in_transaction():
            connection.commit()
    finally:
        event.remove(connection, "begin", begin)
        dbapi.execute("PRAGMA foreign_keys=ON")
        dbapi.isolation_level = saved


run_migrations_online()
