"""PostgreSQL for tests: who waits for a lock, and databases of their own made and dropped."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)
# Within a transaction PostgreSQL keeps showing the activity it first read, unless told not to.
_FORGET_SNAPSHOT = text("SELECT pg_stat_clear_snapshot()")


async def until_a_transaction_waits_for_a_lock(connection: AsyncConnection) -> None:
    """Poll PostgreSQL's activity view until some session waits for a lock (10 s at most)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        await connection.execute(_FORGET_SNAPSHOT)
        if await connection.scalar(_WAITING):
            return
        assert asyncio.get_running_loop().time() < deadline, "nothing waited for the lock"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def throwaway_database(server_url: str) -> AsyncIterator[str]:
    """The URL of a new, empty database on `server_url`'s server, dropped afterwards."""
    name = f"tl_{secrets.token_hex(6)}"
    server = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with server.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await server.dispose()
