"""A burst of 1,000 concurrent link flows, then a soak of mixed traffic: lost work, memory, errors.

Starts the fake X in a process of its own (`python -m tests.fakes.twitter` on a free loopback
port, answering after `--latency` seconds) and, in this process, the fake Discord, our web pages
(the production aiohttp app on a free loopback port) and the production bot (real discord.py,
`tweetlink.bot_runner.create_bot`, logged in to the fake Discord), all on one production
composition root (`open_services`) over `--database-url`.

1. The burst: `--flows` link flows, all of them at once. Each is the bot's `start`, our landing
   page and Continue, Authorize on the fake X, our callback page, then the bot's `confirm` with
   the code the page shows; the member's browser is a plain aiohttp client. Flow i links member i
   of the fake Discord's server to the X account `b<i>`.
2. The soak, `--minutes` long: `--rate` operations a second, dispatched at a steady pace without
   waiting for earlier ones, in turn: a link flow as above for a new Discord user (X account
   `s<n>`), a tweet (`TweetService.prepare` then `post` for one of the burst's members, a text of
   its own, since X refuses a member's duplicates; no cooldown and caps at their maximum, so
   nothing is refused), `/twitter-account` and a `/tweet` preview through the fake Discord from
   one of the burst's members (the bot's answer must come within Discord's 3 s and say the right
   thing). The fake Discord keeps every interaction and message for the tests' assertions; the
   bench drops each of its interactions once answered, so that the fake's records stay out of the
   memory measured.

It prints, for the burst: flows done, lost and doubled (every flow linked exactly its own X
account, checked from what our calls returned and from the database), wall time, p50/p99 latency,
each step's median and this process's CPU. For the soak: per kind, operations done and failed,
p50/p99 latency; how late the pacing ran and how many were in flight at most; this process's RSS
(VmRSS, read after a garbage collection) after the burst, after `--warmup-seconds` of soak, each
minute, and when the last operation is dispatched (the bench's own records of the soak, its
latencies and tweet ids, are some hundred kB of that); every log record at WARNING and at ERROR
or above, by phase (set-up, burst, soak, checks, shutdown); and, from the database at the end,
that every link flow (burst and soak) linked its own account once (its flow's row finished, or
deleted once expired) and every tweet is one `posted` row in the ledger under the id its call
returned.

Targets, printed as PASS/FAIL lines:
- the burst: every flow linked exactly its own X account, none lost or doubled;
- the soak: no operation failed, and the database agrees with what the calls returned;
- RSS when the last operation is dispatched within 10 MB of RSS after the warm-up;
- no log record at ERROR or above.
It exits 1 if a flow was lost, doubled or wrong or an operation failed, 3 if all checked out but
the RSS or the log target was missed, 0 when every line PASSes.

Run it from the project root (about 12 minutes each at the defaults):

    .venv/bin/python -m bench.soak
    .venv/bin/python -m bench.soak \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/tweetlink_soak

Without `--database-url` it uses a SQLite file in a temporary directory. A PostgreSQL database
has its `public` schema DROPPED and recreated first: point it only at a throwaway database
(`psql -h 127.0.0.1 -U postgres -d test -c 'CREATE DATABASE tweetlink_soak'` makes one).

Everything but the fake X and a PostgreSQL server runs in this one process, so its CPU and its
RSS include the fake Discord's and the load's, and on a machine with few cores they compete.
The fake Discord in this process acknowledges a heartbeat before discord.py's heartbeat thread
has noted sending it, so discord.py now and then warns "Can't keep up, shard ID 0 websocket is
41.3s behind" (one heartbeat interval), idle bot or not: those WARNING lines say nothing of load.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import gc
import logging
import math
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench import common
from bench.link_flow import check_database, check_returned, handle_of, tweetlink_flow
from core.config import MAX_DAILY_CAP
from core.models import Tweet, TweetStatus
from core.tweets import Where
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeInteraction, FakeUser, ResponseType
from tests.support.discord_bot import custom_ids, running_bot
from tests.support.member_browser import MemberBrowser
from tweetlink.services import Services, open_services
from web.app import create_app, create_runner

FIRST_SOAK_DISCORD_ID = 500_000_000_000_000_000  # the soak's link flows (the burst's: the fake's)
TWEET_CHANNEL_ID = 510_000_000_000_000_001  # where the soak's tweets say they come from
TARGET_RSS_GROWTH_MB = 10.0
DISCORD_DEADLINE = 3.0  # seconds from dispatch to the bot's first answer
ANSWER_TIMEOUT = 30.0  # the fake Discord's waits: an answer later than that is missing
DRAIN_SECONDS = 120.0  # after the last dispatch, for the operations still in flight
# Like X, the fake answers 429 past 100 `POST /2/tweets` per user in 15 minutes.
X_TWEETS_PER_USER = 100
KINDS = ("link flow", "tweet", "/twitter-account", "/tweet preview")


class OperationFailed(Exception):
    """An operation ended otherwise than it should have."""


# Memory and logs --------------------------------------------------------------------------------


def rss_mb() -> float:
    """This process's resident memory (VmRSS) in MiB, after a full garbage collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


