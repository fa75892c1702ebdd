"""The database: one engine per URL, UTC-aware timestamps, and Alembic upgrades."""

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Column as SAColumn
from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Table,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    inspect,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from memberflow.core.settings import PROJECT_ROOT


class UTCDateTime(TypeDecorator):
    """Stores UTC, always hands back timezone-aware UTC datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: memberflow stores only aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _tune_sqlite(dbapi_connection, _record) -> None:
    # WAL lets readers run beside one writer; NORMAL sync is durable across process crashes.
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SETTING = "MEMBERFLOW_DATABASE_URL"
URL_FORMS = "sqlite:///./memberflow.db, or postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME"


class DatabaseSettingError(RuntimeError):
    """The database setting is empty, malformed, or names a database that is not there."""


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per database URL for the whole process."""
    _check_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _check_url(url: str) -> None:
    """A clear sentence for the setting's usual mistakes, before SQLAlchemy's traceback."""
    if not url.strip():
        raise DatabaseSettingError(f"{SETTING} is empty: set it to {URL_FORMS}")
    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()  # an unknown database, or its driver not installed
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise DatabaseSettingError(
            f"{SETTING}={url!r} is not a database URL memberflow can use ({error}); "
            f"expected {URL_FORMS}"
        ) from None


def require_existing(url: str) -> None:
    """Refuses a SQLite file that is not there yet, rather than leave an empty one behind
    (SQLite makes the file on first connection): only `memberflow db upgrade` creates one."""
    _check_url(url)
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:":
        if not os.path.exists(path):
            raise DatabaseSettingError(
                f"there is no database at {os.path.abspath(path)} ({SETTING}={url}): create it "
                f"with `memberflow db upgrade`, or set {SETTING} to yours ({URL_FORMS})"
            )


READ_ONLY = "memberflow_read_only"  # an execution option: this connection only reads


def reading(conn: Connection) -> Connection:
    """Marks a connection that only reads (a report): on SQLite it takes no write lock, so
    several such readers run side by side, and beside a writer (WAL)."""
    return conn.execution_options(**{READ_ONLY: True})


def _begin_sqlite(conn: Connection) -> None:
    # Take the write lock up front: a deferred transaction that reads, then writes after
    # another run committed fails with SQLITE_BUSY_SNAPSHOT, which no busy timeout retries.
    # A reader never writes, so it needs no lock: a deferred BEGIN.
    reads_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


class DatabaseUnavailable(RuntimeError):
    """The database refused, dropped or locked out a run (its server down, its network gone)."""


@contextmanager
def unavailable_means(engine: Engine, consequence: str) -> Iterator[None]:
    """Turns the driver's words for a database that stopped answering into one sentence ops
    can act on: which database, what the driver said, and `consequence`."""
    try:
        yield
    except OperationalError as error:
        where = engine.url.render_as_string(hide_password=True)
        said = str(error.orig or error).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"the database at {where} ({SETTING}) is unavailable ({said}); {consequence}"
        ) from error


def days_between(dialect: str, later: ColumnElement, earlier: ColumnElement) -> ColumnElement:
    """`later - earlier` in days (a float), in SQL, on either database."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def date_of(dialect: str, moment: ColumnElement) -> ColumnElement:
    """A timestamp's UTC date, in SQL, comparable with a date column on either database."""
    if dialect == "postgresql":
        return cast(moment, Date)
    return func.date(moment)


class SchemaMissing(RuntimeError):
    """The database has no memberflow tables yet."""


def require_schema(engine: Engine) -> None:
    """Fails early, and clearly, when the database was never created or migrated."""
    require_existing(engine.url.render_as_string(hide_password=False))
    if not inspect(engine).has_table("touchpoint"):
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaMissing(
            f"the database at {where} has no memberflow tables: run `memberflow db upgrade` "
            "with the same MEMBERFLOW_DATABASE_URL (the worker's environment or .env)"
        )


def upgrade(url: str, revision: str = "heads", branches: Sequence[Path] = ()) -> None:
    """Create or migrate the database at `url` with Alembic: memberflow's own history, and the
    branches of the installed pipelines that own tables (`branches`: the folders their
    registrations name, each holding revisions with the pipeline's name as branch label)."""
    from alembic import command  # not at import: every command line would pay for it
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    locations = [PROJECT_ROOT / "migrations" / "versions", *branches]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(map(str, locations)))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


def dialect_insert(conn: Connection, table: Table):
    return insert_for(conn.dialect.name, table)


def insert_for(dialect: str, table: Table):
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def insert_new(conn: Connection, table: Table, rows: list[dict], *, unique: str) -> list:
    """The one upsert: inserts the rows whose `unique` column value is new; returns those values.
    A rerun, a retry or a racing process inserts nothing twice."""
    if not rows:
        return []
    statement = _insert_new_statement(conn.dialect.name, table, unique)
    # executemany: one cached statement, batched by SQLAlchemy's "insertmanyvalues"
    return list(conn.execute(statement, rows).scalars())


