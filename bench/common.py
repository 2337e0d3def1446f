"""What the benchmarks share: the concurrent run, percentiles, step timing, peak memory and a
fresh, migrated database."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import create_engine
from tweetlink import migrations

# A run records how long each named step of each flow took.
Steps = dict[str, list[float]]

# One unit of work (a link flow, a tweet): takes its index, records its steps' durations, and
# returns what it produced (the X handle linked, the tweet's id).
Job = Callable[[int, Steps], Awaitable[str]]


@dataclass
class Run:
    """What `run_concurrently` did and cost."""

    indices: list[int]
    wall: float
    cpu: float  # this process's CPU time
    latencies: list[float]
    steps: Steps
    outcomes: dict[int, str]  # index -> what the job returned
    failures: dict[int, str]  # index -> the error, shortened
    heap_peak_mb: float | None  # when tracemalloc is tracing


async def run_concurrently(job: Job, indices: Iterable[int], concurrency: int) -> Run:
    """Run `job` for every index, `concurrency` workers pulling from one shared iterator."""
    queued = list(indices)
    pending = iter(queued)
    latencies: list[float] = []
    steps: Steps = defaultdict(list)
    outcomes: dict[int, str] = {}
    failures: dict[int, str] = {}

    async def worker() -> None:
        for index in pending:
            began = time.perf_counter()
            try:
                outcomes[index] = await job(index, steps)
            except Exception as error:  # every failure is counted and reported, none is fatal
                failures[index] = f"{type(error).__name__}: {error}"[:160]
                continue
            latencies.append(time.perf_counter() - began)

    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
    cpu_began, wall_began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(queued)))))
    wall, cpu = time.perf_counter() - wall_began, time.process_time() - cpu_began
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if tracemalloc.is_tracing() else None
    return Run(queued, wall, cpu, latencies, dict(steps), outcomes, failures, heap_peak)


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux: writing 5 to clear_refs); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


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
