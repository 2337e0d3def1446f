"""Throughput and CPU of whole link flows against the fake X, beside the floor of the X calls.

Starts the fake X in a process of its own (`python -m tests.fakes.twitter` on a free loopback
port, answering after `--latency` seconds), then runs N complete link flows, `--concurrency` at a
time: the bot's `start`, our `/link` landing page and Continue, Authorize at the fake X, our
callback page with the code, the bot's `confirm`, all through the production composition root and
web pages in this process (the member's browser is a plain aiohttp client here too). Before that,
against the same fake process, it times the floor: per flow the three requests to X that a flow
needs (request token, authorize form, access token), from a bare loop with one aiohttp session and
oauthlib signing, no database and no pages.

It prints, for the floor and for ours, flows per second, p50/p99 latency, CPU time per flow of
this process alone (`time.process_time()`, all its threads; the fake X's CPU is in its own
process, a PostgreSQL server's is not counted), peak RSS, each step's median, and the ratio
ours/floor. It checks that every flow linked exactly its own X account, from what our calls
returned and from our database (lost: 0, doubled: 0).

Targets, at 50 ms fake latency and 64 flows in flight, printed as PASS/FAIL lines:
- ours at least 0.25 x the floor's flows per second;
- at most 10 ms of our CPU per link flow;
- every flow linked exactly its own X account, none lost or doubled.
It exits 1 if a flow was lost, doubled or wrong, 3 if all checked out but a target was missed,
0 when every line PASSes.

Run it from the project root:

    .venv/bin/python -m bench.link_flow --flows 512
    .venv/bin/python -m bench.link_flow --flows 512 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Without `--database-url` it uses a SQLite file in a temporary directory. A PostgreSQL database
has its `public` schema DROPPED and recreated first: point it only at a throwaway database.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bench import common
from core.models import IntentStatus, LinkedAccount, LinkIntent
from core.twitter import FORM, TokenPair, sign_request
from tests.support.member_browser import MemberBrowser
from tweetlink.services import Services, open_services
from web.app import create_app, create_runner

FIRST_DISCORD_ID = 300_000_000_000_000_000
TARGETS = common.Targets(ratio=0.25, cpu_ms=10.0)


class FlowFailed(Exception):
    """A step answered something other than what a working flow gets."""


def handle_of(prefix: str, index: int) -> str:
    handle = f"{prefix}{index}"
    assert len(handle) <= 15, handle  # X handles are [A-Za-z0-9_]{1,15}
    return handle


def tweetlink_flow(
    services: Services,
    browser: MemberBrowser,
    prefix: str = "t",
    discord_id: Callable[[int], int] = lambda index: FIRST_DISCORD_ID + index,
) -> common.Job:
    """The whole flow as a member goes through it, with the bot's two calls around the browser;
    flow i is Discord user `discord_id(i)` linking the X account `<prefix><i>`."""
    links, settings = services.links, services.settings

    async def flow(index: int, steps: common.Steps) -> str:
        discord_user_id = discord_id(index)
        with common.timed(steps, "start"):
            started = await links.start(discord_user_id, f"member{index}#0")
        with common.timed(steps, "landing+continue"):
            authorize_url = await browser.press_continue(settings.link_url(started.intent_id))
        with common.timed(steps, "x authorize"):
            callback_url = await browser.decide_on_x(
                authorize_url, username=handle_of(prefix, index), action="authorize"
            )
        with common.timed(steps, "callback"):
            page = await browser.open(callback_url)
        if page.status != 200:
            raise FlowFailed(f"callback answered {page.status}")
        with common.timed(steps, "confirm"):
            link = await links.confirm(discord_user_id, page.code)
        return link.screen_name

    return flow


def floor_flow(http: aiohttp.ClientSession, api_base: str, callback_url: str) -> common.Job:
    """The same three requests to X, signed the same way, with nothing of ours around them."""

    async def post(url: str, *, data: str | dict[str, str] | None, headers: dict[str, str]) -> str:
        async with http.post(url, data=data, headers=headers, allow_redirects=False) as answer:
            body = await answer.text()
            if answer.status == 302:
                return answer.headers["Location"]
            if answer.status != 200:
                raise FlowFailed(f"{urlsplit(url).path} answered {answer.status}: {body[:100]}")
            return body

    async def flow(index: int, steps: common.Steps) -> str:
        request_token_url = f"{api_base}/oauth/request_token"
        form = {"x_auth_access_type": "write"}
        with common.timed(steps, "request token"):
            signed = sign_request(
                "POST",
                request_token_url,
                consumer_key=common.CONSUMER_KEY,
                consumer_secret=common.CONSUMER_SECRET,
                callback=callback_url,
                form=form,
            )
            body = await post(
                request_token_url,
                data=urlencode(form),
                headers={"Authorization": signed, "Content-Type": FORM},
            )
        answer = dict(parse_qsl(body))
        if answer.get("oauth_callback_confirmed") != "true":
            raise FlowFailed("callback not confirmed")
        request = TokenPair(answer["oauth_token"], answer["oauth_token_secret"])

        with common.timed(steps, "x authorize"):
            location = await post(
                urljoin(api_base, "/oauth/authorize"),
                data={
                    "oauth_token": request.token,
                    "username": handle_of("f", index),
                    "action": "authorize",
                },
                headers={},
            )
        verifier = dict(parse_qsl(urlsplit(location).query))["oauth_verifier"]

        access_token_url = f"{api_base}/oauth/access_token"
        with common.timed(steps, "access token"):
            signed = sign_request(
                "POST",
                access_token_url,
                consumer_key=common.CONSUMER_KEY,
                consumer_secret=common.CONSUMER_SECRET,
                credentials=request,
                verifier=verifier,
            )
            body = await post(access_token_url, data=None, headers={"Authorization": signed})
        return dict(parse_qsl(body))["screen_name"]

    return flow


def check_returned(run: common.Run, prefix: str, check: common.Check) -> None:
    """Every flow of the run ended with exactly its own X account."""
    for index in run.indices:
        expected, got = handle_of(prefix, index), run.outcomes.get(index)
        if got != expected:
            problem = run.failures.get(index, f"ended as @{got}, not @{expected}")
            check.lost[expected] = f"{run.name} flow {index}: {problem}"


async def check_database(services: Services, expected: dict[int, str], check: common.Check) -> int:
    """Each Discord user holds the link to its own X account, none twice, and its flow is
    finished or gone (`start` deletes every flow past its expiry). Returns how many links the
    database holds."""
    async with services.sessions() as session:
        links = await session.execute(
            select(
                LinkedAccount.discord_user_id,
                LinkedAccount.twitter_user_id,
                LinkedAccount.screen_name,
            )
        )
        intents = await session.execute(select(LinkIntent.discord_user_id, LinkIntent.status))
        rows, statuses = links.all(), dict(intents.all())
    held_by = {discord_user_id: screen_name for discord_user_id, _, screen_name in rows}
    for discord_user_id, handle in expected.items():
        held = held_by.get(discord_user_id)
        status = statuses.get(discord_user_id, IntentStatus.LINKED)
        if held != handle or status != IntentStatus.LINKED:
            check.lost.setdefault(
                handle, f"database: {discord_user_id} holds @{held}, flow status {status}"
            )
    for discord_user_id in held_by.keys() - expected.keys():
        check.doubled[f"user {discord_user_id}"] = f"database: stray link for {discord_user_id}"
    for label, column in (("X id", 1), ("X handle", 2)):
        for value, n in Counter(row[column] for row in rows).items():
            if n > 1:
                check.doubled[f"{label} {value}"] = f"database: {label} {value} linked {n} times"
    return len(rows)


async def bench(args: argparse.Namespace) -> int:
    await common.prepare_database(args.database_url)
    warmup = range(args.warmup)
    measured = range(args.warmup, args.warmup + args.flows)
    port = common.free_port()  # our web pages'
    async with (
        common.fake_x(args.latency) as api_base,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as bare,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as member,
    ):
        settings = common.bench_settings(
            args, api_base, public_url=f"http://127.0.0.1:{port}", web_port=port
        )
        async with open_services(settings) as services:
            app = create_app(services.links, twitter_api_base=api_base, ping=services.database_ok)
            runner = create_runner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                ours = tweetlink_flow(services, MemberBrowser(member))
                floor = floor_flow(bare, api_base, settings.callback_url)
                await common.run_concurrently("warm-up", floor, warmup, args.concurrency)
                await common.run_concurrently("warm-up", ours, warmup, args.concurrency)
                floor_run = await common.run_concurrently(
                    "floor", floor, measured, args.concurrency
                )
                ours_run = await common.run_concurrently(
                    "tweetlink", ours, measured, args.concurrency
                )
                check = common.Check()
                check_returned(floor_run, "f", check)
                check_returned(ours_run, "t", check)
                every_flow = [*warmup, *measured]
                await check_database(
                    services,
                    {FIRST_DISCORD_ID + index: handle_of("t", index) for index in every_flow},
                    check,
                )
            finally:
                await runner.cleanup()
    print(f"{args.flows} link flows, {common.describe(args)}")
    return common.report("flow", floor_run, ours_run, check, TARGETS)


def main() -> None:
    parser = common.argument_parser("python -m bench.link_flow", __doc__, warmup=8)
    parser.add_argument("--flows", type=int, default=512, help="measured flows (512)")
    args = parser.parse_args()
    common.check_common_arguments(parser, args)
    if args.flows < 1:
        parser.error("--flows must be positive")
    if args.flows + args.warmup >= 10**14:
        parser.error("too many flows for distinct 15-character X handles")
    common.run_bench(bench, args)


if __name__ == "__main__":
    main()
