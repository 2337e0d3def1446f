"""`kill -9` of `web`, `bot` and `run` as real processes, mid-flow and mid-post, then a restart:
the flow can be finished, nothing is doubled, and a post cut off around X's answer is recorded
`posted` or `unknown`, never lost."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.exts.linking import CODE_FIELD_ID, ENTER_CODE_ID
from core.config import Settings
from core.models import LinkedAccount, Tweet, TweetStatus
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser
from tests.fakes.twitter import FakeTwitter
from tests.support.discord_bot import custom_ids, link_button_url, preview_of
from tests.support.member_browser import MemberBrowser, link_member
from tests.support.processes import environment_of
from tests.support.tweetlink_on_fake_discord import MODULE as TWEETLINK_ON_FAKE_DISCORD
from tests.support.tweetlink_on_fake_discord import fake_discord_environment
from tests.support.web_workers import free_port, on_worker, start_web_worker, until_healthy
from tweetlink.services import Services

MEMBER = 540_000_000_000_000_001
SECONDS = 20.0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` (something no event announces) until it holds, or fail."""
    deadline = asyncio.get_running_loop().time() + SECONDS
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)


async def linked_accounts(services: Services) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(LinkedAccount)) or 0)


async def killed(process: asyncio.subprocess.Process) -> None:
    process.kill()
    assert await process.wait() == -9


# --- web ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["continue", "callback"])
async def test_web_killed_while_x_holds_a_step_then_the_flow_finishes_once(
    settings: Settings, services: Services, fake_twitter: FakeTwitter, tmp_path: Path, step: str
) -> None:
    """Killed while X holds the request token (Continue) or the access token (the callback);
    restarted on its port, the member opens the link again and the flow links, once."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    env = environment_of(settings)
    started = await services.links.start(MEMBER, "member")
    async with aiohttp.ClientSession() as http:
        browser = MemberBrowser(http)
        worker = await start_web_worker(env, port, public_url, tmp_path / "web.log")
        await until_healthy(worker)
        link_url = on_worker(services.settings.link_url(started.intent_id), worker)
        held = "/oauth/request_token" if step == "continue" else "/oauth/access_token"
        fake_twitter.faults.break_next(f"POST {held}", "slow")  # X does it, then holds on
        if step == "continue":
            pressing = asyncio.create_task(browser.press_continue(link_url))
        else:
            authorize_url = await browser.press_continue(link_url)
            callback = await browser.decide_on_x(
                authorize_url, username="ada_x", action="authorize"
            )
            pressing = asyncio.create_task(browser.open(callback))
        await until(lambda: ("POST", held) in fake_twitter.requests, f"{held} at X")

        await killed(worker.process)
        with pytest.raises(aiohttp.ClientError):
            await pressing
        worker = await start_web_worker(env, port, public_url, tmp_path / "web.log")
        await until_healthy(worker)
        page = await browser.authorize(link_url, username="ada_x")
        link = await services.links.confirm(MEMBER, page.code)

        assert link.screen_name == "ada_x"
        assert await linked_accounts(services) == 1
        assert await worker.stop() == 0, worker.log


# --- bot and run -------------------------------------------------------------------------------


@asynccontextmanager
async def tweetlink_process(
    command: str, env: dict[str, str], log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`tweetlink COMMAND` on the fake Discord, its output in `log_path`; killed at the end."""
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            TWEETLINK_ON_FAKE_DISCORD,
            command,
            cwd=log_path.parent,
            env=env,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def connected_for_the_nth_time(fake: FakeDiscord, n: int) -> None:
    def probe() -> bool | None:
        return True if len(fake.identifies) >= n and fake.gateway.connected else None

    await fake.wait(probe, f"connection number {n}")


@pytest.fixture
def community(fake_discord: FakeDiscord) -> tuple[FakeGuild, FakeUser]:
    guild = fake_discord.add_guild("Community")
    member = fake_discord.add_user("kim")
    guild.add_member(member)
    return guild, member


