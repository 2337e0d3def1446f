"""What the benchmarks share: the fake X in a process of its own, the concurrent run, the report
(figures, targets, PASS/FAIL), the settings, a fresh migrated database and the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.config import Settings
from core.db import create_engine
from core.sealing import Sealer
from tweetlink import migrations

CONSUMER_KEY = "bench-consumer-key"
CONSUMER_SECRET = "bench-consumer-secret"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
FAKE_STARTUP_SECONDS = 30.0
FAKE_STOP_SECONDS = 10.0

# A run records how long each named step of each job took.
Steps = dict[str, list[float]]

# One unit of work (a link flow, a tweet): takes its index, records its steps' durations, and
# returns what it produced (the X handle linked, the tweet's id).
Job = Callable[[int, Steps], Awaitable[str]]


# The fake X -------------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def fake_x(latency: float) -> AsyncIterator[str]:
    """Run `python -m tests.fakes.twitter` in a process of its own; yields its base URL.

    Apart from ours, the fake's work (signature checks, its HTTP server) takes neither our event
    loop nor our CPU time, for our side and for the floor alike.
    """
    async with fake_x_process(latency) as (base_url, _):
        yield base_url


@asynccontextmanager
async def fake_x_process(
    latency: float,
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """`fake_x`, yielding its process too (for a bench that measures the fake's CPU)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.twitter",
        "--port",
        str(port),
        "--consumer-key",
        CONSUMER_KEY,
        "--consumer-secret",
        CONSUMER_SECRET,
        "--latency",
        str(latency),
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.DEVNULL,  # its greeting; errors still reach our stderr
    )
    try:
        await _wait_until_answering(process, base_url)
        yield base_url, process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), FAKE_STOP_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_answering(process: asyncio.subprocess.Process, base_url: str) -> None:
    """Ask the fake for a page until it answers, or give up at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FAKE_STARTUP_SECONDS
    async with aiohttp.ClientSession() as http:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the fake X exited with {process.returncode}")
            try:
                async with http.get(f"{base_url}/oauth/authorize") as answer:
                    await answer.read()  # any answer will do: it is serving
                return
            except aiohttp.ClientConnectionError:
                if loop.time() > deadline:
                    raise RuntimeError(f"the fake X did not answer at {base_url}") from None
            await asyncio.sleep(0.05)


# Settings and the database ----------------------------------------------------------------------


def bench_settings(args: argparse.Namespace, api_base: str, **values: Any) -> Settings:
    """Our settings for a run against the fake at `api_base`; `values` add to or override them."""
    defaults: dict[str, Any] = {
        "_env_file": None,
        "twitter_consumer_key": CONSUMER_KEY,
        "twitter_consumer_secret": CONSUMER_SECRET,
        "database_url": args.database_url,
        "token_encryption_keys": Sealer.generate_key(),
        "twitter_api_base": api_base,
        # Generous, so that a slow step shows in p99 rather than as a lost one.
        "twitter_timeout_seconds": 30,
    }
    # Passed as a mapping: the values are validated (and the secrets wrapped) by pydantic.
    return Settings(**(defaults | values))


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


# Running and timing -----------------------------------------------------------------------------


@dataclass
class Run:
    """What `run_concurrently` did and cost."""

    name: str
    indices: list[int]
    wall: float
    cpu: float  # this process's CPU time, all its threads (the fake X's is not in it)
    latencies: list[float]
    steps: Steps
    outcomes: dict[int, str]  # index -> what the job returned
    failures: dict[int, str]  # index -> the error, shortened
    peak_rss_mb: float  # VmHWM after the run (reset before it where Linux allows)

    @property
    def per_second(self) -> float:
        return len(self.outcomes) / self.wall if self.wall else 0.0

    @property
    def cpu_ms_per_job(self) -> float:
        return self.cpu / len(self.indices) * 1000 if self.indices else float("nan")


async def run_concurrently(name: str, job: Job, indices: Iterable[int], concurrency: int) -> Run:
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

    _reset_peak_rss()
    cpu_began, wall_began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(queued)))))
    wall, cpu = time.perf_counter() - wall_began, time.process_time() - cpu_began
    return Run(name, queued, wall, cpu, latencies, dict(steps), outcomes, failures, _peak_rss_mb())


@contextmanager
def timed(steps: Steps, name: str) -> Iterator[None]:
    """Add the duration of the `with` block to `steps[name]`."""
    began = time.perf_counter()
    yield
    steps[name].append(time.perf_counter() - began)


def _reset_peak_rss() -> None:
    """Reset this process's VmHWM (Linux: writing 5 to clear_refs), where allowed."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
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


