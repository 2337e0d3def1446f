"""Running the Discord bot on the process's services, and checking its Discord credentials."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.client import BotServices, TweetlinkBot
from core.config import MissingSetting
from tweetlink.failures import CommandFailed
from tweetlink.housekeeping import sweep_until
from tweetlink.services import Services

log = logging.getLogger(__name__)

# On SIGTERM, posts under way get this long to hear from X and answer the member.
FINISH_POSTS_SECONDS = 10
INVITE_PERMISSIONS = discord.Permissions(send_messages=True, embed_links=True)


class DiscordLoginFailed(Exception):
    """Discord refused the bot's token."""

    def __init__(self) -> None:
        super().__init__("Discord refused DISCORD_TOKEN; copy the bot's token again")


@dataclass(frozen=True)
class Shards:
    """Which shards this process runs: `ids` of `count` across every bot process; None for
    all of them, and as many as Discord recommends."""

    ids: list[int] | None = None
    count: int | None = None

    @property
    def syncs_commands(self) -> bool:
        """Whether this process syncs the command tree: the one holding shard 0 does."""
        return self.ids is None or 0 in self.ids


def _no_voice_warning() -> None:
    # discord.py warns that its voice libraries (PyNaCl, davey) are missing; we have no voice.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


def discord_unreachable(error: BaseException) -> CommandFailed:
    """Discord did not answer: its address and the cause, for the operator."""
    cause = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    return CommandFailed(
        f"could not reach Discord at {Route.BASE} ({cause}); check this machine's network, "
        "DNS and proxy settings"
    )


def create_bot(services: Services, shards: Shards = Shards(), **options: Any) -> TweetlinkBot:
    """The bot, on the process's shared services, running `shards`."""
    _no_voice_warning()
    resources = BotServices(
        settings=services.settings,
        links=services.links,
        tweets=services.tweets,
        policy=services.policy,
        usage=services.usage,
        audit=services.audit,
        role_connections=services.role_connections,
    )
    return TweetlinkBot(
        resources,
        syncs_commands=shards.syncs_commands,
        shard_ids=shards.ids,
        shard_count=shards.count,
        **options,
    )


async def run_bot(
    services: Services,
    stop: asyncio.Event,
    logged_in: asyncio.Event | None = None,
    *,
    shards: Shards = Shards(),
) -> None:
    """Run the Discord bot's `shards` until `stop` is set or the connection ends for good;
    `logged_in` is set once Discord accepted the token."""
    bot = create_bot(services, shards)
    async with bot:
        try:
            await bot.login(services.settings.bot_token())
        except discord.LoginFailure:
            raise DiscordLoginFailed() from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise discord_unreachable(error) from None
        if logged_in is not None:
            logged_in.set()
        if stop.is_set():  # asked to stop while logging in
            return
        connection = asyncio.create_task(bot.connect())
        stopping = asyncio.create_task(stop.wait())
        sweeping = asyncio.create_task(sweep_until(services, stop))
        try:
            await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()  # the bot is stopping either way: the web pages beside it stop too
            stopping.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FINISH_POSTS_SECONDS):
                    await services.tweets.finish_posts()
                    await services.role_connections.finish_pushes()
            if not connection.done():
                # Stopped while connecting, discord.py would retry a closed session forever.
                connection.cancel()
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await connection
            # Not cancelled: a sweep cut off mid-statement leaves its connection to a closed
            # engine, and the process hangs on exit. It ends after its current sweep.
            await sweeping


async def check_discord(services: Services) -> tuple[str, bool]:
    """Log in to Discord and report the bot's name and invite URL."""
    try:
        token = services.settings.bot_token()
    except MissingSetting as missing:
        return f"{missing}, so the bot cannot run", False
    _no_voice_warning()
    # The guilds intent, as the bot has: without it discord.py warns of state problems.
    client = discord.Client(intents=discord.Intents(guilds=True))
    try:
        async with client:
            await client.login(token)
            application = await client.application_info()
    except discord.LoginFailure:
        return str(DiscordLoginFailed()), False
    except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as error:
        return str(discord_unreachable(error)), False
    invite = discord.utils.oauth_url(
        application.id,
        permissions=INVITE_PERMISSIONS,
        scopes=("bot", "applications.commands"),
    )
    return f"logged in as {application.name}; invite it with {invite}", True