class LogCounter(logging.Handler):
    """Counts the records at WARNING and at ERROR or above, by the phase of the run they came in;
    keeps the first few of each."""

    LEVELS = ("ERROR or above", "WARNING")
    KEPT = 5

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.phase = "set-up"
        self.counts: Counter[tuple[str, str]] = Counter()  # (level, phase) -> records
        self.first: dict[str, list[str]] = {level: [] for level in self.LEVELS}

    def emit(self, record: logging.LogRecord) -> None:
        level = self.LEVELS[0] if record.levelno >= logging.ERROR else self.LEVELS[1]
        self.counts[level, self.phase] += 1
        if len(self.first[level]) < self.KEPT:
            line = record.getMessage().splitlines()[0][:200] if record.msg else ""
            self.first[level].append(f"{self.phase}: {record.levelname} {record.name}: {line}")

    def total(self, level: str) -> int:
        return sum(n for (counted, _), n in self.counts.items() if counted == level)

    def report(self) -> None:
        for level in self.LEVELS:
            phases = ", ".join(
                f"{phase} {n}" for (lv, phase), n in self.counts.items() if lv == level
            )
            print(
                f"log records at {level}: {self.total(level)}" + (f" ({phases})" if phases else "")
            )
            for line in self.first[level]:
                print(f"  {line}")


# The operations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A member of the fake Discord's server, linked by the burst to the X account `handle`."""

    user: FakeUser
    handle: str


def soak_link_flow(services: Services, browser: MemberBrowser) -> common.Job:
    """A link flow for a Discord user of its own, checked at once."""
    flow = tweetlink_flow(services, browser, "s", lambda index: FIRST_SOAK_DISCORD_ID + index)

    async def checked(index: int, steps: common.Steps) -> str:
        linked = await flow(index, steps)
        if linked != handle_of("s", index):
            raise OperationFailed(f"flow {index} linked @{linked}, not @{handle_of('s', index)}")
        return linked

    return checked


def tweet_text(index: int, handle: str) -> str:
    """A plausible tweet, unique to its index (X refuses a member's duplicate texts)."""
    return f"soak {index}: notes from tonight's community call, thanks @{handle} and everyone!"


def post_tweet(
    services: Services, guild: FakeGuild, members: list[Member], tweet_ids: list[str]
) -> common.Job:
    """A tweet as /tweet and the Post button make it: prepare (the preview), then post; the id
    X gave it goes to `tweet_ids`."""
    tweets = services.tweets

    async def post(index: int, steps: common.Steps) -> str:
        member = members[index % len(members)]
        where = Where(member.user.id, guild.id, TWEET_CHANNEL_ID)
        draft = await tweets.prepare(where, tweet_text(index, member.handle))
        posted = await tweets.post(draft.id, where)
        if posted.screen_name != member.handle:
            raise OperationFailed(f"tweet {index} posted as @{posted.screen_name}")
        tweet_ids.append(posted.tweet_id)
        return posted.tweet_id

    return post


def forget(fake: FakeDiscord, interaction: FakeInteraction) -> None:
    """Drop what the fake Discord recorded of an interaction (it keeps everything for the tests'
    assertions), so that its records do not grow with the soak."""
    fake.interactions.pop(interaction.id, None)
    for message in [interaction.original, *interaction.followups]:
        if message is not None:
            fake.messages.pop(int(message["id"]), None)
    fake.requests.clear()


