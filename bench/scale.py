"""Link flows per second with one and with two `tweetlink web` worker processes on PostgreSQL.

Starts the fake X in a process of its own (`python -m tests.fakes.twitter` on a free loopback
port, answering after `--latency` seconds). Then, once with one worker and once with two, on a
freshly wiped and migrated database each time: starts that many `tweetlink web` processes
(`python -m tweetlink web`, each on a port of its own, the same DATABASE_URL, PUBLIC_URL the first
worker's), waits until each answers /healthz, and runs `--warmup` uncounted then `--flows`
measured link flows, `--concurrency` at a time. This process plays the bot and the members: the
bot's `start` and `confirm` in-process, on the production composition root and the same database;
the browser is a plain aiohttp client whose requests to our pages (landing, Continue, X's
callback) a round-robin load balancer spreads over the workers one request at a time, so with two
workers most flows cross from one to the other mid-flow. The browser's Authorize goes to the fake
X. At the end the workers get SIGTERM and must exit 0 with no traceback in their logs.

It prints, for one and for two workers, flows per second, p50/p99 latency, each step's median,
the ratio two/one, and where the CPU went during the measured flows, as milliseconds per flow and
as a share of one core: this process (the bot's steps and the browser), each worker, the fake X,
PostgreSQL (the local processes named `postgres`, exited backends included) and the whole machine
(/proc/stat). Everything runs on one machine: on a machine with few cores the workers compete with
the bench, the fake and PostgreSQL, and the figures show it. It checks that every flow linked
exactly its own X account, from what our calls returned and from the database (lost: 0,
doubled: 0).

Targets, at 50 ms fake latency and 64 flows in flight, printed as PASS/FAIL lines:
- two workers at least 1.6 x the flows per second of one;
- every flow linked exactly its own X account, none lost or doubled, and every worker stopped
  cleanly.
It exits 1 if a flow was lost, doubled or wrong (or a worker failed), 3 if all checked out but a
target was missed, 0 when every line PASSes.

Run it from the project root, on a throwaway PostgreSQL database (its `public` schema is DROPPED
and recreated before each run):

    .venv/bin/python -m bench.scale --flows 512 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/tweetlink_workers
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy.engine import make_url

from bench import common
from bench.link_flow import FIRST_DISCORD_ID, FlowFailed, check_database, check_returned
from core.sealing import Sealer
from tests.support.member_browser import MemberBrowser
from tests.support.processes import environment_of
from tests.support.web_workers import WebWorker, on_worker, web_workers
from tweetlink.services import Services, open_services

TARGET_RATIO = 1.6
_TICKS = os.sysconf("SC_CLK_TCK")


# Where the CPU goes -----------------------------------------------------------------------------


def _cpu_of(pid: int, *, with_children: bool = False) -> float:
    """A process's user + system CPU seconds (and its exited children's); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    # From the state on: utime, stime, cutime, cstime are fields 14-17 of proc(5).
    return sum(int(ticks) for ticks in fields[11 : 15 if with_children else 13]) / _TICKS


def _postgres_cpu() -> float:
    """CPU seconds of the local processes named postgres; the postmaster's waited-for children
    (backends that have exited) included, so connections that come and go are counted too."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name == "postgres":
            total += _cpu_of(int(entry.name), with_children=True)
    return total


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    first_line = Path("/proc/stat").read_text().split("\n", 1)[0]
    # user nice system idle iowait irq softirq steal (guest time is in user already)
    ticks = [int(value) for value in first_line.split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far of each party, read at one moment."""

    bench: float
    workers: tuple[float, ...]
    fake_x: float
    postgres: float
    machine: float

    @classmethod
    def read(cls, workers: Sequence[WebWorker], fake_x_pid: int) -> Cpu:
        return cls(
            bench=_cpu_of(os.getpid()),
            workers=tuple(_cpu_of(worker.process.pid) for worker in workers),
            fake_x=_cpu_of(fake_x_pid),
            postgres=_postgres_cpu(),
            machine=_machine_busy(),
        )

    def __sub__(self, before: Cpu) -> Cpu:
        return Cpu(
            self.bench - before.bench,
            tuple(a - b for a, b in zip(self.workers, before.workers, strict=True)),
            self.fake_x - before.fake_x,
            self.postgres - before.postgres,
            self.machine - before.machine,
        )

    def parts(self) -> Iterator[tuple[str, float]]:
        yield "bench", self.bench
        for n, seconds in enumerate(self.workers):
            yield f"worker {n}", seconds
        yield "fake X", self.fake_x
        yield "PostgreSQL", self.postgres
        known = self.bench + sum(self.workers) + self.fake_x + self.postgres
        yield "the rest", self.machine - known
        yield "machine", self.machine


