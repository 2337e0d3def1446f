"""Throughput of the whole link flow against the fake X, beside the floor of the same X calls.

Runs N complete link flows (intent, `/link` landing and Continue, authorize at the fake X,
callback page with the code, confirm) through the production composition root and web pages,
`--concurrency` at a time, with the fake answering after `--latency` seconds. In the same process
and against the same fake it times the floor: per flow the three requests to X that a flow needs
(request token, authorize form, access token), from a bare loop with one aiohttp session and
oauthlib signing, no database and no pages. It prints flows per second, p50/p99 latency, CPU time
per flow and peak memory for both, the ratio ours/floor, and checks that every flow linked exactly
its own X account (lost: 0, doubled: 0); it exits non-zero if any flow was lost or doubled.

Target: at 50 ms fake latency and 64 flows in flight, at least half the floor's flows per second.

Run it from the project root:

    .venv/bin/python -m bench.link_flow --flows 512 --concurrency 64 --latency 0.05
    .venv/bin/python -m bench.link_flow \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Without `--database-url` it uses a SQLite file in a temporary directory. A PostgreSQL database
has its `public` schema DROPPED and recreated first: point it only at a throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import tempfile
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import aiohttp
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.common import (
    Job,
    Steps,
    peak_rss_mb,
    percentile,
    prepare_database,
    run_concurrently,
    timed,
)
from core.config import Settings
from core.models import IntentStatus, LinkedAccount, LinkIntent
from core.sealing import Sealer
from core.twitter import FORM, TokenPair, sign_request
from tests.fakes.twitter import FakeTwitter
from tests.support.member_browser import MemberBrowser
from tweetlink.services import Services, open_services
from web.app import create_app, create_runner

CONSUMER_KEY = "bench-consumer-key"
CONSUMER_SECRET = "bench-consumer-secret"
FIRST_DISCORD_ID = 300_000_000_000_000_000
FAKE_REQUESTS_PER_FLOW = 3
TARGET_RATIO = 0.5


class FlowFailed(Exception):
    """A step answered something other than what a working flow gets."""


@dataclass
class Phase:
    """What one batch of flows did and cost."""

    name: str
    indices: list[int]
    wall: float
    cpu: float
    latencies: list[float]
    steps: Steps
    outcomes: dict[int, str]
    failures: dict[int, str]
    fake_requests: int
    peak_rss_mb: float
    heap_peak_mb: float | None = None

    @property
    def flows(self) -> int:
        return len(self.indices)

    @property
    def flows_per_second(self) -> float:
        return len(self.outcomes) / self.wall if self.wall else 0.0


@dataclass
class Check:
    """Problems found, keyed so that one flow found lost by two checks counts once."""

    lost: dict[str, str] = field(default_factory=dict)
    doubled: dict[str, str] = field(default_factory=dict)


def _handle(prefix: str, index: int) -> str:
    handle = f"{prefix}{index}"
    assert len(handle) <= 15, handle  # X handles are [A-Za-z0-9_]{1,15}
    return handle


async def run_phase(
    name: str, flow: Job, indices: Iterable[int], concurrency: int, fake: FakeTwitter
) -> Phase:
    """Run `flow` for every index, `concurrency` at a time, counting the fake's requests."""
    requests_before = len(fake.requests)
    run = await run_concurrently(flow, indices, concurrency)
    return Phase(
        name=name,
        indices=run.indices,
        wall=run.wall,
        cpu=run.cpu,
        latencies=run.latencies,
        steps=run.steps,
        outcomes=run.outcomes,
        failures=run.failures,
        fake_requests=len(fake.requests) - requests_before,
        peak_rss_mb=peak_rss_mb(),
        heap_peak_mb=run.heap_peak_mb,
    )


def tweetlink_flow(services: Services, browser: MemberBrowser) -> Job:
    """The whole flow as a member goes through it, with the bot's two calls around the browser."""
    links, settings = services.links, services.settings

    async def flow(index: int, steps: Steps) -> str:
        discord_user_id = FIRST_DISCORD_ID + index
        handle = _handle("t", index)
        with timed(steps, "start"):
            started = await links.start(discord_user_id, f"member{index}#0")
        with timed(steps, "landing+continue"):
            authorize_url = await browser.press_continue(settings.link_url(started.intent_id))
        with timed(steps, "x authorize"):
            callback_url = await browser.decide_on_x(
                authorize_url, username=handle, action="authorize"
            )
        with timed(steps, "callback"):
            page = await browser.open(callback_url)
        if page.status != 200:
            raise FlowFailed(f"callback answered {page.status}")
        with timed(steps, "confirm"):
            link = await links.confirm(discord_user_id, page.code)
        return link.screen_name

    return flow