# Checking and reporting -------------------------------------------------------------------------


@dataclass
class Check:
    """Problems found, keyed so that one job found wrong by two checks counts once."""

    lost: dict[str, str] = field(default_factory=dict)
    doubled: dict[str, str] = field(default_factory=dict)
    wrong: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.wrong)


@dataclass(frozen=True)
class Targets:
    """What our side must reach at the defaults (50 ms fake latency, 64 in flight)."""

    ratio: float  # ours/floor jobs per second, at least
    cpu_ms: float  # CPU milliseconds of this process per job of ours, at most


def report(unit: str, floor: Run, ours: Run, check: Check, targets: Targets) -> int:
    """Print the figures, one row a run, and the verdicts; the exit code (0 when all PASS).

    1 if a job was lost, doubled or wrong; else 3 if a target was missed.
    """
    print(
        f"{'':10} {unit + 's/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/' + unit:>13}"
        f" {'peak RSS MB':>12} {'errors':>7}"
    )
    for run in (floor, ours):
        print(
            f"{run.name:10} {run.per_second:9.1f}"
            f" {percentile(run.latencies, 0.5) * 1000:8.1f}"
            f" {percentile(run.latencies, 0.99) * 1000:8.1f}"
            f" {run.cpu_ms_per_job:13.2f} {run.peak_rss_mb:12.1f} {len(run.failures):7}"
        )
    print(
        "CPU is this process's alone, all its threads (on SQLite the database's too); the fake X "
        "runs in a process of its own, and a PostgreSQL server's CPU is not counted either."
    )
    for run in (floor, ours):
        medians = ", ".join(
            f"{name} {percentile(times, 0.5) * 1000:.1f}" for name, times in run.steps.items()
        )
        print(f"{run.name} step p50 ms: {medians}")
        for error, n in Counter(run.failures.values()).most_common(5):
            print(f"{run.name} error x{n}: {error}")

    print(f"lost: {len(check.lost)}, doubled: {len(check.doubled)}, wrong: {len(check.wrong)}")
    for problem in [*check.lost.values(), *check.doubled.values(), *check.wrong.values()][:10]:
        print(f"  {problem}")
    ratio = ours.per_second / floor.per_second if floor.per_second else 0.0
    verdicts = [
        (
            ratio >= targets.ratio,
            f"ours/floor {unit}s per second {ratio:.3f} (target >= {targets.ratio})",
        ),
        (
            ours.cpu_ms_per_job <= targets.cpu_ms,
            f"our CPU per {unit} {ours.cpu_ms_per_job:.2f} ms (target <= {targets.cpu_ms} ms)",
        ),
        (check.ok, f"every {unit} done exactly once, as asked, and recorded so"),
    ]
    for ok, line in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {line}")
    if not check.ok:
        return 1
    return 0 if all(ok for ok, _ in verdicts) else 3


# The command line -------------------------------------------------------------------------------


def add_x_and_database_options(parser: argparse.ArgumentParser) -> None:
    """--latency of the fake X and --database-url, which every bench against the fake X takes."""
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the fake X takes per answer (0.05)"
    )
    parser.add_argument(
        "--database-url",
        help="default: a SQLite file in a temporary directory; a PostgreSQL URL "
        "(postgresql+asyncpg://…) has its public schema wiped first",
    )


def argument_parser(prog: str, doc: str, *, warmup: int) -> argparse.ArgumentParser:
    """The options every throughput bench takes; the bench adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=64, help="jobs in flight (64)")
    add_x_and_database_options(parser)
    parser.add_argument(
        "--warmup", type=int, default=warmup, help=f"uncounted jobs first, each side ({warmup})"
    )
    return parser


def check_common_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.concurrency < 1 or args.warmup < 0 or args.latency < 0:
        parser.error("--concurrency must be positive, --warmup and --latency not negative")


def describe(args: argparse.Namespace) -> str:
    """The run's conditions, for the report's first line."""
    return (
        f"{args.concurrency} in flight, fake X latency {args.latency * 1000:.0f} ms, "
        f"database {make_url(args.database_url).get_backend_name()}, "
        f"{args.warmup} warm-up each side not counted, {os.cpu_count()} CPUs"
    )


def run_bench(
    bench: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace
) -> None:
    """Run `bench(args)` (on a temporary SQLite file unless a database was given) and exit with
    its code."""
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tweetlink-bench-") as scratch:
        if args.database_url is None:
            args.database_url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        code = asyncio.run(bench(args))
    sys.exit(code)