# One run: N workers -----------------------------------------------------------------------------


@dataclass
class Measured:
    """What one run with `workers` workers did and cost."""

    workers: int
    run: common.Run
    cpu: Cpu


def over_workers(
    services: Services, browser: MemberBrowser, workers: Sequence[WebWorker], prefix: str
) -> common.Job:
    """A whole flow: the bot's two calls here, the browser's page requests spread round-robin."""
    links, settings = services.links, services.settings
    balancer = itertools.cycle(workers)  # one load balancer for every flow, one pick a request

    async def flow(index: int, steps: common.Steps) -> str:
        discord_user_id = FIRST_DISCORD_ID + index
        handle = f"{prefix}{index}"
        with common.timed(steps, "start"):
            started = await links.start(discord_user_id, f"member{index}#0")
        link_url = settings.link_url(started.intent_id)
        with common.timed(steps, "landing"):
            landing = await browser.open(on_worker(link_url, next(balancer)))
        if landing.status != 200:
            raise FlowFailed(f"landing answered {landing.status}")
        with common.timed(steps, "continue"):
            authorize_url = await browser.submit_continue(
                landing, on_worker(link_url, next(balancer))
            )
        with common.timed(steps, "x authorize"):
            callback_url = await browser.decide_on_x(
                authorize_url, username=handle, action="authorize"
            )
        with common.timed(steps, "callback"):
            page = await browser.open(on_worker(callback_url, next(balancer)))
        if page.status != 200:
            raise FlowFailed(f"callback answered {page.status}")
        with common.timed(steps, "confirm"):
            link = await links.confirm(discord_user_id, page.code)
        return link.screen_name

    return flow


async def measure(
    args: argparse.Namespace,
    *,
    workers: int,
    api_base: str,
    fake_x_pid: int,
    key: str,
    directory: Path,
    check: common.Check,
) -> Measured:
    """Warm up and measure flows on `workers` fresh workers over a fresh database; checks what
    they linked and that the workers stop cleanly."""
    await common.prepare_database(args.database_url)
    prefix = f"w{workers}x"
    warmup = range(args.warmup)
    measured = range(args.warmup, args.warmup + args.flows)
    settings = common.bench_settings(
        args, api_base, public_url="http://127.0.0.1", token_encryption_keys=key
    )
    env = environment_of(settings) | {
        "TWITTER_TIMEOUT_SECONDS": str(settings.twitter_timeout_seconds)
    }
    async with web_workers(env, workers, directory) as running:
        # Our own link URLs as the workers make them: on the public URL, the first worker's.
        settings = settings.model_copy(update={"public_url": running[0].url})
        async with (
            open_services(settings) as services,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as http,
        ):
            job = over_workers(services, MemberBrowser(http), running, prefix)
            await common.run_concurrently("warm-up", job, warmup, args.concurrency)
            before = Cpu.read(running, fake_x_pid)
            name = f"{workers} worker{'s' if workers > 1 else ''}"
            run = await common.run_concurrently(name, job, measured, args.concurrency)
            cpu = Cpu.read(running, fake_x_pid) - before
            check_returned(run, prefix, check)
            every_flow = [*warmup, *measured]
            expected = {FIRST_DISCORD_ID + index: f"{prefix}{index}" for index in every_flow}
            await check_database(services, expected, check)
        for n, worker in enumerate(running):
            code = await worker.stop()
            if code != 0 or "Traceback" in worker.log:
                last = worker.log.strip().splitlines()[-1:] or ["(nothing logged)"]
                check.wrong[f"{name} worker {n}"] = f"{name}: worker {n} exited {code}: {last[0]}"
    return Measured(workers, run, cpu)


