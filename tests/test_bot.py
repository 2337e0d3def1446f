"""The Discord half of linking end to end: the real bot on the fake Discord, our pages, fake X."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import update

from bot.exts.linking import ENTER_CODE_ID, REPLACE_LINK_ID
from core.clock import utcnow
from core.models import LinkIntent
from tests.fakes.discord import FakeDiscord, FakeGuild, ResponseType
from tests.fakes.twitter import FakeTwitter
from tests.support.discord_bot import (
    World,
    answered,
    custom_ids,
    enter_code,
    is_ephemeral,
    link,
    link_button_url,
    run_link_twitter,
    running_bot,
    unlink_with_buttons,
)
from tests.support.member_browser import MemberBrowser
from tweetlink.services import Services

# The bot is the same on every database; the database tests cover PostgreSQL.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_commands_are_synced_once_at_start(world: World) -> None:
    """The three commands are synced globally when the bot starts."""
    names = {command["name"] for command in world.discord.synced_commands()}
    assert {"link-twitter", "twitter-account", "unlink-twitter"} <= names
    puts = [r for r in world.discord.requests if r.method == "PUT" and "commands" in r.path]
    assert len(puts) == 1


async def test_the_bot_runs_the_shards_discord_recommends(
    services: Services, web_server: str, fake_discord: FakeDiscord
) -> None:
    """Two shards recommended: the bot connects both, and each answers its own servers."""
    fake_discord.shard_count = 2
    alice = fake_discord.add_user("alice")
    by_shard: dict[int, FakeGuild] = {}
    while len(by_shard) < 2:  # guild ids are random snowflakes; Discord shards by id
        guild = fake_discord.add_guild(f"Server {len(fake_discord.guilds)}")
        guild.add_member(alice)
        by_shard.setdefault((guild.id >> 22) % 2, guild)
    async with running_bot(services, fake_discord):
        assert sorted(tuple(i["shard"]) for i in fake_discord.identifies) == [(0, 2), (1, 2)]
        for guild in by_shard.values():
            command = await fake_discord.slash_command(alice, "twitter-account", guild=guild)
            answer = await command.wait_response()
            assert "No X account is linked" in (answer.content or "")


async def test_link_twitter_end_to_end(world: World) -> None:
    """DM with the link, authorize on X, the code from our page typed in Discord: linked."""
    dm = await run_link_twitter(world, world.alice)
    assert custom_ids(dm) == [ENTER_CODE_ID]
    url = link_button_url(dm)
    assert url.startswith(f"{world.services.settings.public_url}/link/")

    page = await world.browser.authorize(url, username="alice_x")
    assert "alice" in page.html  # the Discord user who started it

    answer = await enter_code(world, world.alice, dm, page.code)

    assert answer == "Linked as @alice_x."
    link = await world.services.links.get(world.alice.id)
    assert link is not None
    assert link.screen_name == "alice_x"


async def test_closed_dms_put_the_link_in_the_ephemeral_reply(world: World) -> None:
    """When the DM is refused (50007), the ephemeral reply carries the link and says why."""
    world.discord.refuse_dms(world.alice)
    command = await world.discord.slash_command(world.alice, "link-twitter", guild=world.guild)
    await answered(command)
    reply = await command.wait_followup()
    assert is_ephemeral(reply)
    assert "could not DM you" in reply["content"]
    assert custom_ids(reply) == [ENTER_CODE_ID]
    assert world.discord.dm_messages(world.alice) == []

    page = await world.browser.authorize(link_button_url(reply), username="alice_x")
    assert await enter_code(world, world.alice, reply, page.code) == "Linked as @alice_x."


async def test_a_forwarded_link_never_links_the_sender_to_the_receivers_account(
    world: World,
) -> None:
    """A forwards their link to B, who authorizes as B: A cannot finish; B's code links nothing."""
    dm = await run_link_twitter(world, world.alice)
    page_seen_by_bob = await world.browser.authorize(link_button_url(dm), username="bob_x")
    code = page_seen_by_bob.code

    attempts = world.services.settings.confirmation_code_attempts
    for guess in range(attempts - 1):
        answer = await enter_code(world, world.alice, dm, f"{guess:06d}")
        assert "not right" in answer
        assert f"{attempts - 1 - guess} attempt" in answer

    bob_answer = await enter_code(world, world.bob, dm, code)
    assert "no link waiting" in bob_answer
    assert await world.services.links.get(world.bob.id) is None

    last_guess = await enter_code(world, world.alice, dm, "999999" if code != "999999" else "0")
    assert "Too many wrong codes" in last_guess
    assert "Too many wrong codes" in await enter_code(world, world.alice, dm, code)
    assert await world.services.links.get(world.alice.id) is None