async def test_bot_killed_after_sending_the_link_then_the_code_links_once(
    settings: Settings,
    services: Services,
    web_server: str,
    fake_discord: FakeDiscord,
    community: tuple[FakeGuild, FakeUser],
    tmp_path: Path,
) -> None:
    """The flow lives in the database: the restarted bot takes the code from the same DM."""
    guild, member = community
    env = environment_of(settings) | fake_discord_environment(fake_discord)
    async with tweetlink_process("bot", env, tmp_path / "bot-1.log") as first:
        await connected_for_the_nth_time(fake_discord, 1)
        await fake_discord.slash_command(member, "link-twitter", guild=guild)
        dm = await fake_discord.wait_dm(member)
        await killed(first)
    async with (
        tweetlink_process("bot", env, tmp_path / "bot-2.log"),
        aiohttp.ClientSession() as http,
    ):
        await connected_for_the_nth_time(fake_discord, 2)
        page = await MemberBrowser(http).authorize(link_button_url(dm), username="kim_x")
        click = await fake_discord.click_button(member, dm, ENTER_CODE_ID)
        await click.wait_response()
        submitted = await fake_discord.submit_modal(click, {CODE_FIELD_ID: page.code})
        answer = await submitted.wait_response()

    assert answer.content == "Linked as @kim_x."
    assert await linked_accounts(services) == 1


async def ledger(services: Services) -> list[Tweet]:
    async with services.sessions() as session:
        return list(await session.scalars(select(Tweet)))


@pytest.mark.parametrize("when", ["while X holds its answer", "right after X answered"])
@pytest.mark.parametrize("kind", ["run", "bot"])
async def test_killed_mid_post_then_the_post_is_recorded_and_never_sent_again(
    settings: Settings,
    services: Services,
    web_server: str,
    fake_discord: FakeDiscord,
    fake_twitter: FakeTwitter,
    community: tuple[FakeGuild, FakeUser],
    tmp_path: Path,
    when: str,
    kind: str,
) -> None:
    """X posted; the process (`run`, or `bot` alone) died before or just after hearing so.
    After the restart the row is `posted` or (once the sweep finds it abandoned) `unknown`,
    and pressing Post again sends nothing."""
    guild, member = community
    await link_member(services, member.id, "kim_x")
    port = free_port()
    env = environment_of(settings) | fake_discord_environment(fake_discord)
    env |= {
        "WEB_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TWITTER_TIMEOUT_SECONDS": "1",  # a post abandoned is settled 2 x 1 + 5 s after booking
        "HOUSEKEEPING_INTERVAL_SECONDS": "0.2",
    }
    async with tweetlink_process(kind, env, tmp_path / f"{kind}-1.log") as first:
        await connected_for_the_nth_time(fake_discord, 1)
        command = await fake_discord.slash_command(member, "tweet", {"text": "cut"}, guild=guild)
        preview = await preview_of(command)
        [post] = [i for i in custom_ids(preview) if i.startswith("tweetlink:post:")]
        if when == "while X holds its answer":
            fake_twitter.faults.break_next("POST /2/tweets", "slow")
        await fake_discord.click_button(member, preview, post)
        await asyncio.wait_for(fake_twitter.tweet_recorded.wait(), SECONDS)
        await killed(first)
    async with tweetlink_process(kind, env, tmp_path / f"{kind}-2.log"):
        await connected_for_the_nth_time(fake_discord, 2)
        settled = (TweetStatus.POSTED, TweetStatus.UNKNOWN)
        rows: list[Tweet] = []

        async def probe() -> None:
            rows[:] = await ledger(services)

        deadline = asyncio.get_running_loop().time() + SECONDS
        while not (rows and rows[0].status in settled):
            assert asyncio.get_running_loop().time() < deadline, rows
            await probe()
            await asyncio.sleep(0.1)
        again = await fake_discord.click_button(member, preview, post)
        edited = await again.wait_edit()

    [row] = rows
    assert row.status in settled
    if row.status == TweetStatus.POSTED:
        assert row.tweet_id == fake_twitter.tweets_by("kim_x")[0].id
    assert "This preview has expired or was already used" in edited["content"]
    assert len(fake_twitter.tweets_by("kim_x")) == 1
