"""Store: owns the database engine, its connection pool, sessions and schema (Alembic migrations);
creates a SQLite file (0600) and its directory, and writes no other file.

One SQLAlchemy engine and session factory, schema kept current by Alembic migrations.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    JSON as JSON_TYPE,
    ColumnElement,
    Text,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.store import event_log

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the long-poll readers and the engine writer work at once; NORMAL is durable
    # across application crashes, which is what "commit after success" needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Store:
    """Owns the database connection pool. `session()` is a unit of work that commits on success."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                # The store holds configs and deployment inputs: readable by its owner only
                # (SQLite gives its -wal and -shm files the same mode).
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=50
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Every unit of work that adds events numbers them in their project's stream as it commits,
        # and, once committed, tells `on_events` {project: newest number} (the service wakes the
        # stream's readers with it, on every replica).
        self.on_events: Callable[[dict[str, int]], None] | None = None
        event.listen(self._sessions, "before_flush", event_log.collect)
        event.listen(self._sessions, "before_commit", event_log.stamp)
        event.listen(self._sessions, "after_commit", self._events_committed)
        event.listen(self._sessions, "after_rollback", event_log.rolled_back)

    def _events_committed(self, session: Session) -> None:
        newest = event_log.committed(session)
        if newest and self.on_events is not None:
            self.on_events(newest)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent). Replicas starting together on
        a fresh PostgreSQL database take turns: the first migrates, the others find it done."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            self.serialize(connection, "migrate")
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def serialize(self, connection: Connection | Session, name: str) -> None:
        """Hold, until the transaction ends, PostgreSQL's advisory lock for `name`: one replica
        at a time runs what follows (schema migration, first-start bootstrap). SQLite has one
        writer at a time anyway."""
        if not self.is_sqlite:
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": "hearth:" + name})

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def update_rows(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """UPDATE `model`'s rows, each given as its `id` and the same other columns: on PostgreSQL
    one statement of fixed text and one parameter whatever the number of rows (`UPDATE ... FROM
    json_to_recordset(...)`: one round trip, one plan, and the rows encoded by the json module
    rather than bound one value at a time; a None in a JSON column becomes SQL NULL), elsewhere one
    executemany (SQLite's are cheap)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(update(model), rows)  # the ORM's bulk UPDATE by primary key
        return
    table = model.__table__  # type: ignore[attr-defined]
    names = ["id", *(name for name in rows[0] if name != "id")]
    quote = dialect.identifier_preparer.quote
    target, key = quote(table.name), quote(names[0])
    sets = ", ".join(f"{quote(name)} = given.{quote(name)}" for name in names[1:])
    record = ", ".join(f"{quote(name)} {table.c[name].type.compile(dialect=dialect)}" for name in names)
    session.execute(
        text(
            f"UPDATE {target} SET {sets} FROM json_to_recordset(CAST(:rows AS json)) AS given({record}) "
            f"WHERE {target}.{key} = given.{key}"
        ),
        {"rows": json.dumps([{name: row[name] for name in names} for row in rows], default=_json_time)},
    )


def _json_time(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def among(session: Session, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values` for a long list: on PostgreSQL one JSON parameter made into an array
    once per statement (`= ANY(ARRAY(SELECT json_array_elements_text(...)))`, fixed SQL text, so
    a batch of a thousand ids is neither compiled nor parsed a thousand placeholders at a time,
    and the array is built once, never per row as a semi-join's subquery may be), elsewhere a
    plain IN. For text columns (ids, hashes)."""
    listed = list(values)
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(listed)
    given = func.json_array_elements_text(cast(bindparam(None, json.dumps(listed), type_=Text), JSON_TYPE))
    return column == any_(func.array(select(given).scalar_subquery()))
