"""`/metrics`: what a running tweetlink counts, with labels that carry no secret."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from core import errors
from core.config import Settings
from core.tweets import Limits, TweetService, Where
from core.twitter import TwitterClient
from tests.fakes.discord import FakeDiscord
from tests.fakes.twitter import FakeTwitter
from tests.support.discord_bot import World, preview_of
from tests.support.member_browser import MemberBrowser, link_member
from tests.support.processes import environment_of
from tests.support.tweetlink_on_fake_discord import MODULE as TWEETLINK_ON_FAKE_DISCORD
from tests.support.tweetlink_on_fake_discord import fake_discord_environment
from tweetlink.services import Services

ALICE = 510_000_000_000_000_001
WHERE = Where(member_id=ALICE, guild_id=610_000_000_000_000_001, channel_id=1, role_ids=[])

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples_of(text: str) -> Samples:
    """Every sample of a Prometheus text page, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def counted(name: str, **labels: str) -> float:
    """A sample of this process's metrics now (0 when never counted)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def scrape(http: aiohttp.ClientSession, base_url: str) -> str:
    async with http.get(f"{base_url}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        return await response.text()


async def test_a_link_flow_is_counted_step_by_step_without_a_secret_in_a_label(
    services: Services, web_server: str, fake_twitter: FakeTwitter
) -> None:
    async with aiohttp.ClientSession() as http:
        before = samples_of(await scrape(http, web_server))
        started = await services.links.start(ALICE, "alice")
        page = await MemberBrowser(http).authorize(
            services.settings.link_url(started.intent_id), username="alice_x"
        )
        wrong = "000000" if page.code != "000000" else "111111"
        with pytest.raises(errors.WrongCode):
            await services.links.confirm(ALICE, wrong)
        link = await services.links.confirm(ALICE, page.code)
        text = await scrape(http, web_server)
    after = samples_of(text)

    steps = "tweetlink_link_steps_total"
    for step in ("start", "landing", "begin_authorization", "finish_authorization", "confirm"):
        assert grew(before, after, steps, step=step, outcome="ok") >= 1, step
    assert grew(before, after, steps, step="confirm", outcome="wrong_code") == 1
    x_requests = "tweetlink_x_request_seconds_count"
    for endpoint in ("POST /oauth/request_token", "POST /oauth/access_token"):
        assert grew(before, after, x_requests, endpoint=endpoint, status="200") == 1, endpoint
    assert grew(before, after, "tweetlink_db_transaction_seconds_count", end="commit") >= 4

    [(access_token, token_secret)] = [
        (token, access.secret)
        for token, access in fake_twitter._access_tokens.items()
        if access.user.screen_name == "alice_x"
    ]
    for secret in (started.intent_id, page.code, access_token, token_secret, link.twitter_user_id):
        assert secret not in text
    for name, labels in after:
        if name.startswith("tweetlink_"):
            assert all(len(value) <= 40 for _, value in labels), (name, labels)


async def test_tweets_are_counted_by_outcome_and_reason(
    services: Services, web_server: str, fake_twitter: FakeTwitter
) -> None:
    """Posted, refused with its reason, and unknown (X may have posted it) as recorded."""
    await link_member(services, ALICE, "alice_x")
    impatient = TwitterClient(
        services.http,
        consumer_key=services.settings.twitter_consumer_key,
        consumer_secret=services.settings.twitter_consumer_secret.get_secret_value(),
        api_base=services.settings.twitter_api_base,
        timeout_seconds=0.2,
    )
    limits = Limits(cooldown=timedelta(hours=1), member_daily_cap=100, guild_daily_cap=100)
    tweets = TweetService(services.sessions, services.sealer, impatient, limits=limits)
    posted = counted("tweetlink_tweets_total", outcome="posted", reason="")
    cooled = counted("tweetlink_tweets_total", outcome="refused", reason="tweet_cooldown")
    unknown = counted("tweetlink_tweets_total", outcome="unknown", reason="")
    timeouts = counted(
        "tweetlink_x_request_seconds_count", endpoint="POST /2/tweets", status="timeout"
    )

    await tweets.post((await tweets.prepare(WHERE, "first")).id, WHERE)
    with pytest.raises(errors.TweetCooldown):
        await tweets.post((await tweets.prepare(WHERE, "too soon")).id, WHERE)
    slow = TweetService(
        services.sessions, services.sealer, impatient, limits=Limits(timedelta(0), 100, 100)
    )
    fake_twitter.tweet_delay = 30
    with pytest.raises(errors.TwitterMaybePosted):
        await slow.post((await slow.prepare(WHERE, "slow")).id, WHERE)

    assert counted("tweetlink_tweets_total", outcome="posted", reason="") == posted + 1
    assert (
        counted("tweetlink_tweets_total", outcome="refused", reason="tweet_cooldown") == cooled + 1
    )
    assert counted("tweetlink_tweets_total", outcome="unknown", reason="") == unknown + 1
    assert (
        counted("tweetlink_x_request_seconds_count", endpoint="POST /2/tweets", status="timeout")
        == timeouts + 1
    )


async def until(condition: Callable[[], bool]) -> None:
    """Poll `condition` (a command is counted just after its answer), 10 s at most."""
    async with asyncio.timeout(10):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def test_commands_are_counted_by_name_and_outcome(world: World) -> None:
    def count(command: str, outcome: str) -> float:
        return counted("tweetlink_interactions_total", command=command, outcome=outcome)

    ok, refused = count("twitter-account", "ok"), count("tweet", "refused")
    await (await world.discord.slash_command(world.alice, "twitter-account")).wait_response()
    await until(lambda: count("twitter-account", "ok") == ok + 1)
    # Alice has no link: /tweet is refused, in words.
    command = await world.discord.slash_command(
        world.alice, "tweet", {"text": "hi"}, guild=world.guild
    )
    assert "/link-twitter" in (await preview_of(command))["content"]
    await until(lambda: count("tweet", "refused") == refused + 1)


@pytest.fixture
def bot_env(settings: Settings, fake_discord: FakeDiscord) -> dict[str, str]:
    return {**environment_of(settings), **fake_discord_environment(fake_discord)}


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def bot_alone(
    bot_env: dict[str, str], free_port: int, tmp_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`tweetlink bot` with METRICS_PORT set, killed at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        TWEETLINK_ON_FAKE_DISCORD,
        "bot",
        cwd=tmp_path,
        env={**bot_env, "METRICS_PORT": str(free_port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    yield process
    if process.returncode is None:
        process.kill()
    _, stderr = await process.communicate()
    assert "Traceback" not in stderr.decode()


COMMAND_OK = {"command": "twitter-account", "outcome": "ok"}


async def test_a_bot_running_alone_serves_metrics_on_metrics_port(
    bot_alone: asyncio.subprocess.Process, fake_discord: FakeDiscord, free_port: int
) -> None:
    member = fake_discord.add_user("frank")
    await fake_discord.wait_for(lambda r: r.method == "PUT" and r.path.endswith("/commands"))
    await fake_discord.wait_connected()
    await (await fake_discord.slash_command(member, "twitter-account")).wait_response()

    base_url = f"http://127.0.0.1:{free_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/healthz") as response:
            assert response.status == 200
        key = ("tweetlink_interactions_total", frozenset(COMMAND_OK.items()))
        async with asyncio.timeout(10):
            # The command is counted once its handler returned, just after the answer.
            while True:
                if samples_of(await scrape(http, base_url)).get(key) == 1:
                    break
                await asyncio.sleep(0.05)


async def test_a_busy_metrics_port_is_named_in_one_line(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            TWEETLINK_ON_FAKE_DISCORD,
            "bot",
            cwd=tmp_path,
            env={**bot_env, "METRICS_PORT": str(busy.getsockname()[1])},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    last = stderr.decode().strip().splitlines()[-1]
    assert "already in use" in last
    assert "METRICS_PORT" in last
    assert "Traceback" not in stderr.decode()
