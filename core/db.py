"""The engine and the session factory: one engine a process, one session a unit of work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the process's engine; SQLite gets WAL, a busy timeout and its directory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # At most 15 connections, as with SQLAlchemy's default 5 + 10 overflow, but all kept: an
        # overflow connection is closed on return, and opening one (with its type introspection
        # and statements to prepare again) costs more than the few queries it served.
        # No pool_pre_ping: it costs a round trip on every checkout, several per link flow. The
        # price is that after the server drops connections (a restart) the first statement on a
        # dead one fails; that error invalidates the whole pool, so the next attempt reconnects.
        return create_async_engine(url, echo=echo, pool_size=15, max_overflow=0)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite has one writer at a time: one pooled connection queues writers in asyncio instead
    # of leaving them asleep in SQLite's busy handler, which backs off up to 100 ms at a time.
    # The pool's own rollback on return is replaced by the reset below.
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
        # WAL lets readers run beside the one writer; busy_timeout makes writers queue, not fail.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

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


def for_single_statements(engine: AsyncEngine) -> AsyncEngine:
    """The engine to run a statement that stands alone on: it is its own transaction.

    PostgreSQL runs it in autocommit, sparing BEGIN and COMMIT (or ROLLBACK) round trips; SQLite
    gets the engine as is: its driver begins no transaction for a read, and switching its
    isolation level per connection costs more than the COMMIT after a write.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded values after commit, so results outlive the transaction."""
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: SessionFactory) -> AsyncEngine:
    """The engine a session factory is bound to, for code that runs Core statements on it."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the session factory is not bound to an AsyncEngine")
    return bind
