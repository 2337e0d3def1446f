"""/twitter-admin end to end: rights checked in code, blocks, unlink, policy, usage and audit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import discord
import pytest
from sqlalchemy import select

from core.models import AuditEntry, GuildBlock
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser
from tests.fakes.twitter import FakeTwitter
from tests.support.discord_bot import World, answered, custom_ids, press, preview_of, running_bot
from tests.support.ledger import seed_ledger
from tests.support.member_browser import MemberBrowser, link_member
from tweetlink.services import Services

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class Admins:
    """The world plus an operator (ADMIN_USER_IDS, no server rights) and a server manager."""

    world: World
    operator: FakeUser
    manager: FakeUser
    other_guild: FakeGuild


@pytest.fixture
async def admins(
    services: Services, web_server: str, fake_discord: FakeDiscord
) -> AsyncIterator[Admins]:
    """Alice and Bob are linked members of two servers; the bot runs with an operator set."""
    guild, other = fake_discord.add_guild("Community"), fake_discord.add_guild("Elsewhere")
    guild.add_channel("tweets")  # before the bot connects, so it is in the bot's cache
    alice, bob = fake_discord.add_user("alice"), fake_discord.add_user("bob")
    operator, manager = fake_discord.add_user("operator"), fake_discord.add_user("manager")
    for member in (alice, bob, operator):
        guild.add_member(member)
    other.add_member(alice)
    guild.add_member(manager, permissions=discord.Permissions(manage_guild=True))
    configured = replace(
        services,
        settings=services.settings.model_copy(update={"admin_user_ids": [operator.id]}),
    )
    await link_member(services, alice.id, "alice_x")
    await link_member(services, bob.id, "bob_x")
    async with running_bot(configured, fake_discord) as bot, aiohttp.ClientSession() as http:
        world = World(fake_discord, guild, alice, bob, bot, MemberBrowser(http), services)
        yield Admins(world, operator, manager, other)


async def admin(
    admins: Admins,
    user: FakeUser,
    command: str,
    options: dict[str, Any] | None = None,
    guild: FakeGuild | None = None,
) -> Any:
    """Run `/twitter-admin COMMAND`; returns the bot's (ephemeral) answer."""
    world = admins.world
    interaction = await world.discord.slash_command(
        user, f"twitter-admin {command}", options or {}, guild=guild or world.guild
    )
    answer = await interaction.wait_response()
    await answered(interaction)
    assert answer.ephemeral
    return answer


async def audit_rows(services: Services) -> list[AuditEntry]:
    async with services.sessions() as session:
        return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def tweet(world: World, user: FakeUser, text: str, guild: FakeGuild | None = None) -> str:
    """/tweet then Post; returns what the member reads in the end."""
    command = await world.discord.slash_command(
        user, "tweet", {"text": text}, guild=guild or world.guild
    )
    preview = await preview_of(command)
    if not preview["components"]:
        return str(preview["content"])
    return await press(world, user, preview, "post")


async def test_members_without_rights_are_refused_every_admin_command(admins: Admins) -> None:
    """Discord would hide these commands; the bot refuses them even when they arrive anyway."""
    world, bob = admins.world, admins.world.bob
    refusals = {
        "unlink": (await admin(admins, bob, "unlink", {"member": world.alice})).content,
        "block": (await admin(admins, bob, "block", {"member": world.alice})).content,
        "unblock": (await admin(admins, bob, "unblock", {"member": world.alice})).content,
        "lookup": (await admin(admins, bob, "lookup", {"member": world.alice})).content,
        "settings": (await admin(admins, bob, "settings", {"tweeting": False})).content,
        "usage": (await admin(admins, bob, "usage")).content,
    }
    assert refusals.pop("unlink") == "Only the bot's operators can do that."
    assert set(refusals.values()) == {"You need the Manage Server permission for that."}
    manager_unlink = await admin(admins, admins.manager, "unlink", {"member": world.alice})
    assert manager_unlink.content == "Only the bot's operators can do that."

    assert await audit_rows(world.services) == []
    assert await world.services.links.get(world.alice.id) is not None
    assert (await world.services.policy.get(world.guild.id)).tweeting_enabled
    assert "Posted:" in await tweet(world, world.alice, "still allowed")