async def test_wrong_expired_and_replayed_codes_are_explained(world: World) -> None:
    """A wrong code counts down, a replayed one says it is done, an expired one says so."""
    dm = await run_link_twitter(world, world.alice)
    page = await world.browser.authorize(link_button_url(dm), username="alice_x")
    wrong = f"{(int(page.code) + 1) % 1_000_000:06d}"
    assert await enter_code(world, world.alice, dm, wrong) == (
        "That code is not right. 4 attempts left."
    )
    assert "6 digits" in await enter_code(world, world.alice, dm, "12 ab 5")
    assert await enter_code(world, world.alice, dm, page.code) == "Linked as @alice_x."
    assert "already complete" in await enter_code(world, world.alice, dm, page.code)

    dm = await run_link_twitter(world, world.bob)
    page = await world.browser.authorize(link_button_url(dm), username="bob_x")
    async with world.services.sessions.begin() as session:
        await session.execute(
            update(LinkIntent)
            .where(LinkIntent.discord_user_id == world.bob.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    answer = await enter_code(world, world.bob, dm, page.code)
    assert "expired" in answer
    assert "/link-twitter" in answer


async def test_enter_code_works_after_a_restart(
    services: Services, web_server: str, fake_discord: FakeDiscord
) -> None:
    """The bot restarts between /link-twitter and Enter code; the old DM's button still works."""
    guild = fake_discord.add_guild("Community")
    alice = fake_discord.add_user("alice")
    guild.add_member(alice)
    async with running_bot(services, fake_discord) as bot, aiohttp.ClientSession() as http:
        world = World(fake_discord, guild, alice, alice, bot, MemberBrowser(http), services)
        dm = await run_link_twitter(world, alice)
        page = await world.browser.authorize(link_button_url(dm), username="alice_x")

    async with running_bot(services, fake_discord) as restarted, aiohttp.ClientSession() as http:
        world = World(fake_discord, guild, alice, alice, restarted, MemberBrowser(http), services)
        assert await enter_code(world, alice, dm, page.code) == "Linked as @alice_x."


async def test_an_x_account_moving_between_members_is_said_aloud(world: World) -> None:
    """Bob proves the X account Alice had linked: his answer says it moved, Alice hears by DM,
    and the audit log keeps the move."""
    await link(world, world.alice, "shared_x")
    dm = await run_link_twitter(world, world.bob)
    page = await world.browser.authorize(link_button_url(dm), username="shared_x")
    answer = await enter_code(world, world.bob, dm, page.code)
    assert answer.startswith("Linked as @shared_x.")
    assert "linked to another Discord user until now" in answer
    told = await world.discord.wait_dm(world.alice)
    assert "@shared_x" in told["content"]
    assert "moved to another Discord account" in told["content"]
    [entry] = await world.services.audit.recent(target_id=world.alice.id)
    assert (entry.action, entry.actor_id) == ("move", world.bob.id)


async def test_already_linked_member_is_offered_a_replacement(world: World) -> None:
    """/link-twitter when linked names the handle; the button starts a new flow by DM."""
    dm = await run_link_twitter(world, world.alice)
    page = await world.browser.authorize(link_button_url(dm), username="alice_x")
    await enter_code(world, world.alice, dm, page.code)

    command = await world.discord.slash_command(world.alice, "link-twitter", guild=world.guild)
    offer = await command.wait_response()
    await answered(command)
    assert offer.ephemeral
    assert "linked as @alice_x" in (offer.content or "")
    assert offer.message is not None
    assert custom_ids(offer.message) == [REPLACE_LINK_ID]

    click = await world.discord.click_button(world.alice, offer.message, REPLACE_LINK_ID)
    await answered(click)
    new_dm = await world.discord.wait_dm(world.alice)
    page = await world.browser.authorize(link_button_url(new_dm), username="alice_new")
    assert await enter_code(world, world.alice, new_dm, page.code) == "Linked as @alice_new."


async def test_twitter_account_shows_the_link(world: World) -> None:
    """/twitter-account says 'not linked', then the handle, since when and that it works."""
    before = await world.discord.slash_command(world.alice, "twitter-account", guild=world.guild)
    answer = await before.wait_response()
    await answered(before)
    assert answer.ephemeral
    assert "No X account is linked" in (answer.content or "")

    dm = await run_link_twitter(world, world.alice)
    page = await world.browser.authorize(link_button_url(dm), username="alice_x")
    await enter_code(world, world.alice, dm, page.code)

    after = await world.discord.slash_command(world.alice, "twitter-account", guild=world.guild)
    answer = await after.wait_response()
    assert answer.ephemeral
    assert "Linked as @alice_x since <t:" in (answer.content or "")
    assert "working" in (answer.content or "")


async def test_unlink_twitter_revokes_and_deletes(world: World, fake_twitter: FakeTwitter) -> None:
    """Confirming /unlink-twitter revokes the token at X and removes the link."""
    await link(world, world.alice, "alice_x")
    message = await unlink_with_buttons(world, world.alice)
    assert message == "Unlinked @alice_x. X has revoked the bot's access too."
    assert len(fake_twitter.invalidated_tokens) == 1
    assert await world.services.links.get(world.alice.id) is None


async def test_unlink_twitter_when_x_is_down_deletes_here(
    world: World, fake_twitter: FakeTwitter
) -> None:
    """With X down, the link is deleted here and the member is told to revoke at X."""
    await link(world, world.alice, "alice_x")
    fake_twitter.unavailable = True
    message = await unlink_with_buttons(world, world.alice)
    assert "deleted here but not revoked at X" in message
    assert await world.services.links.get(world.alice.id) is None


async def test_unlink_can_be_cancelled(world: World) -> None:
    """Cancel keeps the link."""
    await link(world, world.alice, "alice_x")
    command = await world.discord.slash_command(world.alice, "unlink-twitter", guild=world.guild)
    question = await command.wait_response()
    assert question.message is not None
    cancel_id = custom_ids(question.message)[1]
    click = await world.discord.click_button(world.alice, question.message, cancel_id)
    update_ = await click.wait_response()
    assert update_.type == ResponseType.UPDATE_MESSAGE
    assert update_.content == "Kept your link."
    assert await world.services.links.get(world.alice.id) is not None


async def test_unexpected_errors_give_an_error_id_and_are_logged_once(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug answers with an apology and an id, and logs the traceback once under that id."""

    async def broken(discord_user_id: int) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(world.services.links, "get", broken)
    caplog.set_level(logging.ERROR)
    command = await world.discord.slash_command(world.alice, "twitter-account", guild=world.guild)
    answer = await command.wait_response()
    content = answer.content or ""
    assert answer.ephemeral
    assert "Something went wrong" in content
    assert "database on fire" not in content
    error_id = content.rsplit(" ", 1)[1].rstrip(".")
    logged = [record for record in caplog.records if error_id in record.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None


async def test_dev_guild_syncs_commands_to_that_server_only(
    services: Services, fake_discord: FakeDiscord
) -> None:
    """With DEV_GUILD_ID set, the commands are synced to that server and not globally."""
    guild = fake_discord.add_guild("Dev")
    dev_services = replace(
        services, settings=services.settings.model_copy(update={"dev_guild_id": guild.id})
    )
    async with running_bot(dev_services, fake_discord):
        names = {command["name"] for command in fake_discord.synced_commands(guild)}
        assert "link-twitter" in names
        assert fake_discord.synced_commands() == []
