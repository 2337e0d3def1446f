"""A burst of `/twitter-account` against `tweetlink run` on the fake Discord, and its memory.

Starts the fake X and the fake Discord in this process, then `tweetlink run` as a child process
pointed at them, the way tests/test_run.py runs it: `python -m
tests.support.tweetlink_on_fake_discord run`, tweetlink's own command line with discord.py aimed at
the fake (production code has no switch for that), with `--members`
members in one guild, `--linked` of whom have a linked X account. Once the bot has synced its
commands, connected and answered one warm-up `/twitter-account`, it reads the bot's idle RSS, then
dispatches one `/twitter-account` from each member, spread evenly over `--burst-seconds`, waits
for every interaction callback, and reads the RSS again. Finally it stops the bot with SIGTERM
and checks that it exits 0.

It prints how many interactions were answered (and how many the fake refused as later than
Discord's 3 s deadline, or got a wrong answer), p50/p99/max time from dispatch to the callback's
arrival at the fake (by the fake's clock; missing answers count as never), the bot's RSS idle and
after the burst, and each target with PASS/FAIL. It exits 1 if a target is missed, 2 if the
bot could not be started or measured.

Targets: all answered, p99 under 500 ms, idle RSS at most 120 MB.

Run it from the project root:

    .venv/bin/python -m bench.interactions
    .venv/bin/python -m bench.interactions --members 200 --burst-seconds 1.0 --linked 100

Without `--database-url` it uses a SQLite file in a temporary directory. Another database is
migrated to the newest revision, gets `--linked` rows in linked_accounts for the run's members,
and has them deleted again at the end.

The fake Discord runs in this process and the bot in another: on a machine with few cores the
fake's CPU competes with the bot's, and the figures include that (the CPU each side used during
the burst is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy import delete
from sqlalchemy.engine import make_url

from bench.common import CONSUMER_KEY, CONSUMER_SECRET, free_port, percentile
from core.clock import utcnow
from core.db import create_engine, create_session_factory
from core.models import LinkedAccount
from core.sealing import Sealer
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeInteraction, FakeUser
from tests.fakes.twitter import FakeTwitter
from tests.support.tweetlink_on_fake_discord import MODULE as TWEETLINK_ON_FAKE_DISCORD
from tests.support.tweetlink_on_fake_discord import fake_discord_environment
from tweetlink import migrations

COMMAND = "twitter-account"
NOT_LINKED = "No X account is linked"
TARGET_P99 = 0.5  # seconds
TARGET_IDLE_RSS_MB = 120.0
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

T = TypeVar("T")


class BenchFailed(Exception):
    """The bot could not be started, measured or stopped."""


@dataclass
class Burst:
    """What the burst dispatched and what came back."""

    interactions: list[FakeInteraction]
    expected: list[str]  # the start of each right answer
    spread: float  # seconds from the first dispatch to the last
    bot_cpu: float  # seconds of CPU the bot used from the burst's start to the last answer
    bench_cpu: float  # the same for this process (the fake Discord and the load generator)
    wall: float  # seconds from the burst's start to the last answer (or the give-up)
    answered: int = 0
    late: int = 0  # callbacks the fake refused as after the deadline
    wrong: int = 0  # accepted callbacks whose text was not the right answer
    missing: int = 0  # no callback at all
    latencies: list[float] = field(default_factory=list)  # one per dispatch; inf if none came


@dataclass(frozen=True)
class Memory:
    """The bot's memory, read from /proc."""

    rss_mb: float
    peak_mb: float


def read_memory(pid: int) -> Memory:
    """VmRSS and VmHWM (the peak RSS) of process `pid`."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB
    return Memory(fields["VmRSS"], fields["VmHWM"])


def read_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    after_name = stat.rsplit(")", 1)[1].split()
    # Fields 14 and 15 (utime, stime) of proc(5), counted from the state at field 3.
    ticks = int(after_name[11]) + int(after_name[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def check_is_tweetlink_run(pid: int) -> None:
    """Make sure `pid` is `tweetlink run` itself (not a shell around it)."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if cmdline[1:4] != [b"-m", TWEETLINK_ON_FAKE_DISCORD.encode(), b"run"]:
        raise BenchFailed(f"pid {pid} is not `tweetlink run`: {cmdline!r}")


def own_cpu() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the report; 'never' for a missing answer."""
    return "never" if seconds == float("inf") else f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


async def prepare_database(url: str, sealer: Sealer, linked: Sequence[FakeUser]) -> None:
    """Migrate the database and link an X account to each of `linked`."""
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        async with create_session_factory(engine).begin() as session:
            now = utcnow()
            session.add_all(
                LinkedAccount(
                    discord_user_id=user.id,
                    twitter_user_id=str(user.id),  # unique, like X's own numeric ids
                    screen_name=user.name,
                    access_token_sealed=sealer.seal(f"{user.id}-token"),
                    access_token_secret_sealed=sealer.seal(f"{user.id}-secret"),
                    access_level="read-write",
                    linked_at=now,
                )
                for user in linked
            )
    finally:
        await engine.dispose()


async def remove_links(url: str, linked: Sequence[FakeUser]) -> None:
    """Delete the rows prepare_database added (for a database that outlives the run)."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine).begin() as session:
            ids = [user.id for user in linked]
            await session.execute(
                delete(LinkedAccount).where(LinkedAccount.discord_user_id.in_(ids))
            )
    finally:
        await engine.dispose()


