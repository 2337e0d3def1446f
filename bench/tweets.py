"""Throughput of posting through the core service against the fake X, beside the bare floor.

Links `--members` members to X accounts of the fake (the real OAuth exchange with the fake, then
one linked_accounts row each, sealed as the link flow seals it), then posts `--tweets` tweets,
tweet i by member i % M, `--concurrency` at a time, with the fake answering after `--latency`
seconds. Each of our tweets is `TweetService.prepare` then `TweetService.post` on the service the
production composition root builds (text validation, draft, claim, caps and cooldown counted from
the locked ledger, the audit row, the signed `POST /2/tweets`), timed together until the member
hears; the tweet's id reaches the ledger in a later round, awaited before the ledger is checked.
The limits are a zero cooldown and caps above the run's tweets: nothing is refused, everything is
counted. In the same process and against the same fake and accounts it times the floor first: the
same number of `POST /2/tweets` from a bare loop, signed with `core.twitter.sign_request`, sent
over one aiohttp session, nothing else.

It prints tweets per second, p50/p99 latency, CPU time per tweet and peak memory for both, the
ratio ours/floor with PASS/FAIL against the target, and checks that every tweet was posted once:
the fake holds exactly one tweet per text, by the right account, under the id we were given, and
the ledger holds one `posted` row per measured tweet with distinct tweet ids and no draft left.
It exits 1 if a tweet was lost or doubled or the ledger disagrees, 3 if all checked out but the
target was missed, 0 otherwise.

Target: at 50 ms fake latency and 64 tweets in flight, at least 80 % of the floor's tweets per
second.

Run it from the project root:

    .venv/bin/python -m bench.tweets --tweets 1000 --members 100 --concurrency 64 --latency 0.05
    .venv/bin/python -m bench.tweets \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Without `--database-url` it uses a SQLite file in a temporary directory. A PostgreSQL database
has its `public` schema DROPPED and recreated first: point it only at a throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import (
    Job,
    Steps,
    peak_rss_mb,
    percentile,
    prepare_database,
    reset_peak_rss,
    run_concurrently,
    timed,
)
from core.config import Settings
from core.models import LinkedAccount, Tweet, TweetDraft, utcnow
from core.sealing import Sealer
from core.tweets import Where
from core.twitter import TokenPair, sign_request
from tests.fakes.twitter import FakeTwitter, RecordedTweet
from tweetlink.services import Services, open_services

CONSUMER_KEY = "bench-consumer-key"
CONSUMER_SECRET = "bench-consumer-secret"
FIRST_DISCORD_ID = 400_000_000_000_000_000
FIRST_GUILD_ID = 410_000_000_000_000_000
CHANNEL_ID = 420_000_000_000_000_001  # the measured tweets
WARMUP_CHANNEL_ID = 420_000_000_000_000_002  # our warm-up tweets, kept apart in the ledger
LINK_CONCURRENCY = 16
TARGET_RATIO = 0.8


class TweetFailed(Exception):
    """X answered something other than a posted tweet."""


@dataclass(frozen=True)
class Member:
    """A linked member: the Discord user, the X account and its access token in clear."""

    discord_user_id: int
    guild_id: int
    twitter_user_id: str
    screen_name: str
    access_level: str
    credentials: TokenPair


@dataclass
class Phase:
    """What one batch of tweets did and cost."""

    name: str
    indices: list[int]
    wall: float
    cpu: float
    latencies: list[float]
    steps: Steps
    outcomes: dict[int, str]  # index -> the tweet id we were handed
    failures: dict[int, str]
    recorded: list[RecordedTweet]  # what the fake recorded during the phase
    fake_requests: int
    peak_rss_mb: float
    peak_is_phase: bool  # VmHWM was reset before the phase (else: the process's peak so far)
    heap_peak_mb: float | None = None

    @property
    def count(self) -> int:
        return len(self.indices)

    @property
    def tweets_per_second(self) -> float:
        return len(self.outcomes) / self.wall if self.wall else 0.0


@dataclass
class Check:
    """Problems found, keyed so that one tweet found wrong by two checks counts once."""

    lost: dict[str, str] = field(default_factory=dict)
    doubled: dict[str, str] = field(default_factory=dict)
    wrong: dict[str, str] = field(default_factory=dict)
    ledger_posted: int = 0
    ledger_distinct_ids: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.wrong)


def tweet_text(prefix: str, index: int, member: Member) -> str:
    """A plausible tweet, unique to its index (X refuses a member's duplicate texts)."""
    return (
        f"{prefix} {index}: notes from tonight's community call, thanks @{member.screen_name} "
        "and everyone who joined on Discord!"
    )


def member_of(members: list[Member], index: int) -> Member:
    """Tweet i is by member i % M, so that the members' tweets interleave."""
    return members[index % len(members)]


async def run_phase(
    name: str, post_one: Job, indices: Iterable[int], concurrency: int, fake: FakeTwitter
) -> Phase:
    """Post every index, `concurrency` at a time, with what the fake saw meanwhile."""
    tweets_before, requests_before = len(fake.tweets), len(fake.requests)
    peak_is_phase = reset_peak_rss()
    run = await run_concurrently(post_one, indices, concurrency)
    return Phase(
        name=name,
        indices=run.indices,
        wall=run.wall,
        cpu=run.cpu,
        latencies=run.latencies,
        steps=run.steps,
        outcomes=run.outcomes,
        failures=run.failures,
        recorded=fake.tweets[tweets_before:],
        fake_requests=len(fake.requests) - requests_before,
        peak_rss_mb=peak_rss_mb(),
        peak_is_phase=peak_is_phase,
        heap_peak_mb=run.heap_peak_mb,
    )


def tweetlink_post(services: Services, members: list[Member], prefix: str, channel_id: int) -> Job:
    """A tweet as /tweet and the Post button make it: prepare (the preview), then post."""
    tweets = services.tweets

    async def post_one(index: int, steps: Steps) -> str:
        member = member_of(members, index)
        where = Where(member.discord_user_id, member.guild_id, channel_id)
        with timed(steps, "prepare"):
            draft = await tweets.prepare(where, tweet_text(prefix, index, member))
        with timed(steps, "post"):
            posted = await tweets.post(draft.id, where)
        return posted.tweet_id

    return post_one


def floor_post(
    http: aiohttp.ClientSession, api_base: str, members: list[Member], prefix: str
) -> Job:
    """The same `POST /2/tweets`, signed the same way, with nothing of ours around it."""
    url = f"{api_base}/2/tweets"

    async def post_one(index: int, steps: Steps) -> str:
        member = member_of(members, index)
        with timed(steps, "sign"):
            signed = sign_request(
                "POST",
                url,
                consumer_key=CONSUMER_KEY,
                consumer_secret=CONSUMER_SECRET,
                credentials=member.credentials,
            )
        body = json.dumps({"text": tweet_text(prefix, index, member)})
        headers = {"Authorization": signed, "Content-Type": "application/json"}
        with timed(steps, "POST"):
            async with http.post(url, data=body, headers=headers) as answer:
                payload = await answer.read()
                if answer.status != 201:
                    raise TweetFailed(f"/2/tweets answered {answer.status}: {payload[:100]!r}")
        return str(json.loads(payload)["data"]["id"])

    return post_one


async def link_members(
    services: Services, http: aiohttp.ClientSession, fake: FakeTwitter, count: int, guilds: int
) -> list[Member]:
    """Link `count` members the way the link flow does at X, and store their links."""
    twitter, settings = services.twitter, services.settings
    limit = asyncio.Semaphore(LINK_CONCURRENCY)

    async def link(index: int) -> Member:
        async with limit:
            request = await twitter.request_token(settings.callback_url)
            # The member's browser pressing Authorize on X's page.
            async with http.post(
                f"{fake.base_url}/oauth/authorize",
                data={"oauth_token": request.token, "username": f"b{index}", "action": "authorize"},
                allow_redirects=False,
            ) as answer:
                if answer.status != 302:
                    raise TweetFailed(f"authorize answered {answer.status}")
                location = answer.headers["Location"]
            verifier = dict(parse_qsl(urlsplit(location).query))["oauth_verifier"]
            grant = await twitter.access_token(request, verifier)
        return Member(
            FIRST_DISCORD_ID + index,
            FIRST_GUILD_ID + index % guilds,
            grant.user_id,
            grant.screen_name,
            grant.access_level,
            grant.credentials,
        )

    members = list(await asyncio.gather(*(link(index) for index in range(count))))
    async with services.sessions.begin() as session:
        now = utcnow()
        session.add_all(
            LinkedAccount(
                discord_user_id=member.discord_user_id,
                twitter_user_id=member.twitter_user_id,
                screen_name=member.screen_name,
                access_token_sealed=services.sealer.seal(member.credentials.token),
                access_token_secret_sealed=services.sealer.seal(member.credentials.secret),
                access_level=member.access_level,
                linked_at=now,
            )
            for member in members
        )
    return members


def check_phase(phase: Phase, members: list[Member], prefix: str, check: Check) -> None:
    """Each tweet is at the fake exactly once, by its member, under the id we were handed."""
    by_text: dict[str, list[RecordedTweet]] = defaultdict(list)
    for recorded in phase.recorded:
        by_text[recorded.text].append(recorded)
    expected_texts = set()
    for index in phase.indices:
        member = member_of(members, index)
        wanted = tweet_text(prefix, index, member)
        expected_texts.add(wanted)
        found = by_text.get(wanted, [])
        key = f"{prefix} {index}"
        if not found:
            problem = phase.failures.get(index, "not at X")
            check.lost[key] = f"{phase.name} tweet {index}: {problem}"
            continue
        if len(found) > 1:
            check.doubled[key] = f"{phase.name} tweet {index}: at X {len(found)} times"
        if found[0].user_id != member.twitter_user_id:
            check.wrong[key] = f"{phase.name} tweet {index}: posted by X user {found[0].user_id}"
        got = phase.outcomes.get(index)
        if got is None:
            problem = phase.failures.get(index, "no answer")
            check.lost[key] = f"{phase.name} tweet {index}: posted at X, but {problem}"
        elif got != found[0].id:
            check.wrong[key] = f"{phase.name} tweet {index}: handed id {got}, X has {found[0].id}"
    for recorded in phase.recorded:
        if recorded.text not in expected_texts:
            check.doubled[f"stray {recorded.id}"] = f"{phase.name}: stray tweet {recorded.text!r}"


async def check_ledger(
    services: Services, phase: Phase, warmup: Phase, members: list[Member], check: Check
) -> None:
    """One `posted` row per tweet of ours, by its member, with X's id; no draft left over."""
    async with services.sessions() as session:
        rows = (
            await session.execute(
                select(
                    Tweet.id,
                    Tweet.channel_id,
                    Tweet.discord_user_id,
                    Tweet.twitter_user_id,
                    Tweet.status,
                    Tweet.tweet_id,
                )
            )
        ).all()
        drafts = await session.scalar(select(func.count()).select_from(TweetDraft))
    x_ids = {tweet_id: index for index, tweet_id in phase.outcomes.items()}
    warmup_ids = set(warmup.outcomes.values())
    measured = [row for row in rows if row.channel_id == CHANNEL_ID]
    check.ledger_posted = sum(1 for row in measured if row.status == "posted")
    check.ledger_distinct_ids = len({row.tweet_id for row in measured if row.tweet_id})
    seen: Counter[str] = Counter()
    for row in rows:
        if row.channel_id == WARMUP_CHANNEL_ID and row.tweet_id in warmup_ids:
            continue
        if row.status != "posted" or row.tweet_id is None:
            check.wrong[f"row {row.id}"] = f"ledger row {row.id}: {row.status}, id {row.tweet_id}"
            continue
        index = x_ids.get(row.tweet_id)
        if index is None or row.channel_id != CHANNEL_ID:
            check.doubled[f"row {row.id}"] = f"ledger row {row.id}: stray tweet {row.tweet_id}"
            continue
        seen[row.tweet_id] += 1
        member = member_of(members, index)
        if (row.discord_user_id, row.twitter_user_id) != (
            member.discord_user_id,
            member.twitter_user_id,
        ):
            check.wrong[f"row {row.id}"] = f"ledger row {row.id}: wrong member for tweet {index}"
    for tweet_id, index in x_ids.items():
        if seen[tweet_id] == 0:
            check.lost.setdefault(f"ours {index}", f"ledger: no row for tweet {index}")
        elif seen[tweet_id] > 1:
            check.doubled[f"ours {index}"] = f"ledger: {seen[tweet_id]} rows for tweet {index}"
    if drafts:
        check.wrong["drafts"] = f"ledger: {drafts} drafts left unclaimed"


def report(floor: Phase, ours: Phase, check: Check, args: argparse.Namespace) -> bool:
    """The figures, one row a phase, then the verdicts; whether the target was met."""
    print(
        f"{args.tweets} tweets by {args.members} members in {args.guilds} guild(s), "
        f"{args.concurrency} in flight, fake X latency {args.latency * 1000:.0f} ms, "
        f"database {make_url(args.database_url).get_backend_name()}, "
        f"{args.warmup} warm-up tweets each not counted, {os.cpu_count()} CPUs"
    )
    heap = floor.heap_peak_mb is not None
    header = f"{'':10} {'tweets/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/tweet':>13}"
    header += f" {'peak RSS MB':>12}" + (f" {'heap peak MB':>13}" if heap else "")
    header += f" {'X reqs':>7} {'errors':>7}"
    print(header)
    for phase in (floor, ours):
        row = (
            f"{phase.name:10} {phase.tweets_per_second:8.1f}"
            f" {percentile(phase.latencies, 0.5) * 1000:8.1f}"
            f" {percentile(phase.latencies, 0.99) * 1000:8.1f}"
            f" {phase.cpu / phase.count * 1000:13.2f} {phase.peak_rss_mb:12.1f}"
        )
        if heap:
            row += f" {phase.heap_peak_mb or 0:13.1f}"
        row += f" {phase.fake_requests:7} {len(phase.failures):7}"
        print(row)
    peak = (
        "peak RSS is the phase's own (VmHWM reset before it)"
        if floor.peak_is_phase and ours.peak_is_phase
        else "peak RSS is the process's peak so far (the floor runs first)"
    )
    print(
        "CPU is this process's (the fake X, the client and, on SQLite, the database share it; "
        f"a PostgreSQL server's is not counted); {peak}."
    )
    for phase in (floor, ours):
        medians = ", ".join(
            f"{name} {percentile(times, 0.5) * 1000:.1f}" for name, times in phase.steps.items()
        )
        print(f"{phase.name} step p50 ms: {medians}")
    for phase in (floor, ours):
        for error, n in Counter(phase.failures.values()).most_common(5):
            print(f"{phase.name} error x{n}: {error}")
    print(
        f"fake X: {len(floor.recorded)} floor tweets, {len(ours.recorded)} of ours; "
        f"ledger: {check.ledger_posted} posted rows, {check.ledger_distinct_ids} distinct tweet ids"
    )
    print(f"lost: {len(check.lost)}, doubled: {len(check.doubled)}, wrong: {len(check.wrong)}")
    for problem in [*check.lost.values(), *check.doubled.values(), *check.wrong.values()][:10]:
        print(f"  {problem}")
    ratio = ours.tweets_per_second / floor.tweets_per_second if floor.tweets_per_second else 0.0
    met = ratio >= TARGET_RATIO
    print(
        f"ours/floor tweets per second: {ratio:.2f} "
        f"(target >= {TARGET_RATIO}: {'PASS' if met else 'FAIL'})"
    )
    print(f"{'PASS' if check.ok else 'FAIL'}  every tweet posted once and recorded")
    return met


async def bench(args: argparse.Namespace) -> int:
    await prepare_database(args.database_url)
    warmup = range(args.warmup)
    measured = range(args.warmup, args.warmup + args.tweets)
    cap = args.warmup + args.tweets + 1  # above anything the run posts: counted, never reached
    async with (
        FakeTwitter(CONSUMER_KEY, CONSUMER_SECRET) as fake,
        aiohttp.ClientSession() as bare,
    ):
        fake.tweet_rate_limit = 2 * cap  # X's 100 per 15 min would stop the bench, not us
        # Passed as a mapping: the values are validated (and the secrets wrapped) by pydantic.
        values: dict[str, Any] = {
            "_env_file": None,
            "twitter_consumer_key": CONSUMER_KEY,
            "twitter_consumer_secret": CONSUMER_SECRET,
            "public_url": "http://127.0.0.1:9",  # only echoed back by the fake, never opened
            "database_url": args.database_url,
            "token_encryption_keys": Sealer.generate_key(),
            "twitter_api_base": fake.base_url,
            # Generous, so that a slow tweet shows in p99 rather than as a lost one.
            "twitter_timeout_seconds": 30,
            "tweet_cooldown_seconds": 0,
            "member_daily_tweet_cap": cap,
            "server_daily_tweet_cap": cap,
        }
        settings = Settings(**values)
        async with open_services(settings) as services:
            members = await link_members(services, bare, fake, args.members, args.guilds)
            fake.latency = args.latency
            ours = tweetlink_post(services, members, "ours", CHANNEL_ID)
            floor = floor_post(bare, fake.base_url, members, "floor")
            await run_phase("warm-up", floor, warmup, args.concurrency, fake)
            ours_warmup = await run_phase(
                "warm-up",
                tweetlink_post(services, members, "ours", WARMUP_CHANNEL_ID),
                warmup,
                args.concurrency,
                fake,
            )
            await services.tweets.settle()  # so that no warm-up round runs during the floor
            if args.tracemalloc:
                tracemalloc.start()
            floor_phase = await run_phase("floor", floor, measured, args.concurrency, fake)
            ours_phase = await run_phase("tweetlink", ours, measured, args.concurrency, fake)
            tracemalloc.stop()
            # Each member has heard; the ledger rounds that record the last tweet ids follow.
            await services.tweets.settle()
            check = Check()
            check_phase(floor_phase, members, "floor", check)
            check_phase(ours_warmup, members, "ours", check)
            check_phase(ours_phase, members, "ours", check)
            await check_ledger(services, ours_phase, ours_warmup, members, check)
            if check.ledger_posted != args.tweets or check.ledger_distinct_ids != args.tweets:
                check.wrong["ledger count"] = (
                    f"ledger: {check.ledger_posted} posted rows, "
                    f"{check.ledger_distinct_ids} distinct ids for {args.tweets} tweets"
                )
    met = report(floor_phase, ours_phase, check, args)
    if not check.ok:
        return 1
    return 0 if met else 3


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tweets", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--tweets", type=int, default=1000, help="measured tweets (1000)")
    parser.add_argument("--members", type=int, default=100, help="linked members posting (100)")
    parser.add_argument("--concurrency", type=int, default=64, help="tweets in flight (64)")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the fake X takes per answer (0.05)"
    )
    parser.add_argument(
        "--database-url",
        help="default: a SQLite file in a temporary directory; a PostgreSQL URL "
        "(postgresql+asyncpg://…) has its public schema wiped first",
    )
    parser.add_argument(
        "--guilds",
        type=int,
        default=1,
        help="servers the members are spread over, member i in server i %% G (1)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=64,
        help="uncounted tweets first, each side (64: every connection opened before timing)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also report the Python heap peak per phase (slows everything down)",
    )
    args = parser.parse_args()
    if min(args.tweets, args.members, args.concurrency, args.guilds) < 1:
        parser.error("--tweets, --members, --concurrency and --guilds must be positive")
    if args.warmup < 0 or args.latency < 0:
        parser.error("--warmup and --latency must not be negative")
    if args.members >= 10**14:
        parser.error("too many members for distinct 15-character X handles")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tweetlink-bench-") as scratch:
        if args.database_url is None:
            args.database_url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        code = asyncio.run(bench(args))
    sys.exit(code)


if __name__ == "__main__":
    main()