async def first_answer(interaction: FakeInteraction) -> None:
    """The bot's first answer came, within Discord's deadline, and Discord took it."""
    answer = await interaction.wait_response()
    if answer.status != 200 or answer.latency > DISCORD_DEADLINE:
        raise OperationFailed(f"answered after {answer.latency:.2f} s, status {answer.status}")


def account_command(fake: FakeDiscord, guild: FakeGuild, members: list[Member]) -> common.Job:
    """`/twitter-account` from a linked member: the answer names the member's X account."""

    async def command(index: int, steps: common.Steps) -> str:
        member = members[index % len(members)]
        interaction = await fake.slash_command(member.user, "twitter-account", guild=guild)
        try:
            await first_answer(interaction)
            answer = interaction.responses[0]
            expected = f"Linked as @{member.handle} since"
            if not (answer.content or "").startswith(expected) or not answer.ephemeral:
                raise OperationFailed(f"/twitter-account answered {answer.content!r}")
        finally:
            forget(fake, interaction)
        return member.handle

    return command


def tweet_preview(fake: FakeDiscord, guild: FakeGuild, members: list[Member]) -> common.Job:
    """`/tweet` from a linked member: a private preview as the member's X account, with Post."""

    async def command(index: int, steps: common.Steps) -> str:
        member = members[index % len(members)]
        text = f"preview {index} of a tweet by @{member.handle}"
        interaction = await fake.slash_command(member.user, "tweet", {"text": text}, guild=guild)
        try:
            await first_answer(interaction)
            deferred = interaction.responses[0]
            if deferred.type != ResponseType.DEFERRED_MESSAGE or not deferred.ephemeral:
                raise OperationFailed(f"/tweet first answered {deferred}")
            preview = await interaction.wait_followup()
            titles = [embed.get("title") for embed in preview.get("embeds") or []]
            posts = [i for i in custom_ids(preview) if i.startswith("tweetlink:post:")]
            if titles != [f"Post this as @{member.handle}?"] or len(posts) != 1:
                raise OperationFailed(f"/tweet previewed {titles} with buttons {posts}")
        finally:
            forget(fake, interaction)
        return member.handle

    return command


# The soak ---------------------------------------------------------------------------------------


@dataclass
class Kind:
    """The operations of one kind in the soak: what they cost and how they failed."""

    job: common.Job
    dispatched: int = 0
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


@dataclass
class Soak:
    """What the soak did."""

    kinds: dict[str, Kind]
    seconds: float
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds in, MiB)
    most_late: float = 0.0  # how far behind its slot a dispatch came, at most
    most_in_flight: int = 0
    unfinished: int = 0  # still in flight DRAIN_SECONDS after the last dispatch

    @property
    def dispatched(self) -> int:
        return sum(kind.dispatched for kind in self.kinds.values())

    @property
    def failed(self) -> int:
        return sum(kind.failed for kind in self.kinds.values())


async def run_one(kind: Kind, index: int) -> None:
    """One operation, timed; a failure is counted, never raised."""
    began = time.perf_counter()
    try:
        await kind.job(index, defaultdict(list))  # the steps are not kept: they would grow
    except Exception as error:
        kind.failures[f"{type(error).__name__}: {error}"[:160]] += 1
        return
    kind.latencies.append(time.perf_counter() - began)


async def sample_rss(soak: Soak, began: float, moments: list[float]) -> None:
    """Read the RSS at each of `moments` (seconds after `began`)."""
    loop = asyncio.get_running_loop()
    for moment in moments:
        await asyncio.sleep(max(0.0, began + moment - loop.time()))
        soak.rss.append((moment, rss_mb()))


