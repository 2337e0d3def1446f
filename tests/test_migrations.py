"""The migrations build exactly the models' schema and come down cleanly, on every database."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from core.models import Base
from tweetlink import migrations


async def test_upgrade_matches_models_and_downgrade_empties(database_url: str) -> None:
    """At head the tables are the models' tables and the schema is current; base leaves none."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert set(Base.metadata.tables) <= tables
        assert await migrations.is_current(engine)

        await migrations.downgrade(engine)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert tables <= {"alembic_version"}
        assert not await migrations.is_current(engine)

        await migrations.upgrade(engine)
        assert await migrations.is_current(engine)
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(database_url: str) -> None:
    """Autogenerate finds nothing to add: every model change shipped with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []
