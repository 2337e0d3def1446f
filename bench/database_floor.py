"""What a tweet's or a link flow's database work costs on our engine alone, with nothing else:
the floor under the CPU figures of `bench.tweets` and `bench.link_flow`.

A tweet is 3 transactions and 8 statements (`core/tweets.py`: prepare reads the rules and inserts
the draft; Post claims and books in 5 statements; X's answer is 1 more). A link flow is 7
transactions and 11 statements (`core/links.py`: start 2, the landing page 1, Continue 1 + 1,
the callback 1 + 1, the code 4). This bench runs one of those shapes, `--jobs` times with
`--concurrency` in flight, through the engine and sessions `core.db` builds (on SQLite: WAL,
`BEGIN IMMEDIATE`, one pooled connection), with the cheapest statements there are: one-row reads
and updates of a scratch table, by primary key. No X, no pages, no validation, no sealing, no
ORM model. It prints this process's CPU time per job (all its threads, so aiosqlite's too), jobs
per second, and how much of the matching bench's CPU target is left for everything else.

    .venv/bin/python -m bench.database_floor --shape tweet
    .venv/bin/python -m bench.database_floor --shape link-flow \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Without `--database-url` it uses a SQLite file in a temporary directory. It creates and drops a
table of its own, `bench_database_floor`, and touches nothing else.
"""

from __future__ import annotations

import argparse

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import common, link_flow, tweets
from core.db import SessionFactory, create_engine, create_session_factory

READ = text("SELECT value FROM bench_database_floor WHERE id = :id")
WRITE = text("UPDATE bench_database_floor SET value = value + 1 WHERE id = :id")
ROWS = 100  # job i touches row i % ROWS, as job i is by member i % M in the other benches

# Each job's transactions, in order, as (reads, writes): the shapes the docstring describes.
SHAPES = {
    "tweet": [(1, 1), (4, 1), (0, 1)],
    "link-flow": [(0, 2), (1, 0), (1, 0), (0, 1), (0, 1), (0, 1), (1, 3)],
}
CPU_TARGETS_MS = {"tweet": tweets.TARGETS.cpu_ms, "link-flow": link_flow.TARGETS.cpu_ms}


async def one_job(sessions: SessionFactory, shape: list[tuple[int, int]], row: int) -> None:
    """One job's database work, transaction for transaction, statement for statement."""
    key = {"id": row}
    for reads, writes in shape:
        async with sessions.begin() as session:
            for _ in range(reads):
                (await session.execute(READ, key)).first()
            for _ in range(writes):
                await session.execute(WRITE, key)


async def bench(args: argparse.Namespace) -> int:
    shape = SHAPES[args.shape]
    engine = create_engine(args.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE IF EXISTS bench_database_floor"))
            await connection.execute(
                text(
                    "CREATE TABLE bench_database_floor "
                    "(id INTEGER PRIMARY KEY, value INTEGER NOT NULL)"
                )
            )
            await connection.execute(
                text("INSERT INTO bench_database_floor (id, value) VALUES (:id, 0)"),
                [{"id": row} for row in range(ROWS)],
            )
        sessions = create_session_factory(engine)

        async def job(index: int, _steps: common.Steps) -> str:
            await one_job(sessions, shape, index % ROWS)
            return ""

        await common.run_concurrently("warm-up", job, range(args.warmup), args.concurrency)
        run = await common.run_concurrently("floor", job, range(args.jobs), args.concurrency)
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE bench_database_floor"))
    finally:
        await engine.dispose()
    if run.failures:
        print(f"{len(run.failures)} failed, the first: {next(iter(run.failures.values()))}")
        return 1
    target = CPU_TARGETS_MS[args.shape]
    statements = sum(reads + writes for reads, writes in shape)
    backend = make_url(args.database_url).get_backend_name()
    print(
        f"{args.jobs} {args.shape}s' database work ({len(shape)} transactions, {statements} "
        f"statements each), {args.concurrency} in flight, database {backend}\n"
        f"CPU per {args.shape} {run.cpu_ms_per_job:.2f} ms, {run.per_second:.0f} per second\n"
        f"of the {target:g} ms CPU target, {target - run.cpu_ms_per_job:.2f} ms is left for "
        "everything else"
    )
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.database_floor", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tweet", help="(tweet)")
    parser.add_argument("--jobs", type=int, default=2000, help="measured jobs (2000)")
    parser.add_argument("--concurrency", type=int, default=64, help="jobs in flight (64)")
    parser.add_argument("--warmup", type=int, default=100, help="uncounted jobs first (100)")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    args = parser.parse_args()
    if args.jobs < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--jobs and --concurrency must be positive, --warmup not negative")
    common.run_bench(bench, args)


if __name__ == "__main__":
    main()