async def test_block_stops_tweets_in_that_server_only(
    admins: Admins, fake_twitter: FakeTwitter
) -> None:
    """A manager's block refuses Alice's /tweet here, not in another server; unblock lifts it."""
    world = admins.world
    answer = await admin(admins, admins.manager, "block", {"member": world.alice, "reason": "spam"})
    assert "can no longer post to X from this server" in answer.content

    assert "blocked you from posting" in await tweet(world, world.alice, "blocked here")
    assert "Posted:" in await tweet(world, world.alice, "fine there", admins.other_guild)
    assert [t.text for t in fake_twitter.tweets_by("alice_x")] == ["fine there"]

    await admin(admins, admins.manager, "unblock", {"member": world.alice})
    assert "Posted:" in await tweet(world, world.alice, "allowed again")
    actions = [
        (row.action, row.actor_id, row.target_id) for row in await audit_rows(world.services)
    ]
    assert actions == [
        ("block", admins.manager.id, world.alice.id),
        ("unblock", admins.manager.id, world.alice.id),
    ]


async def test_block_refuses_a_post_pressed_after_it(admins: Admins) -> None:
    """A block placed between preview and Post still stops the post."""
    world = admins.world
    command = await world.discord.slash_command(
        world.alice, "tweet", {"text": "sneaky"}, guild=world.guild
    )
    preview = await preview_of(command)
    await admin(admins, admins.manager, "block", {"member": world.alice})
    assert "blocked you" in await press(world, world.alice, preview, "post")
    async with world.services.sessions() as session:
        assert await session.scalar(select(GuildBlock.discord_user_id)) == world.alice.id


async def test_operator_unlinks_revokes_dms_and_audits(
    admins: Admins, fake_twitter: FakeTwitter
) -> None:
    """Unlink after confirming: link gone, token revoked at X, member told by DM, audit row."""
    world = admins.world
    question = await admin(
        admins, admins.operator, "unlink", {"member": world.alice, "reason": "compromised"}
    )
    assert "Unlink @alice_x" in question.content
    unlink_id = custom_ids(question.message)[0]
    click = await world.discord.click_button(admins.operator, question.message, unlink_id)
    await answered(click)
    outcome = (await click.wait_edit())["content"]

    assert "Unlinked @alice_x" in outcome
    assert "X revoked the token too" in outcome
    assert "told by DM" in outcome
    assert await world.services.links.get(world.alice.id) is None
    assert len(fake_twitter.invalidated_tokens) == 1
    [dm] = world.discord.dm_messages(world.alice)
    assert "@alice_x" in dm["content"]
    assert "compromised" in dm["content"]
    [row] = await audit_rows(world.services)
    assert (row.actor_id, row.action, row.target_id, row.reason) == (
        admins.operator.id,
        "unlink",
        world.alice.id,
        "compromised",
    )


async def test_application_owner_is_an_operator(admins: Admins) -> None:
    """The application's owner may unlink without being in ADMIN_USER_IDS."""
    world = admins.world
    question = await admin(admins, world.discord.owner, "unlink", {"member": world.bob})
    assert "Unlink @bob_x" in question.content


async def test_policy_refusals_each_say_why(admins: Admins, fake_twitter: FakeTwitter) -> None:
    """Tweeting off, a missing required role and a reached cap each refuse with a reason."""
    world, manager = admins.world, admins.manager
    await admin(admins, manager, "settings", {"tweeting": False})
    assert await tweet(world, world.alice, "one") == "Posting to X is turned off in this server."

    role = world.guild.add_role("Poster")
    await admin(admins, manager, "settings", {"tweeting": True, "required_role": role})
    assert "only members with a certain role" in await tweet(world, world.alice, "two")

    await admin(admins, manager, "settings", {"clear_required_role": True, "daily_cap": 1})
    assert "Posted:" in await tweet(world, world.alice, "three")
    assert "This server has reached the limit of 1 tweets" in await tweet(world, world.bob, "four")
    assert [t.text for t in fake_twitter.tweets] == ["three"]


