"""`tweetlink db copy --to URL`: copy every row of the database to another, empty one.

This is how a community moves from SQLite to PostgreSQL without losing its links, tweets and
audit trail. The target's schema is brought up to date first; a target that already holds data
is refused, so nothing is ever merged or overwritten. Rows are copied exactly as they are, the
sealed tokens included: the same TOKEN_ENCRYPTION_KEYS open them there. Stop the bot first; on
SQLite the source stays locked for writing while it is read, so the copy is one consistent view.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Table, func, insert, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db import create_engine
from core.models import Base
from tweetlink import migrations
from tweetlink.failures import (
    CommandFailed,
    ensure_database_directory,
    where_the_database_is,
)

BATCH_ROWS = 500
TABLES: list[Table] = Base.metadata.sorted_tables  # parents before the tables that refer to them


@dataclass(frozen=True)
class Counted:
    """One table's rows on each side after the copy."""

    table: str
    source: int
    target: int


async def copy_database(source_url: str, target_url: str) -> list[Counted]:
    """Copy every table from `source_url` into the empty database at `target_url`."""
    _check_places(source_url, target_url)
    source, target = _engine(source_url, "DATABASE_URL"), _engine(target_url, "--to")
    try:
        with _answering(source_url, "DATABASE_URL"):
            if not await migrations.is_current(source):
                raise CommandFailed(
                    f"the schema of {where(source_url)} is not up to date: run `tweetlink migrate`"
                )
        with _answering(target_url, "--to"):
            await migrations.upgrade(target)
            async with target.connect() as connection:
                for table in TABLES:
                    if await connection.scalar(select(literal(1)).select_from(table).limit(1)):
                        raise CommandFailed(
                            f"{where(target_url)} already holds data (table {table.name}); "
                            "copy into an empty database"
                        )
        with _answering(source_url, "DATABASE_URL"):
            async with source.connect() as reading:
                for table in TABLES:
                    await _copy_table(reading, target, table, target_url)
                if target.dialect.name == "postgresql":
                    with _answering(target_url, "--to"):
                        await _reset_sequences(target)
                return await _counts(reading, target, target_url)
    finally:
        await source.dispose()
        await target.dispose()


def _check_places(source_url: str, target_url: str) -> None:
    """Two different databases, the source's SQLite file there, the target's directory made.
    Plain file checks, done before the event loop has anything else to run."""
    if _place(source_url, "DATABASE_URL") == _place(target_url, "--to"):
        raise CommandFailed(f"--to names the database being copied ({where(source_url)})")
    source = make_url(source_url)
    if source.get_backend_name() == "sqlite" and not Path(source.database or "").is_file():
        raise CommandFailed(f"there is no SQLite database at {source.database} (DATABASE_URL)")
    ensure_database_directory(target_url)


def where(url: str) -> str:
    """The database a URL names, for a message."""
    return where_the_database_is(url)


async def _copy_table(
    reading: AsyncConnection, target: AsyncEngine, table: Table, target_url: str
) -> None:
    """Batches in primary key order, each inserted in a transaction of its own."""
    query = select(table).order_by(*table.primary_key.columns).limit(BATCH_ROWS)
    copied = 0
    while rows := (await reading.execute(query.offset(copied))).mappings().all():
        with _answering(target_url, "--to"):
            try:
                async with target.begin() as writing:
                    await writing.execute(insert(table), [dict(row) for row in rows])
            except (IntegrityError, DataError) as error:
                raise CommandFailed(
                    f"{where(target_url)} refused rows of {table.name} ({_cause(error)})"
                ) from None
        copied += len(rows)


async def _reset_sequences(target: AsyncEngine) -> None:
    """PostgreSQL's id sequences start after the copied ids, so new rows do not collide."""
    async with target.begin() as connection:
        for table in TABLES:
            column = table.autoincrement_column
            if column is None:
                continue
            sequence = func.pg_get_serial_sequence(table.name, column.name)
            highest = func.max(column)
            await connection.execute(
                select(
                    func.setval(sequence, func.coalesce(highest, 1), highest.is_not(None))
                ).select_from(table)
            )


async def _counts(reading: AsyncConnection, target: AsyncEngine, target_url: str) -> list[Counted]:
    counted = []
    with _answering(target_url, "--to"):
        async with target.connect() as connection:
            for table in TABLES:
                count = select(func.count()).select_from(table)
                there = await connection.scalar(count)
                counted.append(Counted(table.name, await reading.scalar(count) or 0, there or 0))
    return counted


def _engine(url: str, setting: str) -> AsyncEngine:
    try:
        return create_engine(url)
    except (SQLAlchemyError, ImportError) as error:
        raise CommandFailed(f"{setting} names no database tweetlink can use ({error})") from None


def _place(url: str, setting: str) -> tuple[str | int | None, ...]:
    """Where a URL's database is, to tell whether two URLs name the same one."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CommandFailed(
            f"{setting} is not a database URL such as "
            "postgresql+asyncpg://USER:PASSWORD@HOST/DATABASE or sqlite+aiosqlite:///PATH"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return ("sqlite", str(Path(parsed.database or "").resolve()))
    return (parsed.get_backend_name(), parsed.host or "localhost", parsed.port, parsed.database)


def _cause(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error).splitlines()[0][:200]


@contextmanager
def _answering(url: str, setting: str) -> Iterator[None]:
    """A failure of the database at `url` becomes one line naming it and its setting."""
    try:
        yield
    except (SQLAlchemyError, OSError) as error:
        raise CommandFailed(
            f"{where(url)} does not answer ({_cause(error)}); "
            f"check {setting} and that the database server runs"
        ) from None