@lru_cache(maxsize=64)
def _insert_new_statement(dialect: str, table: Table, unique: str):
    # built once: building and keying the statement cost more than running it (one row at a time)
    statement = insert_for(dialect, table).on_conflict_do_nothing(index_elements=[unique])
    return statement.returning(table.c[unique])


_UNSET = object()  # a parameter neither given nor written in the statement


class Prepared:
    """A one-row statement compiled once and, on SQLite, run on the driver itself: for a single
    row, SQLAlchemy's per-execution work (context, parameter processing, result) costs several
    times the statement (about 100 us against 15; docs/performance.md). Values go through the
    same bind processors (aware datetimes are stored as SQLAlchemy stores them). Elsewhere it is
    a plain `conn.execute`. For writes whose result is not read."""

    def __init__(self, statement):
        self.statement = statement
        self._sqlite: tuple[str, list[tuple[str, Any, Any]]] | None = None

    def __call__(self, conn: Connection, params: dict) -> None:
        if conn.dialect.name != "sqlite":
            conn.execute(self.statement, params)
            return
        if self._sqlite is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            literal = compiled.params  # the values written in the statement (`claimed_by=None`)
            processors = compiled._bind_processors
            self._sqlite = (
                compiled.string,
                [
                    (name, literal.get(name, _UNSET), processors.get(name))
                    for name in compiled.positiontup
                ],
            )
        sql, order = self._sqlite
        values = []
        for name, written, process in order:
            value = params.get(name, written)
            if value is _UNSET:
                raise KeyError(f"no value for {name!r}")
            values.append(process(value) if process else value)
        conn.connection.driver_connection.execute(sql, values)


def insert_one(conn: Connection, table: Table, row: dict, *, unique: str) -> None:
    """`insert_new` for one row whose outcome is not read (a case's next notice, its next
    attempt): one statement built once per set of columns and, on SQLite, run on the driver.
    SQLAlchemy's per-row insert work cost more than the insert (docs/performance.md)."""
    for column in table.c:  # what SQLAlchemy would have filled in: its scalar defaults
        if column.name not in row and column.default is not None:
            if not column.default.is_scalar:
                raise TypeError(f"insert_one: give {table.name}.{column.name} (no scalar default)")
            row = {**row, column.name: column.default.arg}
    shape = (conn.dialect.name, table.name, unique, tuple(sorted(row)))
    if shape not in _INSERT_ONE:
        values = {name: bindparam(name, type_=table.c[name].type) for name in shape[3]}
        statement = insert_for(conn.dialect.name, table).values(values)
        _INSERT_ONE[shape] = Prepared(statement.on_conflict_do_nothing(index_elements=[unique]))
    _INSERT_ONE[shape](conn, row)


# insert_one's statements, by dialect, table, unique column and the columns given
_INSERT_ONE: dict[tuple[str, str, str, tuple[str, ...]], Prepared] = {}


class DatabaseWatch:
    """Whether the database a process opened is still the one it writes to, and writable now.

    A SQLite file deleted or replaced under a running process keeps its old, unlinked file
    open: every commit "succeeds" into nothing. So before acknowledging anything the ingress
    checks the file is still the one it opened (one `stat`), and `/health` also checks that a
    write could start within `wait` seconds (a long lock makes it degraded, not silent)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.path = engine.url.database if engine.dialect.name == "sqlite" else None
        self.identity = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        if not self.path or self.path == ":memory:":
            return None
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        return found.st_dev, found.st_ino

    def replaced(self) -> str | None:
        """Why writes would not reach the configured database, or None."""
        if self.identity is not None and self._identity() != self.identity:
            return (
                f"the database file {self.path} was removed or replaced while memberflow was "
                "running: nothing can be stored; restart the process"
            )
        return None

    def problem(self, wait: float = 0.5) -> str | None:
        """`replaced`, or why a write could not start within `wait` seconds, or None."""
        replaced = self.replaced()
        if replaced:
            return replaced
        if self.path is None:  # a server database: can it be reached
            return None if self._reachable() else "the database is unreachable"
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            driver.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            try:
                driver.execute("BEGIN IMMEDIATE")
                driver.execute("ROLLBACK")
            except Exception as error:  # locked (or worse): say so now, not in 30 s
                return f"the database cannot take a write now ({error})"
            finally:
                driver.execute("PRAGMA busy_timeout = 30000")
        finally:
            raw.close()
        return None

    def _reachable(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False


def utc_field(index: bool = False, nullable: bool = False):
    """A model's aware-UTC timestamp column."""
    from sqlmodel import Field  # the models' helper: the engine code here needs no sqlmodel

    column = SAColumn(UTCDateTime(), index=index, nullable=nullable)
    return Field(default=None, sa_column=column)