async def run_soak(jobs: dict[str, common.Job], args: argparse.Namespace) -> Soak:
    """Dispatch `args.rate` operations a second, the kinds in turn, for `args.minutes`; reads the
    RSS after the warm-up, each minute and at the last dispatch, then waits for the rest."""
    soak = Soak({name: Kind(job) for name, job in jobs.items()}, args.minutes * 60)
    moments = sorted({args.warmup_seconds, *range(60, int(soak.seconds), 60), soak.seconds})
    loop = asyncio.get_running_loop()
    began = loop.time()
    sampler = asyncio.create_task(sample_rss(soak, began, moments))
    in_flight: set[asyncio.Task[None]] = set()
    kinds = list(soak.kinds.values())
    total = math.floor(soak.seconds * args.rate)
    for n in range(total):
        slot = began + n / args.rate
        await asyncio.sleep(max(0.0, slot - loop.time()))
        soak.most_late = max(soak.most_late, loop.time() - slot)
        kind = kinds[n % len(kinds)]
        task = asyncio.create_task(run_one(kind, kind.dispatched))
        kind.dispatched += 1
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        soak.most_in_flight = max(soak.most_in_flight, len(in_flight))
    await sampler  # the last reading: at the end of the soak, as the last operations run
    if in_flight:
        _, left = await asyncio.wait(set(in_flight), timeout=DRAIN_SECONDS)
        soak.unfinished = len(left)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
    return soak


# Checking ---------------------------------------------------------------------------------------


async def check_ledger(services: Services, tweet_ids: list[str], check: common.Check) -> int:
    """Every tweet the soak's calls returned is one `posted` row of the ledger, under its id, and
    the soak's channel holds nothing else; returns how many rows it holds."""
    for tweet_id, n in Counter(tweet_ids).items():
        if n > 1:
            check.doubled[f"tweet {tweet_id}"] = f"tweet id {tweet_id} handed out {n} times"
    async with services.sessions() as session:
        rows = (
            await session.execute(
                select(Tweet.id, Tweet.status, Tweet.tweet_id).where(
                    Tweet.channel_id == TWEET_CHANNEL_ID
                )
            )
        ).all()
    by_id = Counter(row.tweet_id for row in rows if row.status == TweetStatus.POSTED)
    for tweet_id in set(tweet_ids) - by_id.keys():
        check.lost[f"tweet {tweet_id}"] = f"ledger: no posted row for tweet {tweet_id}"
    for tweet_id, n in by_id.items():
        if n > 1:
            check.doubled[f"row {tweet_id}"] = f"ledger: {n} posted rows for tweet {tweet_id}"
        elif tweet_id not in tweet_ids:
            check.doubled[f"row {tweet_id}"] = f"ledger: tweet {tweet_id} no call returned"
    for row in rows:
        if row.status != TweetStatus.POSTED:
            check.wrong[f"row {row.id}"] = f"ledger: row {row.id} is {row.status}"
    return len(rows)


def print_problems(check: common.Check) -> None:
    print(f"lost: {len(check.lost)}, doubled: {len(check.doubled)}, wrong: {len(check.wrong)}")
    for problem in [*check.lost.values(), *check.doubled.values(), *check.wrong.values()][:10]:
        print(f"  {problem}")


# The report -------------------------------------------------------------------------------------


def ms(values: array.array[float] | list[float], fraction: float) -> str:
    return f"{common.percentile(values, fraction) * 1000:.1f}"


def report_burst(args: argparse.Namespace, run: common.Run, check: common.Check) -> None:
    backend = make_url(args.database_url).get_backend_name()
    print(
        f"burst: {args.flows} link flows at once, fake X latency {args.latency * 1000:.0f} ms, "
        f"database {backend}, {os.cpu_count()} CPUs"
    )
    print(
        f"burst: {len(run.outcomes)}/{len(run.indices)} flows done in {run.wall:.1f} s "
        f"({run.per_second:.1f} flows/s), p50 {ms(run.latencies, 0.5)} ms, "
        f"p99 {ms(run.latencies, 0.99)} ms, CPU {run.cpu_ms_per_job:.1f} ms/flow, "
        f"peak RSS {run.peak_rss_mb:.1f} MB, errors {len(run.failures)}"
    )
    medians = ", ".join(f"{name} {ms(times, 0.5)}" for name, times in run.steps.items())
    print(f"burst step p50 ms: {medians}")
    for error, n in Counter(run.failures.values()).most_common(5):
        print(f"burst error x{n}: {error}")
    print("burst, from the calls' returns and the database: ", end="")
    print_problems(check)