def floor_flow(http: aiohttp.ClientSession, api_base: str, callback_url: str) -> Job:
    """The same three requests to X, signed the same way, with nothing of ours around them."""

    async def post(url: str, *, data: str | dict[str, str] | None, headers: dict[str, str]) -> str:
        async with http.post(url, data=data, headers=headers, allow_redirects=False) as answer:
            body = await answer.text()
            if answer.status == 302:
                return answer.headers["Location"]
            if answer.status != 200:
                raise FlowFailed(f"{urlsplit(url).path} answered {answer.status}: {body[:100]}")
            return body

    async def flow(index: int, steps: Steps) -> str:
        request_token_url = f"{api_base}/oauth/request_token"
        form = {"x_auth_access_type": "write"}
        with timed(steps, "request token"):
            signed = sign_request(
                "POST",
                request_token_url,
                consumer_key=CONSUMER_KEY,
                consumer_secret=CONSUMER_SECRET,
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

        with timed(steps, "x authorize"):
            location = await post(
                urljoin(api_base, "/oauth/authorize"),
                data={
                    "oauth_token": request.token,
                    "username": _handle("f", index),
                    "action": "authorize",
                },
                headers={},
            )
        verifier = dict(parse_qsl(urlsplit(location).query))["oauth_verifier"]

        access_token_url = f"{api_base}/oauth/access_token"
        with timed(steps, "access token"):
            signed = sign_request(
                "POST",
                access_token_url,
                consumer_key=CONSUMER_KEY,
                consumer_secret=CONSUMER_SECRET,
                credentials=request,
                verifier=verifier,
            )
            body = await post(access_token_url, data=None, headers={"Authorization": signed})
        return dict(parse_qsl(body))["screen_name"]

    return flow


def check_outcomes(phase: Phase, prefix: str, check: Check) -> None:
    """Every flow of the phase finished with exactly its own X account, asking X once a step."""
    for index in phase.indices:
        expected = _handle(prefix, index)
        got = phase.outcomes.get(index)
        if got != expected:
            problem = phase.failures.get(index, f"ended as @{got}, not @{expected}")
            check.lost[f"{prefix}{index}"] = f"{phase.name} flow {index}: {problem}"
    if phase.fake_requests > FAKE_REQUESTS_PER_FLOW * phase.flows:
        check.doubled[f"{phase.name} requests"] = (
            f"{phase.name}: {phase.fake_requests} requests to X for {phase.flows} flows"
        )


async def check_database(services: Services, expected: dict[int, str], check: Check) -> None:
    """Each Discord user holds the link to its own X account, its flow is finished, none twice."""
    async with services.sessions() as session:
        rows = (
            await session.execute(
                select(
                    LinkedAccount.discord_user_id,
                    LinkedAccount.twitter_user_id,
                    LinkedAccount.screen_name,
                )
            )
        ).all()
        intents = await session.execute(select(LinkIntent.discord_user_id, LinkIntent.status))
        statuses = dict(intents.all())
    held_by = {discord_user_id: screen_name for discord_user_id, _, screen_name in rows}
    for discord_user_id, handle in expected.items():
        held, status = held_by.get(discord_user_id), statuses.get(discord_user_id)
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


def report(floor: Phase, ours: Phase, check: Check, args: argparse.Namespace) -> None:
    """The figures, one row a phase, then the verdicts."""
    print(
        f"{args.flows} flows, {args.concurrency} in flight, fake X latency "
        f"{args.latency * 1000:.0f} ms, database {make_url(args.database_url).get_backend_name()}"
        f", {args.warmup} warm-up flows each not counted"
    )
    heap = floor.heap_peak_mb is not None
    header = f"{'':10} {'flows/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/flow':>12}"
    header += f" {'peak RSS MB':>12}" + (f" {'heap peak MB':>13}" if heap else "")
    header += f" {'X reqs':>7} {'errors':>7}"
    print(header)
    for phase in (floor, ours):
        row = (
            f"{phase.name:10} {phase.flows_per_second:8.1f}"
            f" {percentile(phase.latencies, 0.5) * 1000:8.1f}"
            f" {percentile(phase.latencies, 0.99) * 1000:8.1f}"
            f" {phase.cpu / phase.flows * 1000:12.2f} {phase.peak_rss_mb:12.1f}"
        )
        if heap:
            row += f" {phase.heap_peak_mb or 0:13.1f}"
        row += f" {phase.fake_requests:7} {len(phase.failures):7}"
        print(row)
    print(
        "CPU is the whole process's (the fake X, our pages and the browser share it); "
        "peak RSS is the process's peak so far (the floor runs first)."
    )
    for phase in (floor, ours):
        medians = ", ".join(
            f"{name} {percentile(times, 0.5) * 1000:.1f}" for name, times in phase.steps.items()
        )
        print(f"{phase.name} step p50 ms: {medians}")
    for phase in (floor, ours):
        for error, n in Counter(phase.failures.values()).most_common(5):
            print(f"{phase.name} error x{n}: {error}")
    ratio = ours.flows_per_second / floor.flows_per_second if floor.flows_per_second else 0.0
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"ours/floor flows per second: {ratio:.2f} (target >= {TARGET_RATIO}: {verdict})")
    print(f"lost: {len(check.lost)}, doubled: {len(check.doubled)}")
    for problem in [*check.lost.values(), *check.doubled.values()][:10]:
        print(f"  {problem}")


