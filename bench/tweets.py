"""Throughput and CPU of posting through the core service against the fake X, beside the floor.

Starts the fake X in a process of its own (`python -m tests.fakes.twitter` on a free loopback
port, answering after `--latency` seconds) and links `--members` members to X accounts of the
fake (the real OAuth exchange with it, then one linked_accounts row each, sealed as the link flow
seals it). Then it posts `--tweets` tweets, tweet i by member i % M, `--concurrency` at a time.
Each of our tweets is `TweetService.prepare` then `TweetService.post` on the service the
production composition root builds (text validation, the draft, its claim, the cooldown and the
caps counted from the locked ledger, the signed `POST /2/tweets`, X's answer recorded in the
ledger), timed together until the member hears. The limits are a zero cooldown and caps above the
run's tweets: nothing is refused, everything is counted. Before that, against the same fake
process and accounts, it times the floor: as many `POST /2/tweets` from a bare loop, signed with
`core.twitter.sign_request`, sent over one aiohttp session, nothing else.

It prints, for the floor and for ours, tweets per second, p50/p99 latency, CPU time per tweet of
this process alone (`time.process_time()`, all its threads; the fake X's CPU is in its own
process, a PostgreSQL server's is not counted), peak RSS, each step's median, and the ratio
ours/floor. It checks that every tweet was posted once, from what our calls returned and from our
database: every call answered a tweet id, no id twice, and the ledger (the `tweets` table) holds
one `posted` row per tweet asked, with distinct ids, each under the id its call returned and by
its member, and nothing else: no row pending or unknown, no draft left.

Targets, at 50 ms fake latency and 64 tweets in flight, printed as PASS/FAIL lines:
- ours at least 0.15 x the floor's tweets per second;
- at most 4 ms of our CPU per tweet;
- every tweet posted once and the ledger agreeing.
It exits 1 if a tweet was lost or doubled or the ledger disagrees, 3 if all checked out but a
target was missed, 0 when every line PASSes.

Run it from the project root:

    .venv/bin/python -m bench.tweets --tweets 1000
    .venv/bin/python -m bench.tweets --tweets 1000 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Without `--database-url` it uses a SQLite file in a temporary directory. A PostgreSQL database
has its `public` schema DROPPED and recreated first: point it only at a throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from sqlalchemy import func, select

from bench import common
from core.clock import utcnow
from core.models import LinkedAccount, Tweet, TweetDraft, TweetStatus
from core.tweets import Where
from core.twitter import TokenPair, sign_request
from tweetlink.services import Services, open_services

FIRST_DISCORD_ID = 400_000_000_000_000_000
FIRST_GUILD_ID = 410_000_000_000_000_000
CHANNEL_ID = 420_000_000_000_000_001  # the measured tweets
WARMUP_CHANNEL_ID = 420_000_000_000_000_002  # our warm-up tweets, kept apart in the ledger
LINK_CONCURRENCY = 16
# Like X, the fake answers 429 past 100 `POST /2/tweets` per user in 15 minutes.
X_TWEETS_PER_USER = 100
TARGETS = common.Targets(ratio=0.15, cpu_ms=4.0)


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


def tweet_text(prefix: str, index: int, member: Member) -> str:
    """A plausible tweet, unique to its index (X refuses a member's duplicate texts)."""
    return (
        f"{prefix} {index}: notes from tonight's community call, thanks @{member.screen_name} "
        "and everyone who joined on Discord!"
    )


def member_of(members: list[Member], index: int) -> Member:
    """Tweet i is by member i % M, so that the members' tweets interleave."""
    return members[index % len(members)]


def tweetlink_post(
    services: Services, members: list[Member], prefix: str, channel_id: int
) -> common.Job:
    """A tweet as /tweet and the Post button make it: prepare (the preview), then post."""
    tweets = services.tweets

    async def post_one(index: int, steps: common.Steps) -> str:
        member = member_of(members, index)
        where = Where(member.discord_user_id, member.guild_id, channel_id)
        with common.timed(steps, "prepare"):
            draft = await tweets.prepare(where, tweet_text(prefix, index, member))
        with common.timed(steps, "post"):
            posted = await tweets.post(draft.id, where)
        return posted.tweet_id

    return post_one


def floor_post(
    http: aiohttp.ClientSession, api_base: str, members: list[Member], prefix: str
) -> common.Job:
    """The same `POST /2/tweets`, signed the same way, with nothing of ours around it."""
    url = f"{api_base}/2/tweets"

    async def post_one(index: int, steps: common.Steps) -> str:
        member = member_of(members, index)
        with common.timed(steps, "sign"):
            signed = sign_request(
                "POST",
                url,
                consumer_key=common.CONSUMER_KEY,
                consumer_secret=common.CONSUMER_SECRET,
                credentials=member.credentials,
            )
        body = json.dumps({"text": tweet_text(prefix, index, member)})
        headers = {"Authorization": signed, "Content-Type": "application/json"}
        with common.timed(steps, "POST"):
            async with http.post(url, data=body, headers=headers) as answer:
                payload = await answer.read()
                if answer.status != 201:
                    raise TweetFailed(f"/2/tweets answered {answer.status}: {payload[:100]!r}")
        return str(json.loads(payload)["data"]["id"])

    return post_one


async def link_members(
    services: Services, http: aiohttp.ClientSession, count: int, guilds: int
) -> list[Member]:
    """Link `count` members the way the link flow does at X, and store their links."""
    twitter, settings = services.twitter, services.settings
    limit = asyncio.Semaphore(LINK_CONCURRENCY)

    async def link(index: int) -> Member:
        async with limit:
            request = await twitter.request_token(settings.callback_url)
            # The member's browser pressing Authorize on X's page.
            async with http.post(
                f"{twitter.api_base}/oauth/authorize",
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


def check_returned(runs: list[common.Run], check: common.Check) -> None:
    """Every tweet of every run was answered with a tweet id, and no id was handed out twice."""
    for run in runs:
        for index in run.indices:
            if index not in run.outcomes:
                problem = run.failures.get(index, "no answer")
                check.lost[f"{run.name} {index}"] = f"{run.name} tweet {index}: {problem}"
    handed = Counter(tweet_id for run in runs for tweet_id in run.outcomes.values())
    for tweet_id, n in handed.items():
        if n > 1:
            check.doubled[f"id {tweet_id}"] = f"tweet id {tweet_id} handed out {n} times"


async def check_ledger(
    services: Services,
    runs: list[common.Run],
    members: list[Member],
    tweets: int,
    check: common.Check,
) -> None:
    """The ledger holds one `posted` row per tweet of ours, by its member, under the id our call
    returned, and nothing else; `tweets` of them in the measured channel."""
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

    measured = [row for row in rows if row.channel_id == CHANNEL_ID]
    posted = sum(1 for row in measured if row.status == TweetStatus.POSTED)
    distinct_ids = len({row.tweet_id for row in measured if row.status == TweetStatus.POSTED})
    print(f"ledger: {posted} posted rows, {distinct_ids} distinct tweet ids, {tweets} tweets asked")
    if posted != tweets or distinct_ids != tweets:
        check.wrong["ledger count"] = (
            f"ledger: {posted} posted rows, {distinct_ids} distinct ids for {tweets} tweets"
        )

    rows_by_id = defaultdict(list)
    for row in rows:
        rows_by_id[row.tweet_id].append(row)
    for run, channel_id in zip(runs, (WARMUP_CHANNEL_ID, CHANNEL_ID), strict=True):
        for index, tweet_id in run.outcomes.items():
            key, found = f"{run.name} {index}", rows_by_id.pop(tweet_id, [])
            member = member_of(members, index)
            if not found:
                check.lost.setdefault(key, f"ledger: no row for {run.name} tweet {index}")
            elif len(found) > 1:
                check.doubled[key] = f"ledger: {len(found)} rows for {run.name} tweet {index}"
            elif not (
                found[0].status == TweetStatus.POSTED
                and found[0].channel_id == channel_id
                and found[0].discord_user_id == member.discord_user_id
                and found[0].twitter_user_id == member.twitter_user_id
            ):
                check.wrong[key] = f"ledger: the row of {run.name} tweet {index} is {found[0]}"
    for stray in (row for left in rows_by_id.values() for row in left):
        check.doubled[f"row {stray.id}"] = (
            f"ledger: row {stray.id} ({stray.status}) is no tweet of ours"
        )
    if drafts:
        check.wrong["drafts"] = f"ledger: {drafts} drafts left unclaimed"


async def bench(args: argparse.Namespace) -> int:
    await common.prepare_database(args.database_url)
    warmup = range(args.warmup)
    measured = range(args.warmup, args.warmup + args.tweets)
    cap = args.warmup + args.tweets + 1  # above anything the run posts: counted, never reached
    async with common.fake_x(args.latency) as api_base, aiohttp.ClientSession() as bare:
        settings = common.bench_settings(
            args,
            api_base,
            public_url="http://127.0.0.1:9",  # only echoed back by the fake, never opened
            tweet_cooldown_seconds=0,
            member_daily_tweet_cap=cap,
            server_daily_tweet_cap=cap,
        )
        async with open_services(settings) as services:
            members = await link_members(services, bare, args.members, args.guilds)
            ours = tweetlink_post(services, members, "ours", CHANNEL_ID)
            ours_warmup = tweetlink_post(services, members, "ours", WARMUP_CHANNEL_ID)
            floor = floor_post(bare, api_base, members, "floor")
            floor_warmup_run = await common.run_concurrently(
                "warm-up", floor, warmup, args.concurrency
            )
            ours_warmup_run = await common.run_concurrently(
                "warm-up", ours_warmup, warmup, args.concurrency
            )
            floor_run = await common.run_concurrently("floor", floor, measured, args.concurrency)
            ours_run = await common.run_concurrently("tweetlink", ours, measured, args.concurrency)
            print(f"{args.tweets} tweets by {args.members} members, {common.describe(args)}")
            check = common.Check()
            check_returned([floor_warmup_run, ours_warmup_run, floor_run, ours_run], check)
            await check_ledger(services, [ours_warmup_run, ours_run], members, args.tweets, check)
    return common.report("tweet", floor_run, ours_run, check, TARGETS)


def main() -> None:
    parser = common.argument_parser("python -m bench.tweets", __doc__, warmup=64)
    parser.add_argument("--tweets", type=int, default=1000, help="measured tweets (1000)")
    parser.add_argument("--members", type=int, default=100, help="linked members posting (100)")
    parser.add_argument(
        "--guilds",
        type=int,
        default=1,
        help="servers the members are spread over, member i in server i %% G (1)",
    )
    args = parser.parse_args()
    common.check_common_arguments(parser, args)
    if min(args.tweets, args.members, args.guilds) < 1:
        parser.error("--tweets, --members and --guilds must be positive")
    if args.members >= 10**14:
        parser.error("too many members for distinct 15-character X handles")
    # The floor and ours each post warm-up + tweets, spread over the members.
    if 2 * math.ceil((args.warmup + args.tweets) / args.members) > X_TWEETS_PER_USER:
        parser.error(
            f"each X account may post {X_TWEETS_PER_USER} tweets per 15 minutes: "
            "give more --members for that many --tweets"
        )
    common.run_bench(bench, args)


if __name__ == "__main__":
    main()
