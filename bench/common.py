"""What the benchmarks share: percentiles, step timing and a fresh, migrated database."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import create_engine
from tweetlink import migrations

# A run records how long each named step of each flow took.
Steps = dict[str, list[float]]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextmanager
def timed(steps: Steps, name: str) -> Iterator[None]:
    """Add the duration of the `with` block to `steps[name]`."""
    began = time.perf_counter()
    yield
    steps[name].append(time.perf_counter() - began)


async def prepare_database(url: str) -> None:
    """An empty database at the newest migration; PostgreSQL's public schema is wiped first."""
    engine = create_engine(url)
    try:
        if make_url(url).get_backend_name() == "postgresql":
            async with engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()