def report_soak(args: argparse.Namespace, soak: Soak, after_burst: float) -> float:
    """Print the soak's figures; returns the RSS growth after the warm-up, in MiB."""
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} operations/s, {', '.join(soak.kinds)} in turn"
    )
    print(f"{'':18} {'done':>6} {'failed':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for name, kind in soak.kinds.items():
        print(
            f"{name:18} {len(kind.latencies):6} {kind.failed:7}"
            f" {ms(kind.latencies, 0.5):>8} {ms(kind.latencies, 0.99):>8}"
        )
    for name, kind in soak.kinds.items():
        for error, n in kind.failures.most_common(3):
            print(f"{name} error x{n}: {error}")
    print(
        f"dispatched {soak.dispatched}, at most {soak.most_late * 1000:.0f} ms behind the pace, "
        f"at most {soak.most_in_flight} in flight; unfinished after {DRAIN_SECONDS:.0f} s: "
        f"{soak.unfinished}"
    )
    readings = dict(soak.rss)
    warm, end = readings[args.warmup_seconds], readings[soak.seconds]
    print(
        f"RSS MB: after the burst {after_burst:.1f}, after the warm-up "
        f"({args.warmup_seconds:g} s) {warm:.1f}, at the end {end:.1f} "
        f"(growth {end - warm:+.1f})"
    )
    print("RSS MB through the soak: " + ", ".join(f"{at:g} s {mb:.1f}" for at, mb in soak.rss))
    return end - warm


def verdicts(lines: list[tuple[bool, str]]) -> None:
    for ok, line in lines:
        print(f"{'PASS' if ok else 'FAIL'}  {line}")


# The run ----------------------------------------------------------------------------------------


async def serve_pages(services: Services, port: int) -> web.AppRunner:
    """Our web pages on 127.0.0.1:`port`, as `tweetlink web` serves them."""
    settings = services.settings
    app = create_app(
        services.links, twitter_api_base=settings.twitter_api_base, ping=services.database_ok
    )
    runner = create_runner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@dataclass
class Results:
    """What the burst and the soak did, and what the checks found."""

    burst: common.Run
    burst_check: common.Check
    rss_after_burst: float
    soak: Soak
    soak_check: common.Check
    links: int = 0  # in the database at the end
    tweet_rows: int = 0  # in the ledger at the end, the soak's


async def burst_then_soak(
    args: argparse.Namespace,
    fake: FakeDiscord,
    guild: FakeGuild,
    users: list[FakeUser],
    services: Services,
    browser: MemberBrowser,
    logs: LogCounter,
) -> Results:
    """The burst and its checks, then the soak and the checks of everything in the database."""
    logs.phase = "burst"
    burst = tweetlink_flow(services, browser, "b", lambda index: users[index].id)
    run = await common.run_concurrently("burst", burst, range(args.flows), args.flows)
    burst_check = common.Check()
    check_returned(run, "b", burst_check)
    expected = {user.id: handle_of("b", i) for i, user in enumerate(users)}
    await check_database(services, expected, burst_check)
    members = [
        Member(user, handle_of("b", i))
        for i, user in enumerate(users)
        if run.outcomes.get(i) == handle_of("b", i)
    ]
    if not members:
        raise OperationFailed("no member was linked by the burst: nothing to soak with")

    logs.phase = "soak"
    tweet_ids: list[str] = []
    jobs = dict(
        zip(
            KINDS,
            (
                soak_link_flow(services, browser),
                post_tweet(services, guild, members, tweet_ids),
                account_command(fake, guild, members),
                tweet_preview(fake, guild, members),
            ),
            strict=True,
        )
    )
    rss_after_burst = rss_mb()
    soak = await run_soak(jobs, args)
    results = Results(run, burst_check, rss_after_burst, soak, common.Check())

    logs.phase = "checks"
    flows = results.soak.kinds["link flow"].dispatched
    expected |= {FIRST_SOAK_DISCORD_ID + k: handle_of("s", k) for k in range(flows)}
    results.links = await check_database(services, expected, results.soak_check)
    results.tweet_rows = await check_ledger(services, tweet_ids, results.soak_check)
    if fake.errors:
        results.soak_check.wrong["fake Discord"] = (
            f"the fake Discord failed {len(fake.errors)} times, first: {fake.errors[0]!r}"
        )
    return results


async def bench(args: argparse.Namespace) -> int:
    logs = LogCounter()
    logging.getLogger().addHandler(logs)
    await common.prepare_database(args.database_url)
    port = common.free_port()  # our web pages'
    connector = aiohttp.TCPConnector(limit=args.flows)
    async with (
        common.fake_x(args.latency) as api_base,
        FakeDiscord(wait_timeout=ANSWER_TIMEOUT) as fake,
        aiohttp.ClientSession(connector=connector) as http,
    ):
        guild = fake.add_guild("Soak")
        users = [fake.add_user(f"member{index}") for index in range(args.flows)]
        for user in users:
            guild.add_member(user)
        settings = common.bench_settings(
            args,
            api_base,
            public_url=f"http://127.0.0.1:{port}",
            web_port=port,
            tweet_cooldown_seconds=0,
            member_daily_tweet_cap=MAX_DAILY_CAP,
            server_daily_tweet_cap=MAX_DAILY_CAP,
        )
        async with open_services(settings) as services:
            runner = await serve_pages(services, port)
            try:
                async with running_bot(services, fake):
                    results = await burst_then_soak(
                        args, fake, guild, users, services, MemberBrowser(http), logs
                    )
                    logs.phase = "shutdown"
            finally:
                await runner.cleanup()
    return report(args, results, logs)


def report(args: argparse.Namespace, results: Results, logs: LogCounter) -> int:
    """Print the figures and the verdicts; the exit code (0 when all PASS).

    1 if a flow was lost, doubled or wrong or an operation failed; else 3 if a target was missed.
    """
    burst_check, soak, soak_check = results.burst_check, results.soak, results.soak_check
    report_burst(args, results.burst, burst_check)
    growth = report_soak(args, soak, results.rss_after_burst)
    print(
        f"soak, from the database ({results.links} links, {results.tweet_rows} rows of the "
        "soak's tweets in the ledger): ",
        end="",
    )
    print_problems(soak_check)
    logs.report()
    failed = soak.failed + soak.unfinished
    errors = logs.total(LogCounter.LEVELS[0])
    verdicts(
        [
            (
                burst_check.ok,
                f"burst: all {args.flows} flows linked exactly their own X account "
                f"(lost {len(burst_check.lost)}, doubled {len(burst_check.doubled)})",
            ),
            (failed == 0, f"soak: no operation failed ({failed} of {soak.dispatched})"),
            (soak_check.ok, "soak: the database agrees, every flow and tweet recorded once"),
            (
                growth <= TARGET_RSS_GROWTH_MB,
                f"RSS growth after the warm-up {growth:+.1f} MB "
                f"(target <= {TARGET_RSS_GROWTH_MB:g} MB)",
            ),
            (errors == 0, f"log records at ERROR or above: {errors} (target 0)"),
        ]
    )
    if not (burst_check.ok and soak_check.ok and failed == 0):
        return 1
    return 0 if growth <= TARGET_RSS_GROWTH_MB and errors == 0 else 3


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--flows", type=int, default=1000, help="link flows in the burst (1000)")
    parser.add_argument("--minutes", type=float, default=10.0, help="the soak's length (10)")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="the soak's operations per second (20)"
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=60.0,
        help="soak seconds before the RSS the end is compared with (60)",
    )
    common.add_x_and_database_options(parser)
    args = parser.parse_args()
    if args.flows < 1 or args.rate <= 0 or args.latency < 0:
        parser.error("--flows and --rate must be positive, --latency not negative")
    if not 0 < args.warmup_seconds < args.minutes * 60:
        parser.error("--warmup-seconds must be positive and shorter than the soak")
    if args.flows >= 10**14:
        parser.error("too many flows for distinct 15-character X handles")
    tweets_per_second = args.rate / len(KINDS)
    if tweets_per_second * args.minutes * 60 > MAX_DAILY_CAP:
        parser.error(f"more tweets than the largest daily cap ({MAX_DAILY_CAP}): lower --rate")
    if tweets_per_second * min(args.minutes, 15) * 60 / args.flows > X_TWEETS_PER_USER:
        parser.error(
            f"each X account may post {X_TWEETS_PER_USER} tweets per 15 minutes: "
            "give more --flows (the members who tweet) or a lower --rate"
        )
    common.run_bench(bench, args)


if __name__ == "__main__":
    main()
