"""The engine and the session factory: one engine a process, one session a unit of work."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState

from core import metrics

SessionFactory = async_sessionmaker[AsyncSession]


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` is the database down, unreachable, cut off mid-query or refusing writes
    (a read-only SQLite file): the front doors answer "try again in a minute", not a bug report.
    """
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True  # the connection died under a statement
    # OSError: asyncpg's refused connection comes through SQLAlchemy unwrapped. A session whose
    # connection died mid-transaction refuses to go on (PendingRollbackError). PoolTimeout: every
    # connection stayed busy for 30 s (overload, or a database that hangs).
    unavailable = OperationalError | InterfaceError | PendingRollbackError | PoolTimeout | OSError
    return isinstance(error, unavailable)


def first_line(error: BaseException) -> str:
    """The first line of an error's message, short enough for one log line."""
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the process's engine; SQLite gets WAL, a busy timeout, its directory, and
    transactions that take the write lock when they begin."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # All 15 connections kept: an overflow connection is closed on return, and opening one
        # (type introspection, statements to prepare again) costs more than it served.
        engine = create_async_engine(url, echo=echo, pool_size=15, max_overflow=0)
        _time_transactions(engine)
        return engine

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite has one writer at a time: one pooled connection queues writers in asyncio instead
    # of leaving them asleep in SQLite's busy handler, which backs off up to 100 ms at a time.
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args={"timeout": 30},
        pool_size=1,
        max_overflow=0,
        pool_reset_on_return=None,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not begin transactions itself: `_begin_immediate` does.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the one writer; busy_timeout makes writers queue, not fail.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    _time_transactions(engine)  # first, so that the wait for the write lock is counted too

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        # A plain BEGIN takes a read lock and fails ("database is locked") when it later needs
        # to write while another process writes. Taking the write lock up front makes every
        # transaction, in any process, wait its turn: a read that decides a write stays true.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine, "reset")
    def _rollback_if_in_transaction(
        dbapi_connection: Any, _record: Any, state: PoolResetState
    ) -> None:
        # A connection comes back committed or rolled back by SQLAlchemy, or else mid-transaction
        # (a failed rollback, raw driver use): only then roll back, sparing every clean return
        # a trip to aiosqlite's thread. A connection the garbage collector returns is discarded.
        if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    return engine


def _time_transactions(engine: AsyncEngine) -> None:
    """Observe each transaction's time, begin to commit or rollback, in DB_TRANSACTIONS."""

    @event.listens_for(engine.sync_engine, "begin")
    def _began(connection: Connection) -> None:
        connection.info["began"] = time.perf_counter()

    def _ended(end: str) -> Any:
        def observe(connection: Connection) -> None:
            began = connection.info.pop("began", None)
            if began is not None:
                metrics.DB_TRANSACTIONS.labels(end).observe(time.perf_counter() - began)

        return observe

    event.listen(engine.sync_engine, "commit", _ended("commit"))
    event.listen(engine.sync_engine, "rollback", _ended("rollback"))


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded values after commit, so results outlive the transaction."""
    return async_sessionmaker(engine, expire_on_commit=False)
