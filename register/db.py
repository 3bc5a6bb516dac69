"""Engine creation and schema migration for the register database (SQLite or PostgreSQL).

Engines hide bound parameters, so a database error never carries a child's data into a
log or an exception message.
"""
from __future__ import annotations

import errno
import sys
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, Table, create_engine, event, inspect, text
from sqlalchemy.engine import Engine

from register.private import private_database_file
from schemas import per_distinct

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "sqlite:///var/rollcall.sqlite"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            # The register holds children's data: owner-only, whatever the umask. SQLite gives
            # its -wal and -shm files the database file's mode.
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            private_database_file(Path(path))
        engine = create_engine(url, hide_parameters=True, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut
            cur.execute("PRAGMA cache_size=-262144")  # up to 256 MB of pages: large tables keep their indexes in memory
            cur.close()

        return engine
    return create_engine(url, hide_parameters=True, pool_pre_ping=True)


def _sqlite_date(d):
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}" if isinstance(d, date) else d


def _sqlite_datetime(t):
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond:06d}"
            if isinstance(t, datetime) else t)


def _python_datetime(t):
    return t.to_pydatetime() if isinstance(t, pd.Timestamp) else t


def placeholder(conn) -> str:
    """The driver's parameter mark, for SQL sent straight to it (exec_driver_sql)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


@dataclass
class RowValues:
    """A table's rows as the driver takes them: column names and one tuple per row."""
    names: list[str]
    rows: list[tuple]

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def of(cls, table: Table, frame: pd.DataFrame, sqlite: bool) -> RowValues:
        """A frame's rows (columns named as the table's) stored as SQLAlchemy stores them: NULL
        for None, NaN and NaT; the column's Python default where the frame has no such column;
        on SQLite, dates and times in SQLAlchemy's text forms. Needs no connection, so another
        process can make them."""
        values = {}
        present = [c.name for c in table.columns if c.name in frame]
        # NULL for None, NaN and NaT, decided for the whole frame at once: a column at a time
        # cost a few milliseconds a call, and intake calls this once a file (issue 28).
        cells = frame[present].astype(object)
        cells = cells.where(frame[present].notna(), None)
        for column in table.columns:
            if column.name in frame:
                v = cells[column.name]
                if isinstance(column.type, DateTime):
                    v = v.map(_sqlite_datetime if sqlite else _python_datetime)
                elif sqlite and isinstance(column.type, Date):
                    v = v.map(_sqlite_date)
                values[column.name] = v.tolist()
            elif column.default is not None and column.default.is_scalar:
                values[column.name] = [column.default.arg] * len(frame)
        unknown = set(frame.columns) - set(values)
        if unknown:
            raise ValueError(f"{table.name} has no column(s) {', '.join(sorted(unknown))}")
        return cls(list(values), list(zip(*values.values())))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.names)


def insert_values(conn, table: Table, values: RowValues, batch: int = 50_000) -> None:
    """Insert the rows with the driver's executemany, in the caller's transaction."""
    mark = placeholder(conn)
    sql = f"INSERT INTO {table.name} ({', '.join(values.names)}) VALUES ({', '.join([mark] * len(values.names))})"
    for i in range(0, len(values.rows), batch):
        conn.exec_driver_sql(sql, values.rows[i:i + batch])


def insert_frame(conn, table: Table, frame: pd.DataFrame) -> None:
    """Insert a frame's rows (RowValues.of) with the driver's executemany, in the caller's
    transaction: SQLAlchemy's per-row parameter handling cost more than the database's work on
    the largest tables."""
    insert_values(conn, table, RowValues.of(table, frame, conn.dialect.name == "sqlite"))


