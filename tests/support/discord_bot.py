"""Running the real TweetlinkBot against the fake Discord, and reading what it sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.client import TweetlinkBot
from bot.exts.linking import CODE_FIELD_ID, ENTER_CODE_ID, REPLACE_LINK_ID
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeInteraction, FakeUser, ResponseType
from tests.support.member_browser import MemberBrowser
from tweetlink.bot_runner import create_bot
from tweetlink.services import Services

EPHEMERAL = 1 << 6


@asynccontextmanager
async def running_bot(services: Services, fake: FakeDiscord) -> AsyncIterator[TweetlinkBot]:
    """The production bot, logged in to the fake and ready; closed cleanly afterwards."""
    bot = create_bot(services, guild_ready_timeout=0.05)
    await bot.login(fake.token)
    connection = asyncio.create_task(bot.connect())
    try:
        await bot.wait_until_ready()
        yield bot
    finally:
        await bot.close()
        await connection
        # A member's answer may be out while the bot still updates their Linked Role after it.
        await services.role_connections.finish_pushes()


def link_button_url(message: dict[str, Any]) -> str:
    """The URL of the message's link button."""
    for row in message["components"]:
        for component in row["components"]:
            if component.get("url"):
                return str(component["url"])
    raise AssertionError(f"no link button in {message}")


def custom_ids(message: dict[str, Any]) -> list[str]:
    """The custom ids of the message's buttons, in order."""
    return [
        component["custom_id"]
        for row in message["components"]
        for component in row["components"]
        if "custom_id" in component
    ]


def is_ephemeral(message: dict[str, Any]) -> bool:
    """Whether Discord shows the message to its recipient only."""
    return bool((message.get("flags") or 0) & EPHEMERAL)


DISCORD_DEADLINE = 3.0


@dataclass
class World:
    """A server with two members, the running bot, and a browser for the web pages."""

    discord: FakeDiscord
    guild: FakeGuild
    alice: FakeUser
    bob: FakeUser
    bot: TweetlinkBot
    browser: MemberBrowser
    services: Services


async def answered(interaction: FakeInteraction) -> None:
    """The bot's first answer came within Discord's deadline."""
    response = await interaction.wait_response()
    assert response.latency < DISCORD_DEADLINE, response
    assert response.status < 400, response


async def run_link_twitter(world: World, user: FakeUser) -> dict[str, Any]:
    """/link-twitter in the server; returns the DM the bot sent."""
    command = await world.discord.slash_command(user, "link-twitter", guild=world.guild)
    response = await command.wait_response()
    assert response.type == ResponseType.DEFERRED_MESSAGE
    assert response.ephemeral
    await answered(command)
    dm = await world.discord.wait_dm(user)
    followup = await command.wait_followup()
    assert is_ephemeral(followup)
    assert "sent you a DM" in followup["content"]
    return dm


async def enter_code(world: World, user: FakeUser, message: dict[str, Any], code: str) -> str:
    """Press Enter code under `message`, type `code`; returns the bot's answer."""
    click = await world.discord.click_button(user, message, ENTER_CODE_ID)
    modal = await click.wait_response()
    assert modal.type == ResponseType.MODAL
    await answered(click)
    submitted = await world.discord.submit_modal(click, {CODE_FIELD_ID: code})
    answer = await submitted.wait_response()
    await answered(submitted)
    assert answer.ephemeral
    return answer.content or ""


async def link(world: World, user: FakeUser, handle: str) -> None:
    """Link `user` to the X account `handle` the way a member does."""
    dm = await run_link_twitter(world, user)
    page = await world.browser.authorize(link_button_url(dm), username=handle)
    assert await enter_code(world, user, dm, page.code) == f"Linked as @{handle}."


async def preview_of(interaction: FakeInteraction) -> dict[str, Any]:
    """The ephemeral preview (or explanation) the bot answered a /tweet-like command with."""
    deferred = await interaction.wait_response()
    assert deferred.type == ResponseType.DEFERRED_MESSAGE
    assert deferred.ephemeral
    await answered(interaction)
    return await interaction.wait_followup()


async def press(world: World, user: FakeUser, preview: dict[str, Any], action: str) -> str:
    """Press a button of a preview (Post, Cancel; once posted, delete, delete-yes, delete-no)
    as the message is now; returns what it says afterwards."""
    live = world.discord.messages.get(int(preview["id"]), preview)
    [button] = [i for i in custom_ids(live) if i.startswith(f"tweetlink:{action}:")]
    click = await world.discord.click_button(user, preview, button)
    await answered(click)
    response = await click.wait_response()
    if response.type == ResponseType.DEFERRED_UPDATE:
        return str((await click.wait_edit())["content"])
    return response.content or ""


async def unlink_with_buttons(world: World, user: FakeUser) -> str:
    """/unlink-twitter, then Unlink; returns what the message says afterwards."""
    command = await world.discord.slash_command(user, "unlink-twitter", guild=world.guild)
    question = await command.wait_response()
    await answered(command)
    assert question.ephemeral
    assert question.message is not None
    unlink_id = custom_ids(question.message)[0]
    click = await world.discord.click_button(user, question.message, unlink_id)
    await answered(click)
    edit = await click.wait_edit()
    return str(edit["content"])


async def relink(world: World, user: FakeUser, handle: str) -> str:
    """/link-twitter by a linked member, Link another account, X, the code; the bot's answer."""
    command = await world.discord.slash_command(user, "link-twitter", guild=world.guild)
    offer = await command.wait_response()
    await answered(command)
    assert offer.message is not None
    click = await world.discord.click_button(user, offer.message, REPLACE_LINK_ID)
    await answered(click)
    dm = await world.discord.wait_dm(user)
    page = await world.browser.authorize(link_button_url(dm), username=handle)
    return await enter_code(world, user, dm, page.code)