def environment(
    fake_discord: FakeDiscord, fake_twitter: FakeTwitter, database_url: str, key: str
) -> dict[str, str]:
    """What an operator would set, pointed at the fakes (as tests/test_run.py sets it up).

    Like tests.test_cli.environment_of, it keeps none of this shell's upper-case variables but
    PATH, so an exported DATABASE_URL or the like cannot leak into the bot.
    """
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.isupper()}
    env.update(
        PATH=os.environ.get("PATH", ""),
        **fake_discord_environment(fake_discord),
        TWITTER_CONSUMER_KEY=CONSUMER_KEY,
        TWITTER_CONSUMER_SECRET=CONSUMER_SECRET,
        TWITTER_API_BASE=fake_twitter.base_url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        WEB_PORT=str(port),
        DATABASE_URL=database_url,
        TOKEN_ENCRYPTION_KEYS=key,
        LOG_LEVEL="WARNING",
    )
    return env


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of the bot's stderr, for a failure message."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


async def unless_exited(
    process: asyncio.subprocess.Process, awaitable: Awaitable[T], stderr: Path
) -> T:
    """Await `awaitable`, but stop with the bot's stderr if the bot exits first."""
    task = asyncio.ensure_future(awaitable)
    exited = asyncio.ensure_future(process.wait())
    try:
        await asyncio.wait({task, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        exited.cancel()
    if not task.done():
        task.cancel()
        raise BenchFailed(f"the bot exited with {process.returncode}:\n{tail(stderr)}")
    return task.result()


async def fire(
    fake: FakeDiscord,
    guild: FakeGuild,
    members: Sequence[FakeUser],
    expected: list[str],
    window: float,
    pid: int,
    answer_timeout: float,
) -> Burst:
    """Dispatch one command per member, evenly over `window` seconds, and collect the answers."""
    loop = asyncio.get_running_loop()
    bot_cpu, bench_cpu = read_cpu(pid), own_cpu()
    began = loop.time()
    interactions: list[FakeInteraction] = []
    for index, member in enumerate(members):
        # Pacing the load: each dispatch waits for its slot, never for an answer.
        slot = began + index * window / len(members)
        await asyncio.sleep(max(0.0, slot - loop.time()))
        interactions.append(await fake.slash_command(member, COMMAND, guild=guild))
    spread = interactions[-1].dispatched_at - interactions[0].dispatched_at

    # Waiting only now keeps 200 waiters from waking on every request during the burst.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(answer_timeout):
            await asyncio.gather(
                *(interaction.wait_response() for interaction in interactions),
                return_exceptions=True,
            )
    wall = loop.time() - began
    burst = Burst(
        interactions,
        expected,
        spread,
        bot_cpu=read_cpu(pid) - bot_cpu,
        bench_cpu=own_cpu() - bench_cpu,
        wall=wall,
    )
    for interaction, answer in zip(interactions, expected, strict=True):
        if not interaction.responses:
            burst.missing += 1
            burst.latencies.append(float("inf"))
            continue
        callback = interaction.responses[0]
        burst.latencies.append(callback.latency)
        if callback.status != 200:
            burst.late += 1
        elif not (callback.content or "").startswith(answer) or not callback.ephemeral:
            burst.wrong += 1
        else:
            burst.answered += 1
    return burst


async def stop(process: asyncio.subprocess.Process) -> int:
    """SIGTERM, then the exit code (killed after STOP_TIMEOUT seconds: -9)."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode


async def bench(args: argparse.Namespace, scratch: Path) -> int:
    key = Sealer.generate_key()
    async with (
        FakeTwitter(CONSUMER_KEY, CONSUMER_SECRET) as fake_twitter,
        FakeDiscord(wait_timeout=args.answer_timeout) as fake,
    ):
        guild = fake.add_guild("Bench")
        members = [fake.add_user(f"bench{index}") for index in range(args.members)]
        warmup = fake.add_user("warmup")
        for user in [*members, warmup]:
            guild.add_member(user)
        linked = members[: args.linked]
        expected = [f"Linked as @{m.name} since" for m in linked] + [NOT_LINKED] * (
            args.members - args.linked
        )
        await prepare_database(args.database_url, Sealer([key]), linked)

        stderr_path = scratch / "tweetlink-run.stderr"
        try:
            with (
                (scratch / "tweetlink-run.stdout").open("wb") as stdout,
                stderr_path.open("wb") as stderr,
            ):
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    TWEETLINK_ON_FAKE_DISCORD,
                    "run",
                    cwd=scratch,  # no .env there
                    env=environment(fake, fake_twitter, args.database_url, key),
                    stdout=stdout,
                    stderr=stderr,
                )
            try:
                check_is_tweetlink_run(process.pid)
                started = time.perf_counter()
                async with asyncio.timeout(STARTUP_TIMEOUT):
                    await unless_exited(
                        process,
                        fake.wait_for(lambda r: r.method == "PUT" and r.path.endswith("/commands")),
                        stderr_path,
                    )
                    await unless_exited(process, fake.wait_connected(), stderr_path)
                    first = await fake.slash_command(warmup, COMMAND, guild=guild)
                    answer = await unless_exited(process, first.wait_response(), stderr_path)
                startup = time.perf_counter() - started
                if not (answer.content or "").startswith(NOT_LINKED):
                    raise BenchFailed(f"the warm-up got {answer.content!r}")
                await asyncio.sleep(args.settle_seconds)
                idle = read_memory(process.pid)
                burst = await fire(
                    fake,
                    guild,
                    members,
                    expected,
                    args.burst_seconds,
                    process.pid,
                    args.answer_timeout,
                )
                after = read_memory(process.pid)
            finally:
                returncode = await stop(process)
        finally:
            if not args.temporary_database:
                await remove_links(args.database_url, linked)

    if fake.errors:
        print(f"the fake Discord failed {len(fake.errors)} times, first: {fake.errors[0]!r}")
    return report(args, startup, answer.latency, idle, after, burst, returncode, stderr_path)


def report(
    args: argparse.Namespace,
    startup: float,
    warmup_latency: float,
    idle: Memory,
    after: Memory,
    burst: Burst,
    returncode: int,
    stderr: Path,
) -> int:
    """Print the figures and the verdicts; the exit code (1 if a target is missed)."""
    n = args.members
    backend = make_url(args.database_url).get_backend_name()
    print(
        f"/{COMMAND} x{n} from {n} members over {args.burst_seconds:g} s "
        f"({args.linked} linked), database {backend}, {os.cpu_count()} CPUs"
    )
    print(
        f"bot ready in {startup:.2f} s (commands synced, connected, warm-up answered in "
        f"{ms(warmup_latency)})"
    )
    print(
        f"dispatched {len(burst.interactions)} in {burst.spread:.3f} s; "
        f"last answer {burst.wall:.3f} s after the first dispatch"
    )
    print(
        f"answered {burst.answered}/{n}; refused as late (> 3 s) {burst.late}; "
        f"wrong answer {burst.wrong}; no answer {burst.missing}"
    )
    p50, p99 = percentile(burst.latencies, 0.5), percentile(burst.latencies, 0.99)
    print(
        f"dispatch to callback: p50 {ms(p50)}, p99 {ms(p99)}, "
        f"max {ms(max(burst.latencies, default=float('nan')))}"
    )
    print(
        f"CPU during the burst: bot {burst.bot_cpu:.2f} s, "
        f"this process (fake Discord + load) {burst.bench_cpu:.2f} s"
    )
    print(f"bot RSS: idle {idle.rss_mb:.1f} MB, after the burst {after.rss_mb:.1f} MB")
    print(f"bot peak RSS (VmHWM): {after.peak_mb:.1f} MB")
    print(f"SIGTERM: exit code {returncode}")
    if returncode != 0:
        print(tail(stderr))
    checks = [
        (f"all {n} answered", burst.answered == n),
        (f"p99 under {TARGET_P99 * 1000:.0f} ms", p99 < TARGET_P99),
        (f"idle RSS at most {TARGET_IDLE_RSS_MB:.0f} MB", idle.rss_mb <= TARGET_IDLE_RSS_MB),
        ("exit 0 on SIGTERM", returncode == 0),
    ]
    for name, ok in checks:
        print(f"{verdict(ok)}  {name}")
    return 0 if all(ok for _, ok in checks) else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.interactions", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--members", type=int, default=200, help="members in the burst (200)")
    parser.add_argument(
        "--burst-seconds", type=float, default=1.0, help="window the burst is spread over (1.0)"
    )
    parser.add_argument(
        "--linked", type=int, default=100, help="how many of the members have a link (100)"
    )
    parser.add_argument(
        "--database-url",
        help="default: a SQLite file in a temporary directory; any other database is migrated "
        "and gets (then loses) the linked rows",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=1.0,
        help="pause after the warm-up answer before reading the idle RSS (1.0)",
    )
    parser.add_argument(
        "--answer-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for all answers before counting the rest as missing (30)",
    )
    args = parser.parse_args()
    if args.members < 1 or not 0 <= args.linked <= args.members:
        parser.error("--members must be positive and --linked between 0 and --members")
    if args.burst_seconds < 0 or args.settle_seconds < 0 or args.answer_timeout <= 0:
        parser.error("--burst-seconds and --settle-seconds must be >= 0, --answer-timeout > 0")
    with tempfile.TemporaryDirectory(prefix="tweetlink-bench-") as scratch:
        args.temporary_database = args.database_url is None
        if args.database_url is None:
            args.database_url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        try:
            code = asyncio.run(bench(args, Path(scratch)))
        except BenchFailed as error:
            print(f"bench failed: {error}", file=sys.stderr)
            code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