# The report -------------------------------------------------------------------------------------


def report(runs: Sequence[Measured], check: common.Check) -> int:
    """Print the figures and the verdicts; the exit code (0 when all PASS).

    1 if a flow was lost, doubled or wrong, or a worker failed; else 3 if the target was missed.
    """
    print(f"{'':10} {'flows/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for measured in runs:
        run = measured.run
        print(
            f"{run.name:10} {run.per_second:9.1f}"
            f" {percentile(run, 0.5):8.1f} {percentile(run, 0.99):8.1f} {len(run.failures):7}"
        )
    for measured in runs:
        run = measured.run
        medians = ", ".join(
            f"{name} {common.percentile(times, 0.5) * 1000:.1f}"
            for name, times in run.steps.items()
        )
        print(f"{run.name} step p50 ms: {medians}")
        for error, n in Counter(run.failures.values()).most_common(5):
            print(f"{run.name} error x{n}: {error}")
    cores = os.cpu_count() or 1
    print(
        f"CPU during the measured flows, ms per flow (share of one core); {cores} cores, "
        "all on this machine:"
    )
    for measured in runs:
        run, cpu, flows = measured.run, measured.cpu, len(measured.run.indices)
        shares = ", ".join(
            f"{part} {seconds / flows * 1000:.2f} ({seconds / run.wall:.0%})"
            for part, seconds in cpu.parts()
        )
        print(f"  {run.name}: {shares}")
    print("Ceilings at that CPU per flow, flows/s:")
    for measured in runs:
        run, cpu, flows = measured.run, measured.cpu, len(measured.run.indices)
        # What the machine's cores could do if nothing else waited, and what the workers could
        # do each on a core of its own with the rest running elsewhere.
        every_core = cores * flows / cpu.machine if cpu.machine else float("nan")
        own_cores = flows / max(cpu.workers) if max(cpu.workers) else float("nan")
        print(
            f"  {run.name}: every core busy {every_core:.0f}, "
            f"each worker on a core of its own {own_cores:.0f}"
        )

    print(f"lost: {len(check.lost)}, doubled: {len(check.doubled)}, wrong: {len(check.wrong)}")
    for problem in [*check.lost.values(), *check.doubled.values(), *check.wrong.values()][:10]:
        print(f"  {problem}")
    one, two = runs
    ratio = two.run.per_second / one.run.per_second if one.run.per_second else 0.0
    verdicts = [
        (
            ratio >= TARGET_RATIO,
            f"two workers / one, flows per second {ratio:.3f} (target >= {TARGET_RATIO})",
        ),
        (check.ok, "every flow linked exactly its own X account, and every worker stopped cleanly"),
    ]
    for ok, line in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {line}")
    if not check.ok:
        return 1
    return 0 if all(ok for ok, _ in verdicts) else 3


def percentile(run: common.Run, fraction: float) -> float:
    return common.percentile(run.latencies, fraction) * 1000


# The command line -------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> int:
    key = Sealer.generate_key()
    check = common.Check()
    runs = []
    async with common.fake_x_process(args.latency) as (api_base, fake):
        for workers in (1, 2):
            # The workers' working directory (no .env in it) and their logs.
            with tempfile.TemporaryDirectory(prefix=f"tweetlink-scale-{workers}-") as directory:
                measured = await measure(
                    args,
                    workers=workers,
                    api_base=api_base,
                    fake_x_pid=fake.pid,
                    key=key,
                    directory=Path(directory),
                    check=check,
                )
            runs.append(measured)
    print(f"{args.flows} link flows a run, {common.describe(args)}")
    return report(runs, check)


def main() -> None:
    parser = common.argument_parser("python -m bench.scale", __doc__, warmup=64)
    parser.add_argument("--flows", type=int, default=512, help="measured flows a run (512)")
    args = parser.parse_args()
    common.check_common_arguments(parser, args)
    if args.flows < 1:
        parser.error("--flows must be positive")
    if args.flows + args.warmup >= 10**12:
        parser.error("too many flows for distinct 15-character X handles")
    if args.database_url is None or make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL URL (postgresql+asyncpg://…)")
    common.run_bench(bench, args)


if __name__ == "__main__":
    main()