async def bench(args: argparse.Namespace) -> int:
    await prepare_database(args.database_url)
    warmup = range(args.warmup)
    measured = range(args.warmup, args.warmup + args.flows)
    async with (
        FakeTwitter(CONSUMER_KEY, CONSUMER_SECRET, latency=args.latency) as fake,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as bare,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as member,
    ):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as web_socket:
            web_socket.bind(("127.0.0.1", 0))
            port = web_socket.getsockname()[1]
            settings = Settings(
                _env_file=None,
                twitter_consumer_key=CONSUMER_KEY,
                twitter_consumer_secret=CONSUMER_SECRET,
                public_url=f"http://127.0.0.1:{port}",
                web_port=port,
                database_url=args.database_url,
                token_encryption_keys=Sealer.generate_key(),
                twitter_api_base=fake.base_url,
                # Generous, so that a slow flow shows in p99 rather than as a lost flow.
                twitter_timeout_seconds=30,
            )
            async with open_services(settings) as services:
                app = create_app(
                    services.links,
                    twitter_api_base=settings.twitter_api_base,
                    ping=services.database_ok,
                )
                runner = create_runner(app)
                await runner.setup()
                await web.SockSite(runner, web_socket).start()
                try:
                    ours = tweetlink_flow(services, MemberBrowser(member))
                    floor = floor_flow(bare, fake.base_url, settings.callback_url)
                    await run_phase("warm-up", floor, warmup, args.concurrency, fake)
                    await run_phase("warm-up", ours, warmup, args.concurrency, fake)
                    if args.tracemalloc:
                        tracemalloc.start()
                    floor_phase = await run_phase("floor", floor, measured, args.concurrency, fake)
                    ours_phase = await run_phase(
                        "tweetlink", ours, measured, args.concurrency, fake
                    )
                    tracemalloc.stop()
                    check = Check()
                    check_outcomes(floor_phase, "f", check)
                    check_outcomes(ours_phase, "t", check)
                    every_flow = [*warmup, *measured]
                    await check_database(
                        services,
                        {FIRST_DISCORD_ID + index: _handle("t", index) for index in every_flow},
                        check,
                    )
                finally:
                    await runner.cleanup()
    report(floor_phase, ours_phase, check, args)
    return 1 if check.lost or check.doubled else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.link_flow", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--flows", type=int, default=512, help="measured flows (default 512)")
    parser.add_argument("--concurrency", type=int, default=64, help="flows in flight (64)")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the fake X takes per answer (0.05)"
    )
    parser.add_argument(
        "--database-url",
        help="default: a SQLite file in a temporary directory; a PostgreSQL URL "
        "(postgresql+asyncpg://…) has its public schema wiped first",
    )
    parser.add_argument("--warmup", type=int, default=8, help="uncounted flows first (8)")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also report the Python heap peak per phase (slows everything down)",
    )
    args = parser.parse_args()
    if args.flows < 1 or args.concurrency < 1 or args.warmup < 0 or args.latency < 0:
        parser.error("--flows and --concurrency must be positive, --warmup and --latency not < 0")
    if args.flows + args.warmup >= 10**14:
        parser.error("too many flows for distinct 15-character X handles")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tweetlink-bench-") as scratch:
        if args.database_url is None:
            args.database_url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        code = asyncio.run(bench(args))
    sys.exit(code)


if __name__ == "__main__":
    main()
