"""`tweetlink run` as a real process: the bot on the fake Discord and the pages on loopback."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.config import Settings
from core.models import LinkIntent, Tweet, TweetDraft, TweetStatus
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser
from tests.fakes.twitter import FakeTwitter
from tests.support.discord_bot import custom_ids, preview_of
from tests.support.member_browser import link_member
from tests.support.processes import environment_of, tweetlink
from tests.support.tweetlink_on_fake_discord import MODULE as TWEETLINK_ON_FAKE_DISCORD
from tests.support.tweetlink_on_fake_discord import fake_discord_environment
from tweetlink.services import Services

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(settings: Settings, fake_discord: FakeDiscord) -> dict[str, str]:
    """The test settings, with Discord pointed at the fake and the pages on a free port."""
    env = environment_of(settings)
    port = free_port()
    env.update(
        **fake_discord_environment(fake_discord),
        WEB_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        LOG_LEVEL="DEBUG",
        HOUSEKEEPING_INTERVAL_SECONDS="0.2",
    )
    return env


@pytest.fixture
async def running(env: dict[str, str], tmp_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`tweetlink run`, stopped with SIGTERM at the end if the test did not stop it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        TWEETLINK_ON_FAKE_DISCORD,
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    yield process
    if process.returncode is None:
        process.kill()
        await process.communicate()


async def test_run_serves_discord_and_pages_and_stops_on_sigterm(
    running: asyncio.subprocess.Process, fake_discord: FakeDiscord, env: dict[str, str]
) -> None:
    """One process answers a slash command and /healthz, and exits 0 on SIGTERM."""
    member = fake_discord.add_user("frank")
    await fake_discord.wait_for(lambda r: r.method == "PUT" and r.path.endswith("/commands"))
    await fake_discord.wait_connected()
    command = await fake_discord.slash_command(member, "twitter-account")
    answer = await command.wait_response()
    assert "No X account is linked" in (answer.content or "")

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{env['PUBLIC_URL']}/healthz") as response,
    ):
        assert response.status == 200

    running.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(running.communicate(), timeout=30)
    assert running.returncode == 0, stderr.decode()
    logs = stderr.decode()
    assert "DEBUG" in logs  # the check below reads real debug logs
    assert fake_discord.token not in logs
    assert env["TWITTER_CONSUMER_SECRET"] not in logs


async def test_check_logs_in_to_discord_and_prints_the_invite(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`check` logs in to Discord and prints the invite URL with both scopes."""
    env["LOG_LEVEL"] = "INFO"
    finished = await tweetlink(tmp_path, env, "check", module=TWEETLINK_ON_FAKE_DISCORD)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "Discord: logged in as" in finished.stdout
    assert "scope=bot+applications.commands" in finished.stdout
    assert "WARNING" not in finished.stderr  # no library noise: voice, intents
    assert "alembic" not in finished.stderr


async def test_check_names_a_refused_discord_token(env: dict[str, str], tmp_path: Path) -> None:
    """A token Discord refuses is named in words."""
    env["DISCORD_TOKEN"] = "not-the-token"
    finished = await tweetlink(tmp_path, env, "check", module=TWEETLINK_ON_FAKE_DISCORD)
    assert finished.returncode == 1
    assert "Discord refused DISCORD_TOKEN" in finished.stdout


async def test_run_sweeps_expired_flows_and_previews(
    running: asyncio.subprocess.Process, services: Services, fake_discord: FakeDiscord
) -> None:
    """The running process deletes, on its timer, the link flows and previews whose time is up,
    and keeps those still alive."""
    await fake_discord.wait_connected()
    now = utcnow()
    async with services.sessions.begin() as session:
        for n, expires_at in enumerate((now - timedelta(minutes=1), now + timedelta(minutes=10))):
            session.add_all(
                [
                    LinkIntent(
                        id=f"flow-{n}",
                        discord_user_id=n + 1,
                        discord_name="someone",
                        status="created",
                        csrf_token="csrf",
                        created_at=now,
                        expires_at=expires_at,
                        code_attempts=0,
                    ),
                    TweetDraft(
                        id=f"draft-{n}",
                        discord_user_id=n + 1,
                        guild_id=1,
                        channel_id=1,
                        text="hello",
                        created_at=now,
                        expires_at=expires_at,
                    ),
                ]
            )

    async def left() -> tuple[list[str], list[str]]:
        async with services.sessions() as session:
            flows = list(await session.scalars(select(LinkIntent.id)))
            drafts = list(await session.scalars(select(TweetDraft.id)))
        return flows, drafts

    deadline = asyncio.get_running_loop().time() + 10
    while (remaining := await left()) != (["flow-1"], ["draft-1"]):
        assert asyncio.get_running_loop().time() < deadline, remaining
        await asyncio.sleep(0.05)


@pytest.fixture
async def community(
    services: Services, web_server: str, fake_discord: FakeDiscord
) -> tuple[FakeGuild, FakeUser]:
    """A server, made before the bot starts, with a member linked to @ivy_x."""
    guild = fake_discord.add_guild("Community")
    member = fake_discord.add_user("ivy")
    guild.add_member(member)
    await link_member(services, member.id, "ivy_x")
    return guild, member


async def test_sigterm_lets_a_post_under_way_finish_then_exits_0(
    community: tuple[FakeGuild, FakeUser],
    running: asyncio.subprocess.Process,
    fake_discord: FakeDiscord,
    fake_twitter: FakeTwitter,
    services: Services,
) -> None:
    """SIGTERM while X holds a Post: the post finishes, is recorded, the member hears the
    tweet's link, and the process exits 0."""
    guild, member = community
    await fake_discord.wait_connected()
    command = await fake_discord.slash_command(member, "tweet", {"text": "last words"}, guild=guild)
    preview = await preview_of(command)
    [post] = [i for i in custom_ids(preview) if i.startswith("tweetlink:post:")]
    fake_twitter.tweet_delay = 1.5
    click = await fake_discord.click_button(member, preview, post)
    await asyncio.wait_for(fake_twitter.tweet_recorded.wait(), 10)

    running.send_signal(signal.SIGTERM)
    edited = await click.wait_edit()
    assert str(edited["content"]).startswith("Posted: https://x.com/ivy_x/status/")
    _, stderr = await asyncio.wait_for(running.communicate(), timeout=30)
    assert running.returncode == 0, stderr.decode()
    async with services.sessions() as session:
        assert list(await session.scalars(select(Tweet.status))) == [TweetStatus.POSTED]


@pytest.mark.parametrize("when", ["/users/@me", "/commands", "/gateway/bot"])
async def test_sigterm_while_connecting_exits_0(
    running: asyncio.subprocess.Process, fake_discord: FakeDiscord, when: str
) -> None:
    """Stopped while it logs in, syncs or connects: no retrying a closed session, no traceback."""
    await fake_discord.wait_for(lambda r: r.path.endswith(when))
    running.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(running.communicate(), timeout=30)
    assert running.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