async def test_settings_show_the_rules_and_changes_are_audited(admins: Admins) -> None:
    """Without options the rules are shown; with options they change and the change is audited."""
    world = admins.world
    shown = (await admin(admins, admins.manager, "settings")).content
    assert "Tweeting: on" in shown
    assert "Tweets per day for this server: 100 (default)" in shown

    channel = world.guild.channels[-1]
    changed = await admin(
        admins,
        admins.manager,
        "settings",
        {"member_daily_cap": 3, "announce_channel": channel},
    )
    assert "Tweets per day per member: 3" in changed.content
    assert f"Announcement channel: <#{channel.id}>" in changed.content
    [row] = await audit_rows(world.services)
    assert (row.action, row.guild_id, row.actor_id) == (
        "settings",
        world.guild.id,
        admins.manager.id,
    )


async def test_posted_tweets_are_announced(admins: Admins, fake_twitter: FakeTwitter) -> None:
    """With an announcement channel set, each posted tweet's URL is announced there."""
    world = admins.world
    channel = world.guild.channels[-1]
    await admin(admins, admins.manager, "settings", {"announce_channel": channel})
    outcome = await tweet(world, world.alice, "announce me")
    url = outcome.removeprefix("Posted: ")
    announcement = await world.discord.wait_message(channel)
    assert announcement["content"] == f"<@{world.alice.id}> posted to X: {url}"


async def test_usage_matches_the_recorded_tweets(admins: Admins) -> None:
    """Managers see their server's posts and cost; operators see everywhere too."""
    world = admins.world
    await seed_ledger(world.services, world.guild.id, admins.other_guild.id)

    manager_view = (await admin(admins, admins.manager, "usage")).content
    assert manager_view == (
        "This server:\n"
        "Last 24 hours: 3 posts (1 with a link), about $0.230\n"
        "Last 7 days: 4 posts (2 with a link), about $0.430\n"
        "Last 30 days: 5 posts (2 with a link), about $0.445"
    )
    operator_view = (await admin(admins, admins.operator, "usage")).content
    assert operator_view.startswith(manager_view)
    assert "Everywhere:\nLast 24 hours: 4 posts (2 with a link), about $0.430" in operator_view


async def test_lookup_scopes_numbers_to_the_managers_server(admins: Admins) -> None:
    """Lookup shows link and health, tweets (server-scoped for managers) and the audit trail."""
    world = admins.world
    await tweet(world, world.alice, "here")
    await tweet(world, world.alice, "there", admins.other_guild)
    await admin(admins, admins.manager, "block", {"member": world.alice, "reason": "noisy"})

    seen_by_manager = (
        await admin(admins, admins.manager, "lookup", {"member": world.alice})
    ).content
    assert "Linked as @alice_x" in seen_by_manager
    assert "Tweets in this server: 1 in the last 24 hours, 1 in 30 days." in seen_by_manager
    assert "Blocked from posting in this server." in seen_by_manager
    assert f"block by <@{admins.manager.id}> (noisy)" in seen_by_manager

    seen_by_operator = (
        await admin(admins, admins.operator, "lookup", {"member": world.alice})
    ).content
    assert "Tweets everywhere: 2 in the last 24 hours, 2 in 30 days." in seen_by_operator


async def test_lookup_lists_recent_tweets_and_shows_deleted_ones_as_deleted(
    admins: Admins, fake_twitter: FakeTwitter
) -> None:
    world = admins.world
    kept = (await tweet(world, world.alice, "kept")).removeprefix("Posted: ")
    taken_back = (await tweet(world, world.alice, "taken back")).removeprefix("Posted: ")
    await world.services.tweets.delete(taken_back.rpartition("/")[2], world.alice.id)

    seen = (await admin(admins, admins.manager, "lookup", {"member": world.alice})).content

    lines = seen.splitlines()
    [deleted] = [line for line in lines if taken_back in line]
    assert re.search(r"\(deleted <t:\d+:R>\)$", deleted)
    [still_there] = [line for line in lines if kept in line]
    assert "deleted" not in still_there
    assert "Tweets in this server: 2 in the last 24 hours" in seen  # X billed both