def read_frame(conn, statement) -> pd.DataFrame:
    """The rows of a select as a frame (one column per selected column, by its name), read
    through the driver: SQLAlchemy's per-row result handling cost more than the database's work
    on the largest reads. Values the statement compares with (a code, a date) are rendered into
    it by SQLAlchemy, quoted as the dialect quotes them. Values come out as SQLAlchemy gives
    them: dates as dates, booleans as booleans, NULL as None (SQLite's text dates and 0/1 flags
    are turned once per distinct value)."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    columns = list(statement.selected_columns)
    rows = conn.exec_driver_sql(str(compiled)).fetchall()
    frame = pd.DataFrame.from_records(rows, columns=[c.name for c in columns], coerce_float=False)
    if conn.dialect.name != "sqlite" or not rows:
        return frame
    for i, column in enumerate(columns):
        name = frame.columns[i]
        if isinstance(column.type, (Date, DateTime)):
            parse = datetime.fromisoformat if isinstance(column.type, DateTime) else date.fromisoformat
            frame[name] = _each_distinct(frame[name], parse)
        elif isinstance(column.type, Boolean):
            flags = _each_distinct(frame[name], bool)
            frame[name] = flags.astype(bool) if flags.notna().all() else flags
    return frame


def _each_distinct(values: pd.Series, fn) -> pd.Series:
    """fn over each distinct value once (schemas.identifiers.per_distinct); None stays None."""
    return per_distinct(values, lambda distinct: distinct.map(fn, na_action="ignore").astype(object))


def begin_write(session) -> None:
    """Open the session's transaction in the database now. pysqlite opens one only before an
    INSERT, UPDATE or DELETE, so a SAVEPOINT issued first would itself be the outermost
    transaction and releasing it would commit what it holds, whatever the session does later.
    BEGIN IMMEDIATE also takes the write lock up front (waiting up to the busy timeout), so the
    transaction never fails for upgrading a read lock. PostgreSQL needs nothing."""
    conn = session.connection()
    if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache(maxsize=8)
def open_register(url: str) -> Engine:
    """The engine of the register at `url`, its schema brought up to date first. One engine per
    URL per process; `open_register.cache_clear()` forgets them (a test dropping its database)."""
    upgrade(url)
    return make_engine(url)


def alembic_config(url: str):

    # Alembic loads only to migrate (start-up of every command stays fast).
    from alembic.config import Config

    # Alembic's default stdout is bound when it is first imported; give it today's.
    cfg = Config(str(HERE / "alembic.ini"), stdout=sys.stdout)
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database to the newest schema; safe to call on every run. Migrations run in
    one transaction each (migrations/env.py), so a crash leaves the schema as it was."""
    # Alembic loads only to migrate.
    from alembic import command

    if url.startswith("sqlite:///"):
        _drop_stale_batch_copies(url)
    command.upgrade(alembic_config(url), "head")


def _drop_stale_batch_copies(url: str) -> None:
    """A register migrated before migrations were transactional may hold the scratch copy of a
    table that an interrupted SQLite batch migration was rebuilding. While the table itself is
    intact the copy is waste and blocks every later upgrade; otherwise stop and say so."""
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        for scratch in sorted(t for t in tables if t.startswith("_alembic_tmp_")):
            if scratch.removeprefix("_alembic_tmp_") not in tables:
                raise RuntimeError(f"an interrupted migration left only its copy of a table ({scratch}); "
                                   "restore the register from its backup")
            with engine.begin() as conn:
                conn.execute(text(f'DROP TABLE "{scratch}"'))
    finally:
        engine.dispose()


APPEND_ONLY_TABLES = ("audit_log", "audit_children", "audit_checkpoints")
# Read only for the service: the audit log's head moves by the database's own trigger as entries
# are added (migration 0021); the schema's version moves only when its owner migrates it.
READ_ONLY_TABLES = ("audit_head", "alembic_version")


def grant_service_role(engine: Engine, role: str) -> list[str]:
    """On PostgreSQL, give the service's database role (which should not own the tables) what
    it needs and no more: read and write on the register's tables; on the audit log's tables
    read and insert, never update or delete; on the log's head and the schema's version, read
    only. Returns the statements run."""
    if engine.dialect.name != "postgresql":
        raise ValueError("database roles are PostgreSQL's; an SQLite register has none")
    quoted = engine.dialect.identifier_preparer.quote(role)
    tables = inspect(engine).get_table_names()
    done = []
    with engine.begin() as conn:
        for table in sorted(tables):
            name = engine.dialect.identifier_preparer.quote(table)
            done.append(f"REVOKE ALL ON {name} FROM {quoted}")
            if table in READ_ONLY_TABLES:
                done.append(f"GRANT SELECT ON {name} TO {quoted}")
            elif table in APPEND_ONLY_TABLES:
                done.append(f"GRANT SELECT, INSERT ON {name} TO {quoted}")
            else:
                done.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {quoted}")
        done.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        for statement in done:
            conn.execute(text(statement))
    return done


def disk_full(exc: BaseException) -> bool:
    """Whether a failure is a full disk (or quota): the operating system's ENOSPC or EDQUOT,
    SQLite's "database or disk is full", PostgreSQL's disk_full (SQLSTATE 53100)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "disk is full" in str(exc).lower() or getattr(exc, "sqlstate", None) == "53100" or \
                type(exc).__name__ == "DiskFull":
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False
