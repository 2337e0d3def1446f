"""For tests of what another process holding rows does to us: PostgreSQL shows who waits."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

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
